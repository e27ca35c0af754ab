// Completed sales and returns: POST /retaildemand and POST /retailsalesreturn.
import { Elysia } from "elysia";
import type { AppDeps } from "../deps.ts";
import { errors } from "../errors.ts";
import { customerRef, hasRef } from "../loyalty/customers.ts";
import { type DocumentLine, documentKey, type Stored, storeReturn, storeSale } from "../loyalty/documents.ts";
import { earnedPoints } from "../loyalty/engine.ts";
import { lineSumKopecks, parseKopecks, parseMilli } from "../loyalty/money.ts";
import type { ProgramRules } from "../loyalty/engine.ts";
import { moyskladAuth, moyskladSecurity } from "./auth.ts";
import { DocumentAccepted, DocumentPosition, ErrorBody, RetailDemand, RetailSalesReturn } from "./models.ts";

type Position = typeof DocumentPosition.static;

function kopecks(value: number | null | undefined, parameter: string, what: string): number {
  const k = value == null ? 0 : parseKopecks(value);
  if (k === null) throw errors.validation(`${what}: рубли, не более 2 знаков после запятой.`, parameter);
  return k;
}

export function documentLines(positions: readonly Position[]): DocumentLine[] {
  return positions.map((p, i) => {
    const priceKopecks = kopecks(p.price, `positions[${i}].price`, `Цена в позиции ${i + 1}`);
    const discountedKopecks =
      p.discountedPrice == null ? priceKopecks : kopecks(p.discountedPrice, `positions[${i}].discountedPrice`, `Цена со скидкой в позиции ${i + 1}`);
    const quantityMilli = parseMilli(p.quantity);
    if (quantityMilli === null || quantityMilli <= 0) {
      throw errors.validation(`Количество в позиции ${i + 1}: больше нуля, не более 3 знаков после запятой.`, `positions[${i}].quantity`);
    }
    if (discountedKopecks > priceKopecks) {
      throw errors.validation(`Цена со скидкой в позиции ${i + 1} больше цены.`, `positions[${i}].discountedPrice`);
    }
    return { assortmentId: p.assortment.meta.id ?? p.assortment.meta.href ?? "", quantityMilli, priceKopecks, discountedKopecks };
  });
}

export interface DocumentSums {
  /** Σ line sums at full price. */
  fullKopecks: number;
  /** Σ line sums at the prices paid. */
  totalKopecks: number;
  /** The same over goods that take part in the program. */
  eligibleKopecks: number;
  /** Full-price sum of goods that take part in the program. */
  eligibleFullKopecks: number;
}

export function documentSums(lines: readonly DocumentLine[], rules: ProgramRules): DocumentSums {
  let fullKopecks = 0;
  let totalKopecks = 0;
  let eligibleKopecks = 0;
  let eligibleFullKopecks = 0;
  for (const l of lines) {
    const full = lineSumKopecks(l.priceKopecks, l.quantityMilli);
    const paid = lineSumKopecks(l.discountedKopecks, l.quantityMilli);
    fullKopecks += full;
    totalKopecks += paid;
    if (!rules.excludedAssortmentIds.has(l.assortmentId)) {
      eligibleKopecks += paid;
      eligibleFullKopecks += full;
    }
  }
  return { fullKopecks, totalKopecks, eligibleKopecks, eligibleFullKopecks };
}

// Cash registers may round the amount due down to the rouble in the customer's favour.
const PAYMENT_ROUNDING_KOPECKS = 99;

function checkPayments(totalKopecks: number, payments: number | null): void {
  if (payments === null) return;
  if (payments > totalKopecks || totalKopecks - payments > PAYMENT_ROUNDING_KOPECKS) {
    throw errors.validation(
      `Оплата (${(payments / 100).toFixed(2)}) не сходится с суммой позиций по ценам со скидкой (${(totalKopecks / 100).toFixed(2)}).`,
      "cashSum",
    );
  }
}

function points(value: number | null | undefined, parameter: string): number | null {
  if (value == null) return null;
  if (!Number.isInteger(value)) throw errors.validation("Баллы — целое число.", parameter);
  return value;
}

type DocumentBody = {
  retailStore?: { meta?: { id?: string; href?: string } };
  meta?: { id?: string; href?: string };
  name?: string | null;
  moment?: string | null;
  cashSum?: number | null;
  noCashSum?: number | null;
  giftCards?: { paymentSum: number }[];
};

/** What names a sale or a return, and where and when it happened. */
function documentHeader(body: DocumentBody) {
  const retailStoreId = body.retailStore?.meta?.id ?? body.retailStore?.meta?.href ?? null;
  const name = body.name ?? null;
  const moment = body.moment ?? null;
  return { externalKey: documentKey(body.meta, { retailStoreId, name, moment }), name, moment, retailStoreId };
}

/** Money paid (cash, card, certificates) in kopecks; null when the POS sent no payments. */
function payments(body: DocumentBody): number | null {
  const hasPayments = body.cashSum != null || body.noCashSum != null || (body.giftCards?.length ?? 0) > 0;
  if (!hasPayments) return null;
  return (
    kopecks(body.cashSum, "cashSum", "Наличные") +
    kopecks(body.noCashSum, "noCashSum", "Безналичные") +
    (body.giftCards ?? []).reduce((sum, g) => sum + g.paymentSum, 0)
  );
}

/** Stored: hand it to settlement (a Redis failure only delays it; see the sweeper) and answer. */
async function accepted(deps: AppDeps, tenantId: string, stored: Stored): Promise<{ id: string }> {
  if (stored.spendPosted) deps.queues?.metrics.ledger([{ kind: "spend", points: -stored.spendPosted }]);
  if (stored.needsSettlement) await deps.queues?.enqueueSettlement([{ tenantId, documentId: stored.documentId }]);
  return { id: stored.documentId };
}

const detail = (summary: string, description: string) => ({ tags: ["МойСклад: чеки"], summary, description, security: moyskladSecurity });

export const documentsController = (deps: AppDeps) =>
  new Elysia()
    .use(moyskladAuth(deps.tenants))
    .post(
      "/retaildemand",
      async ({ body, tenant, set }) => {
        const rules = tenant.program.rules;
        const lines = documentLines(body.positions);
        const sums = documentSums(lines, rules);
        const spent = points(body.bonusProgram?.bonusValueToSpend, "bonusProgram.bonusValueToSpend") ?? 0;
        const earnReported = points(body.bonusProgram?.bonusValueToEarn, "bonusProgram.bonusValueToEarn");
        const paidByPoints = spent * rules.spendRateKopecks;
        if (paidByPoints > sums.fullKopecks) {
          throw errors.validation("Баллами оплачено больше суммы чека.", "bonusProgram.bonusValueToSpend");
        }
        if (paidByPoints > sums.fullKopecks - sums.totalKopecks) {
          throw errors.validation("Оплата баллами не отражена в ценах со скидкой: позиции не сходятся.", "positions");
        }
        checkPayments(sums.totalKopecks, payments(body));
        const agent = body.agent ?? null;
        const ref = agent ? customerRef(agent) : null;
        const stored = await storeSale(deps.sql, tenant.id, {
          ...documentHeader(body),
          customer: ref && hasRef(ref) ? ref : null,
          totalKopecks: sums.totalKopecks,
          eligibleKopecks: sums.eligibleKopecks,
          fullKopecks: sums.fullKopecks,
          eligibleFullKopecks: sums.eligibleFullKopecks,
          pointsSpent: spent,
          pointsEarned: earnedPoints(rules, sums.eligibleKopecks, spent),
          pointsEarnReported: earnReported,
          accrualDelayDays: tenant.program.settings.accrualDelayDays,
          body,
        });
        set.status = 201;
        return accepted(deps, tenant.id, stored);
      },
      {
        body: RetailDemand,
        response: { 201: DocumentAccepted, 400: ErrorBody, 401: ErrorBody },
        detail: detail(
          "Продажа завершена",
          "Сохраняет продажу (повторная доставка того же чека ничего не меняет) и сразу списывает потраченные баллы; начисление проводит обработчик очереди.",
        ),
      },
    )
    .post(
      "/retailsalesreturn",
      async ({ body, tenant, set }) => {
        const lines = documentLines(body.positions);
        const sums = documentSums(lines, tenant.program.rules);
        checkPayments(sums.totalKopecks, payments(body));
        const header = documentHeader(body);
        const saleMeta = body.demand?.meta;
        const saleKey = saleMeta && (saleMeta.id?.trim() || saleMeta.href?.trim()) ? documentKey(saleMeta, header) : null;
        const stored = await storeReturn(deps.sql, tenant.id, {
          ...header,
          saleKey,
          totalKopecks: sums.totalKopecks,
          eligibleKopecks: sums.eligibleKopecks,
          fullKopecks: sums.fullKopecks,
          eligibleFullKopecks: sums.eligibleFullKopecks,
          body,
        });
        set.status = 201;
        return accepted(deps, tenant.id, stored);
      },
      {
        body: RetailSalesReturn,
        response: { 201: DocumentAccepted, 400: ErrorBody, 401: ErrorBody },
        detail: detail(
          "Возврат",
          "Сохраняет возврат; по связанной продаже обработчик вернёт потраченные и заберёт начисленные баллы пропорционально возвращённым деньгам.",
        ),
      },
    );
