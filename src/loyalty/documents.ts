// Intake of completed sales and returns: validate, store once, answer. Settlement (the
// worker) does the rest; only the points a sale spent are posted here, so the very next
// recalc already sees them.
import { createHash } from "node:crypto";
import type { Sql } from "../db/client.ts";
import { type CustomerRef, customerLookup } from "./customers.ts";

export interface DocumentLine {
  assortmentId: string;
  quantityMilli: number;
  priceKopecks: number;
  discountedKopecks: number;
}

export interface SaleIntake {
  externalKey: string;
  name: string | null;
  /** "YYYY-MM-DD HH:mm:ss" as the POS sent it (Moscow time), or null. */
  moment: string | null;
  retailStoreId: string | null;
  /** Null for an anonymous sale (no agent on the receipt). */
  customer: CustomerRef | null;
  totalKopecks: number;
  eligibleKopecks: number;
  fullKopecks: number;
  eligibleFullKopecks: number;
  pointsSpent: number;
  pointsEarned: number;
  pointsEarnReported: number | null;
  accrualDelayDays: number;
  body: unknown;
}

export interface ReturnIntake {
  externalKey: string;
  name: string | null;
  moment: string | null;
  retailStoreId: string | null;
  /** The sale's external key from demand.meta; null when the POS sent no usable link. */
  saleKey: string | null;
  totalKopecks: number;
  eligibleKopecks: number;
  fullKopecks: number;
  eligibleFullKopecks: number;
  body: unknown;
}

export interface Stored {
  documentId: string;
  /** False when this was a redelivery of a document we already have. */
  created: boolean;
  /** Whether settlement still has to run for it. */
  needsSettlement: boolean;
  /** Points this call took from the customer's balance (a new sale's spend; 0 otherwise). */
  spendPosted?: number;
}

/** The POS's identity of a document: meta.id, else meta.href, else a hash of what names it. */
export function documentKey(
  meta: { id?: string | null; href?: string | null } | null | undefined,
  fallback: { retailStoreId: string | null; name: string | null; moment: string | null },
): string {
  const id = meta?.id?.trim();
  if (id) return id;
  const href = meta?.href?.trim();
  if (href) return href;
  const h = createHash("sha256")
    .update(JSON.stringify([fallback.retailStoreId ?? "", fallback.name ?? "", fallback.moment ?? ""]))
    .digest("hex");
  return `hash:${h}`;
}

// The POS's clock is Moscow time; a moment in the future or unparsable falls back to now.
const momentSql = (sql: Sql, moment: string | null) =>
  sql`least(now(), coalesce(${moment}::timestamp at time zone 'Europe/Moscow', now()))`;

/**
 * One statement: find the customer, store the sale unless it is known, and post the
 * points it spent. A redelivery (same external key) changes nothing.
 */
export async function storeSale(sql: Sql, tenantId: string, s: SaleIntake): Promise<Stored> {
  const ref = s.customer;
  const [row] = await sql<{ id: string; created: boolean; state: string; spent: number }[]>`
    with c as (
      ${ref ? customerLookup(sql, tenantId, ref, sql`id`) : sql`select null::uuid as id where false`}
    ), d as (
      insert into document (tenant_id, kind, external_key, name, moment, retail_store_id, customer_id,
        match_status, total_kopecks, eligible_kopecks, full_kopecks, eligible_full_kopecks, points_spent, points_earned, points_earn_reported,
        accrual_available_at, body)
      select ${tenantId}, 'sale', ${s.externalKey}, ${s.name}, ${momentSql(sql, s.moment)}, ${s.retailStoreId},
        c.id,
        case when ${ref === null} then 'anonymous' when c.id is null then 'unmatched' else 'matched' end,
        ${s.totalKopecks}, ${s.eligibleKopecks}, ${s.fullKopecks}, ${s.eligibleFullKopecks}, ${s.pointsSpent}, ${s.pointsEarned}, ${s.pointsEarnReported},
        ${momentSql(sql, s.moment)} + make_interval(days => ${s.accrualDelayDays}),
        ${sql.json(s.body as any)}
      from (select 1) one left join c on true
      on conflict (tenant_id, kind, external_key) do nothing
      returning id, customer_id, points_spent
    ), spend as (
      insert into ledger_entry (tenant_id, customer_id, kind, points, document_id, idempotency_key, released_at)
      select ${tenantId}, d.customer_id, 'spend', -d.points_spent, d.id, 'sale:' || d.id || ':spend', now()
      from d where d.customer_id is not null and d.points_spent > 0
      returning customer_id, points
    ), moved as (
      update customer set balance = balance + spend.points, updated_at = now()
      from spend where customer.tenant_id = ${tenantId} and customer.id = spend.customer_id
      returning 1
    )
    select id, true as created, 'received' as state, (select coalesce(-sum(points), 0) from spend)::int as spent from d
    union all
    select id, false, state, 0 from document
      where tenant_id = ${tenantId} and kind = 'sale' and external_key = ${s.externalKey}
        and not exists (select 1 from d)`;
  return row ? stored(row) : existing(sql, tenantId, "sale", s.externalKey);
}

function stored(row: { id: string; created: boolean; state: string; spent?: number }): Stored {
  return { documentId: row.id, created: row.created, needsSettlement: row.state === "received", spendPosted: row.spent ?? 0 };
}

// A concurrent delivery of the same document committed after this statement's snapshot:
// the insert saw the conflict, the fallback select did not yet see the row. Look again.
async function existing(sql: Sql, tenantId: string, kind: "sale" | "return", externalKey: string): Promise<Stored> {
  const [row] = await sql<{ id: string; state: string }[]>`
    select id, state from document where tenant_id = ${tenantId} and kind = ${kind} and external_key = ${externalKey}`;
  if (!row) throw new Error(`document ${kind} ${externalKey} vanished`);
  return stored({ ...row, created: false });
}

export async function storeReturn(sql: Sql, tenantId: string, r: ReturnIntake): Promise<Stored> {
  const flagged = r.saleKey === null;
  const [row] = await sql<{ id: string; created: boolean; state: string }[]>`
    with d as (
      insert into document (tenant_id, kind, external_key, name, moment, retail_store_id, match_status,
        state, flag_reason, total_kopecks, eligible_kopecks, full_kopecks, eligible_full_kopecks, sale_key, body)
      values (${tenantId}, 'return', ${r.externalKey}, ${r.name}, ${momentSql(sql, r.moment)}, ${r.retailStoreId},
        'anonymous', ${flagged ? "flagged" : "received"},
        ${flagged ? "Возврат без ссылки на продажу (demand.meta пуст): баллы не пересчитаны." : null},
        ${r.totalKopecks}, ${r.eligibleKopecks}, ${r.fullKopecks}, ${r.eligibleFullKopecks}, ${r.saleKey}, ${sql.json(r.body as any)})
      on conflict (tenant_id, kind, external_key) do nothing
      returning id, state
    )
    select id, true as created, state from d
    union all
    select id, false, state from document
      where tenant_id = ${tenantId} and kind = 'return' and external_key = ${r.externalKey}
        and not exists (select 1 from d)`;
  return row ? stored(row) : existing(sql, tenantId, "return", r.externalKey);
}
