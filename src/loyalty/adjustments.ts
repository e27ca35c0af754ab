// Manual adjustments by an operator: one ledger entry under an idempotency key, taken
// into the lots at once (a credit with expiresAt is a lot that burns then).
import type { Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { type LedgerEntryRow, postLedgerEntry } from "./ledger.ts";
import { syncLots } from "./lots.ts";

export interface Adjustment {
  customerId: string;
  points: number;
  reason: string;
  key: string;
  expiresAt: Date | null;
}

export async function adjustPoints(sql: Sql, tenantId: string, a: Adjustment): Promise<LedgerEntryRow> {
  if (a.points === 0) throw errors.validation("Корректировка на 0 баллов ничего не меняет.", "points");
  if (a.expiresAt && a.points < 0) throw errors.validation("Срок сгорания — только у начисления.", "expiresAt");
  if (a.expiresAt && a.expiresAt.getTime() <= Date.now()) throw errors.validation("Срок сгорания должен быть в будущем.", "expiresAt");
  return sql.begin(async (tx) => {
    const t = tx as unknown as Sql;
    const [customer] = await t<{ balance: number }[]>`
      select balance from customer where tenant_id = ${tenantId} and id = ${a.customerId}::uuid for update`;
    if (!customer) throw errors.customerNotFound("id");
    const repeat = await t`select 1 from ledger_entry where tenant_id = ${tenantId} and idempotency_key = ${a.key}`;
    // Balances go below zero only through facts from the till (sales, returns), never by hand.
    if (repeat.length === 0 && a.points < 0 && customer.balance + a.points < 0) {
      throw errors.conflict(`Недостаточно баллов: на балансе ${customer.balance}.`, "points");
    }
    const { entry } = await postLedgerEntry(t, tenantId, {
      customerId: a.customerId,
      kind: "adjustment",
      points: a.points,
      reason: a.reason,
      idempotencyKey: a.key,
      expiresAt: a.expiresAt,
    });
    if (entry.customer_id !== a.customerId || entry.points !== a.points || entry.reason !== a.reason) {
      throw errors.conflict("Этот Idempotency-Key уже использован для другой корректировки.", "Idempotency-Key");
    }
    await syncLots(t, tenantId, a.customerId);
    return entry;
  });
}
