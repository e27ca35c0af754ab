// Manual adjustments by an operator: one ledger entry under an idempotency key, taken
// into the lots at once (a credit with expiresAt is a lot that burns then).
import type { Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { asUuid } from "./customers.ts";
import { type LedgerEntryRow, postLedgerEntry } from "./ledger.ts";
import { syncLots } from "./lots.ts";

export interface Adjustment {
  customerId: string;
  points: number;
  reason: string;
  key: string;
  expiresAt: Date | null;
}

/**
 * An operator's manual change of points. The rule: taking points away may not bring the
 * balance below zero (balances go negative only through facts from the till), while
 * giving points is always allowed — that is how an operator repairs a negative balance,
 * wholly or in part. A repeated key returns the first entry; the same key with other
 * content is refused.
 */
export async function adjustPoints(sql: Sql, tenantId: string, a: Adjustment): Promise<LedgerEntryRow> {
  if (a.points === 0) throw errors.validation("Корректировка на 0 баллов ничего не меняет.", "points");
  if (a.expiresAt && a.points < 0) throw errors.validation("Срок сгорания — только у начисления.", "expiresAt");
  if (a.expiresAt && a.expiresAt.getTime() <= Date.now()) throw errors.validation("Срок сгорания должен быть в будущем.", "expiresAt");
  const reason = a.reason.trim();
  if (!reason) throw errors.validation("Укажите причину корректировки.", "reason");
  // Postgres prints uuids in lower case: compare in the form the ledger will answer with.
  const customerId = asUuid(a.customerId);
  if (!customerId) throw errors.customerNotFound("id");
  return sql.begin(async (tx) => {
    const [customer] = await tx<{ balance: number; erased_at: Date | null }[]>`
      select balance, erased_at from customer where tenant_id = ${tenantId} and id = ${customerId}::uuid for update`;
    if (!customer) throw errors.customerNotFound("id");
    const { entry, inserted } = await postLedgerEntry(tx, tenantId, {
      customerId,
      kind: "adjustment",
      points: a.points,
      reason,
      idempotencyKey: a.key,
      expiresAt: a.expiresAt,
    });
    if (!inserted) {
      if (entry.customer_id !== customerId || entry.points !== a.points || entry.reason !== reason) {
        throw errors.conflict(
          `Этот Idempotency-Key уже использован для другой корректировки (${entry.points > 0 ? "+" : ""}${entry.points} баллов, ${entry.created_at.toISOString()}).`,
          "Idempotency-Key",
        );
      }
      return entry;
    }
    if (customer.erased_at) throw errors.conflict("Данные покупателя удалены: баллы больше не меняются.", "id");
    // Balances go below zero only through facts from the till (sales, returns), never by
    // hand; crediting a negative balance, even partly, is always allowed.
    if (a.points < 0 && customer.balance + a.points < 0) {
      // Thrown after the insert: the transaction rolls it back with this answer.
      throw errors.conflict(
        customer.balance <= 0
          ? `Списать нельзя: баланс ${customer.balance}. Начислить можно.`
          : `Недостаточно баллов: на балансе ${customer.balance}, списать можно не больше ${customer.balance}.`,
        "points",
      );
    }
    await syncLots(tx, tenantId, customerId);
    return entry;
  });
}
