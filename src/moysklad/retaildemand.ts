import { Elysia } from "elysia";
import type { AppDeps } from "../deps.ts";
import { ErrorBody, errors } from "../errors.ts";
import { customerRef, hasRef, resolveCustomer } from "../loyalty/customers.ts";
import { MAX_RECEIPT_KOPECKS, type ReceiptLine } from "../loyalty/engine.ts";
import { quoteReceipt } from "../loyalty/points.ts";
import { kopecksToRoubles, lineSumKopecks, parseKopecks, parseMilli } from "../loyalty/money.ts";
import { moyskladAuth, moyskladSecurity } from "./auth.ts";
import { RecalcRequest, RecalcResponse, RetailDemandVerify, VerificationCode } from "./models.ts";
import { sendCode } from "./verification.ts";

type RecalcBody = typeof RecalcRequest.static;
type Position = RecalcBody["positions"][number];
type Serial = NonNullable<Position["sn"]>[number];

/**
 * Protocol numbers → integer kopecks and thousandths, with the cashier told which field is
 * wrong. Each price and quantity is in range on its own, but their products can add up past
 * what the engine computes (1,000,000 × 100,000,000 ₽ is 10^16 kopecks): such a receipt is
 * refused in words, not left to overflow.
 */
export function receiptLines(positions: readonly Position[]): ReceiptLine<Serial>[] {
  let total = 0;
  const lines = positions.map((p, i) => {
    const priceKopecks = parseKopecks(p.price);
    if (priceKopecks === null) {
      throw errors.validation(`Цена в позиции ${i + 1} должна быть в рублях с не более чем 2 знаками после запятой.`, `positions[${i}].price`);
    }
    const quantityMilli = parseMilli(p.quantity);
    if (quantityMilli === null || quantityMilli <= 0) {
      throw errors.validation(`Количество в позиции ${i + 1} должно быть больше нуля, не более 3 знаков после запятой.`, `positions[${i}].quantity`);
    }
    // A product past 2^53 is a line sum past 9·10^12 kopecks: over the limit either way.
    total += Number.isSafeInteger(priceKopecks * quantityMilli) ? lineSumKopecks(priceKopecks, quantityMilli) : Infinity;
    const assortmentId = p.assortment.meta.id ?? p.assortment.meta.href ?? "";
    return { assortmentId, priceKopecks, quantityMilli, serials: p.sn };
  });
  if (total > MAX_RECEIPT_KOPECKS) {
    throw errors.validation(`Сумма чека больше ${MAX_RECEIPT_KOPECKS / 100} ₽: такой чек не рассчитать.`, "positions");
  }
  return lines;
}

function preferredSpend(value: number | null | undefined): number | null {
  if (value == null) return null;
  if (!Number.isInteger(value)) {
    throw errors.validation("Количество баллов к списанию должно быть целым числом.", "preferredBonusToSpend");
  }
  return value;
}

const detail = (summary: string, description?: string) => ({
  tags: ["МойСклад: чеки"],
  summary,
  description,
  security: moyskladSecurity,
});

export const retailDemandController = (deps: AppDeps) =>
  new Elysia({ prefix: "/retaildemand" })
    .use(moyskladAuth(deps.tenants))
    .post(
      "/recalc",
      async ({ body, tenant }) => {
        const lines = receiptLines(body.positions);
        const preferred = preferredSpend(body.preferredBonusToSpend);
        const ref = customerRef(body.agent);
        if (!hasRef(ref)) throw errors.validation("Не указан покупатель.", "agent");
        const customer = await resolveCustomer(deps.sql, tenant.id, ref);
        if (!customer) throw errors.customerNotFound("agent");
        const transactionType = body.bonusProgram?.transactionType ?? "EARNING";
        const r = quoteReceipt(tenant.program, tenant.promotions, customer, {
          lines,
          transactionType,
          preferredSpend: preferred,
          moment: new Date(),
        });
        const positions = r.parts.map((part) => {
          const source = body.positions[part.lineIndex]!;
          const out: Record<string, unknown> = {
            ...source,
            quantity: part.quantityMilli / 1000,
            discountPercent: part.discountPercentHundredths / 100,
            discountedPrice: kopecksToRoubles(part.discountedPriceKopecks),
          };
          if (part.serials) out.sn = part.serials;
          return out as (typeof RecalcResponse.static)["positions"][number];
        });
        return {
          agent: body.agent,
          positions,
          bonusProgram: {
            transactionType,
            agentBonusBalance: r.balanceBefore,
            bonusValueToSpend: r.spend,
            bonusValueToEarn: r.earn,
            agentBonusBalanceAfter: r.balanceAfter,
            paidByBonusPoints: kopecksToRoubles(r.paidByPointsKopecks),
            receiptExtraInfo: r.receiptText,
          },
          needVerification: r.needVerification,
        };
      },
      {
        body: RecalcRequest,
        response: { 200: RecalcResponse, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody },
        detail: detail(
          "Рассчитать чек",
          "Возвращает чек со скидкой за баллы и сколько баллов будет списано и начислено. Ничего не меняет.",
        ),
      },
    )
    .post(
      "/verify",
      async ({ body, tenant }) => {
        const ref = customerRef({ meta: { id: body.counterpartyId ?? null }, phone: body.phone ?? null });
        if (!hasRef(ref)) throw errors.validation("Не указан покупатель.", "counterpartyId");
        const customer = await resolveCustomer(deps.sql, tenant.id, ref);
        if (!customer) throw errors.customerNotFound("counterpartyId");
        // The code goes to the phone on record, never to one the till names: a spend is
        // confirmed by the owner of the points.
        if (!customer.phone) throw errors.validation("У покупателя не указан телефон: код отправить некуда.", "phone");
        return sendCode(deps, tenant, "spend", customer.phone, customer.id);
      },
      {
        body: RetailDemandVerify,
        response: { 200: VerificationCode, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody, 503: ErrorBody },
        detail: detail(
          "Код подтверждения списания",
          "Отправляет SMS с кодом на телефон покупателя и возвращает код кассе для сверки.",
        ),
      },
    );
