// Referrals: a friend who joins through a customer's invite link and whose first sale
// settles gets the program's `referredPoints`, and the inviter gets `referrerPoints`.
// Decided once per friend, at the settlement of the friend's first sale, in the
// settlement's own transaction; both entries carry idempotency keys.
import type { Queryable } from "../db/client.ts";
import { postLedgerEntry } from "../loyalty/ledger.ts";
import { ledgerKey } from "../loyalty/ledger-keys.ts";
import type { ProgramSettings } from "../loyalty/program.ts";

/**
 * Records that `referredId` joined through the invite code `code`. Nothing happens for an
 * unknown code or the customer's own (same customer or same phone). Returns the inviter's id.
 */
export async function attachReferral(tx: Queryable, tenantId: string, referredId: string, code: string | null): Promise<string | null> {
  if (!code || !/^[A-Za-z0-9]{6,32}$/.test(code)) return null;
  const [row] = await tx<{ referrer_id: string }[]>`
    insert into referral (tenant_id, referred_id, referrer_id)
    select ${tenantId}, f.id, r.id
    from customer r, customer f
    where r.tenant_id = ${tenantId} and r.referral_code = ${code}
      and f.tenant_id = ${tenantId} and f.id = ${referredId}
      and r.id <> f.id and r.phone is distinct from f.phone
    on conflict (tenant_id, referred_id) do nothing
    returning referrer_id`;
  return row?.referrer_id ?? null;
}

export interface SettledSale {
  id: string;
  external_key: string;
  full_kopecks: number;
}

/**
 * Called by settlement for every sale of a customer, in its transaction. The first sale of
 * an invited friend decides the referral: points to both, unless the sale was already
 * returned in full (returns stored before the sale settled) — then no points at all.
 */
export async function settleReferralOnSale(
  tx: Queryable,
  tenantId: string,
  customerId: string,
  sale: SettledSale,
  program: Pick<ProgramSettings, "referrerPoints" | "referredPoints">,
): Promise<void> {
  const [waiting] = await tx<{ referrer_id: string }[]>`
    select r.referrer_id from referral r
    where r.tenant_id = ${tenantId} and r.referred_id = ${customerId} and r.state = 'waiting'
    for update of r`;
  if (!waiting) return;
  const ref = { referrer_id: waiting.referrer_id, referrer_points: program.referrerPoints, referred_points: program.referredPoints };
  const [returned] = await tx<{ kopecks: number }[]>`
    select coalesce(sum(full_kopecks), 0)::bigint as kopecks from document
    where tenant_id = ${tenantId} and kind = 'return' and sale_key = ${sale.external_key}`;
  const fullyReturned = Number(returned!.kopecks) >= Number(sale.full_kopecks);
  if (!fullyReturned) {
    if (ref.referred_points > 0) {
      await postLedgerEntry(tx, tenantId, {
        customerId,
        kind: "referral",
        points: ref.referred_points,
        documentId: sale.id,
        idempotencyKey: ledgerKey.referred(customerId),
        reason: "Первая покупка по приглашению",
      });
    }
    if (ref.referrer_points > 0) {
      await postLedgerEntry(tx, tenantId, {
        customerId: ref.referrer_id,
        kind: "referral",
        points: ref.referrer_points,
        documentId: sale.id,
        idempotencyKey: ledgerKey.referrer(customerId),
        reason: "Приглашённый друг сделал первую покупку",
      });
    }
  }
  await tx`
    update referral set state = ${fullyReturned ? "void" : "granted"}, sale_document_id = ${sale.id}, decided_at = now()
    where tenant_id = ${tenantId} and referred_id = ${customerId}`;
}
