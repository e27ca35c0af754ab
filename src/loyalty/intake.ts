// Intake of completed sales and returns: validate, store once, answer. Settlement (the
// worker) does the rest; only the points a sale spent are posted here, so the very next
// recalc already sees them.
import type { Queryable } from "../db/client.ts";
import type { Combiner, Committer } from "../db/group-commit.ts";
import { ledgerKey, ledgerKeySql } from "./ledger-keys.ts";
import { asUuid, type CustomerRef, customerLookup, customerLookupBy, type Fragment } from "./customers.ts";
import type { ProgramRules } from "./engine.ts";
import type { TenantContext } from "./tenants.ts";

/** A document's money in integer kopecks, as read from its positions. */
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

export interface SaleIntake extends DocumentSums {
  externalKey: string;
  name: string | null;
  /** The instant the POS reports (read in the merchant's zone), or null: then the time received. */
  moment: Date | null;
  retailStoreId: string | null;
  /** Null for an anonymous sale (no agent on the receipt). */
  customer: CustomerRef | null;
  /** Points the sale reports as spent: posted up to the customer's balance, the rest held. */
  pointsSpentReported: number;
  pointsEarnReported: number | null;
  /** The lines earning looks at (settlement decides the points, once the customer's level is known). */
  moneyLines: { assortmentId: string; moneyKopecks: number }[];
  /** Money the POS reported (cash + card + certificates); null when it sent none. */
  paidKopecks: number | null;
  accrualDelayDays: number;
  /** What did not add up, in words ("; "-joined); null when all is well. */
  flagReason: string | null;
  body: unknown;
}

export interface ReturnIntake extends DocumentSums {
  externalKey: string;
  name: string | null;
  moment: Date | null;
  retailStoreId: string | null;
  /** The sale's external key from demand.meta; null when the POS sent no usable link. */
  saleKey: string | null;
  flagReason: string | null;
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

/**
 * What a sale's points spend says about its figures, in words for an operator: points
 * worth more than the receipt, or a spend the discounted prices do not reflect.
 */
export function spendAnomalies(rules: ProgramRules, sums: DocumentSums, spent: number): string[] {
  const paidByPoints = spent * rules.spendRateKopecks;
  if (paidByPoints > sums.fullKopecks) return [`Баллами оплачено (${spent}) больше суммы чека.`];
  if (paidByPoints > sums.fullKopecks - sums.totalKopecks) {
    return ["Оплата баллами не отражена в ценах со скидкой: позиции не сходятся со списанием."];
  }
  return [];
}

// A moment in the future (a till with a wrong clock) counts as the time received, and so
// does none. `moment` is SQL: a parameter, or a column when many documents go at once.
const receivedMoment = (sql: Queryable, moment: Fragment) => sql`least(now(), coalesce(${moment}, now()))`;
const momentSql = (sql: Queryable, moment: Date | null) => receivedMoment(sql, sql`${moment}::timestamptz`);

/**
 * One statement: find the customer, store the sale unless it is known, and post the
 * points it spent — up to what the customer has at that moment; the rest is held for an operator (a
 * spend the balance never covered is more likely a till's error than a gift to make).
 * A redelivery (same external key) changes nothing.
 */
export async function storeSale(sql: Queryable, tenantId: string, s: SaleIntake): Promise<Stored> {
  const ref = s.customer;
  const spend = s.pointsSpentReported;
  const [row] = await sql<{ id: string; created: boolean; state: string; spent: number }[]>`
    with c as (
      ${ref ? customerLookup(sql, tenantId, ref, sql`id`) : sql`select null::uuid as id where false`}
    ), spender as (
      -- A sale that spends locks its customer first and reads the balance as it is now:
      -- the lookup's snapshot may predate another sale's spend committed meanwhile, and
      -- posting from it would take points already taken (two tills, one customer).
      select balance from customer
      where tenant_id = ${tenantId} and id = (select id from c) and ${spend}::bigint > 0
      for update
    ), decided as (
      select c.id as customer_id,
        case when c.id is null then 0
             else least(${spend}::bigint, greatest(coalesce((select balance from spender), 0), 0)) end as posted
      from (select 1) one left join c on true
    ), d as (
      insert into document (tenant_id, kind, external_key, name, moment, retail_store_id, customer_id,
        received_at, match_status, total_kopecks, eligible_kopecks, full_kopecks, eligible_full_kopecks,
        points_spent_reported, points_spent, held_spend_points, points_earn_reported,
        accrual_available_at, flag_reason, lines, paid_kopecks, body)
      select ${tenantId}, 'sale', ${s.externalKey}, ${s.name}, ${momentSql(sql, s.moment)}, ${s.retailStoreId},
        decided.customer_id, clock_timestamp(),
        case when ${ref === null} then 'anonymous' when decided.customer_id is null then 'unmatched' else 'matched' end,
        ${s.totalKopecks}, ${s.eligibleKopecks}, ${s.fullKopecks}, ${s.eligibleFullKopecks},
        ${spend}::bigint, decided.posted,
        case when decided.customer_id is null then 0 else ${spend}::bigint - decided.posted end,
        ${s.pointsEarnReported},
        ${momentSql(sql, s.moment)} + make_interval(days => ${s.accrualDelayDays}),
        nullif(concat_ws('; ', ${s.flagReason}::text,
          case when decided.customer_id is not null and ${spend}::bigint > decided.posted then
            'Списано больше баллов, чем было у покупателя (' || ${spend}::bigint || ' при балансе ' || decided.posted ||
            '): ' || (${spend}::bigint - decided.posted) || ' баллов ждут решения оператора.' end,
          case when ${ref === null} and ${spend}::bigint > 0 then 'Баллы списаны в чеке без покупателя: не проведены.' end), ''),
        ${sql.json(s.moneyLines)}, ${s.paidKopecks}, ${sql.json(s.body as any)}
      from decided
      on conflict (tenant_id, kind, external_key) do nothing
      returning id, customer_id, points_spent
    ), spend as (
      insert into ledger_entry (tenant_id, customer_id, kind, points, document_id, idempotency_key, released_at)
      select ${tenantId}, d.customer_id, 'spend', -d.points_spent, d.id, ${ledgerKeySql(sql, ledgerKey.saleSpend, sql`d.id`)}, now()
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

/**
 * Sales that spend nothing, stored together: one statement finds every customer (the
 * probes of customerLookup, per row) and inserts every document. A sale sent twice within
 * the statement is stored once; the later copy is answered as a redelivery.
 */
export const spendlessSales: Combiner<{ tenantId: string; sale: SaleIntake }, Stored> = {
  async combine(sql, items) {
    const rows = items.map(({ tenantId, sale: s }, n) => ({
      n,
      tenant_id: tenantId,
      key: s.externalKey,
      name: s.name,
      moment: s.moment?.toISOString() ?? null,
      store: s.retailStoreId,
      anonymous: s.customer === null,
      meta_id: s.customer?.metaId ?? null,
      our_id: asUuid(s.customer?.metaId),
      card: s.customer?.card ?? null,
      phone: s.customer?.phone ?? null,
      total: s.totalKopecks,
      eligible: s.eligibleKopecks,
      full_sum: s.fullKopecks,
      eligible_full: s.eligibleFullKopecks,
      earn_reported: s.pointsEarnReported,
      delay_days: s.accrualDelayDays,
      flag: s.flagReason,
      lines: s.moneyLines,
      paid: s.paidKopecks,
      body: s.body,
    }));
    const out = await sql<{ n: number; id: string | null; created: boolean; state: string | null }[]>`
      with input as (
        select * from jsonb_to_recordset(${sql.json(rows as any)}) as i(
          n int, tenant_id uuid, key text, name text, moment timestamptz, store text, anonymous boolean,
          meta_id text, our_id uuid, card text, phone text, total bigint, eligible bigint, full_sum bigint,
          eligible_full bigint, earn_reported bigint, delay_days int, flag text, lines jsonb, paid bigint, body jsonb)
      ), found as (
        select i.n, c.id as customer_id,
          ${receivedMoment(sql, sql`i.moment`)} as at,
          row_number() over (partition by i.tenant_id, i.key order by i.n) = 1 as first
        from input i
        left join lateral (${customerLookupBy(
          sql,
          sql`i.tenant_id`,
          { metaId: sql`i.meta_id`, ourId: sql`i.our_id`, card: sql`i.card`, phone: sql`i.phone` },
          sql`id`,
        )}) c on not i.anonymous
      ), d as (
        insert into document (tenant_id, kind, external_key, name, moment, retail_store_id, customer_id,
          received_at, match_status, total_kopecks, eligible_kopecks, full_kopecks, eligible_full_kopecks,
          points_spent_reported, points_spent, held_spend_points, points_earn_reported,
          accrual_available_at, flag_reason, lines, paid_kopecks, body)
        select i.tenant_id, 'sale', i.key, i.name, f.at, i.store, f.customer_id, clock_timestamp(),
          case when i.anonymous then 'anonymous' when f.customer_id is null then 'unmatched' else 'matched' end,
          i.total, i.eligible, i.full_sum, i.eligible_full, 0, 0, 0, i.earn_reported,
          f.at + make_interval(days => i.delay_days), i.flag, i.lines, i.paid, i.body
        from input i join found f on f.n = i.n
        where f.first
        order by i.n
        on conflict (tenant_id, kind, external_key) do nothing
        returning id, tenant_id, external_key
      )
      select i.n, coalesce(d.id, e.id) as id, d.id is not null and f.first as created,
        case when d.id is not null then 'received' else e.state end as state
      from input i join found f on f.n = i.n
      left join d on d.tenant_id = i.tenant_id and d.external_key = i.key
      left join document e on d.id is null and e.tenant_id = i.tenant_id and e.kind = 'sale' and e.external_key = i.key
      order by i.n`;
    return Promise.all(
      out.map((r, i) =>
        // Stored by a concurrent delivery committed after this statement's snapshot: look again.
        r.id ? stored({ id: r.id, created: r.created, state: r.state! }) : existing(sql, items[i]!.tenantId, "sale", items[i]!.sale.externalKey),
      ),
    );
  },
};

function stored(row: { id: string; created: boolean; state: string; spent?: number }): Stored {
  return { documentId: row.id, created: row.created, needsSettlement: row.state === "received", spendPosted: row.spent ?? 0 };
}

// A concurrent delivery of the same document committed after this statement's snapshot:
// the insert saw the conflict, the fallback select did not yet see the row. Look again.
async function existing(sql: Queryable, tenantId: string, kind: "sale" | "return", externalKey: string): Promise<Stored> {
  const [row] = await sql<{ id: string; state: string }[]>`
    select id, state from document where tenant_id = ${tenantId} and kind = ${kind} and external_key = ${externalKey}`;
  if (!row) throw new Error(`document ${kind} ${externalKey} vanished`);
  return stored({ ...row, created: false });
}

export async function storeReturn(sql: Queryable, tenantId: string, r: ReturnIntake): Promise<Stored> {
  const unlinked = r.saleKey === null;
  const reason = [r.flagReason, unlinked ? "Возврат без ссылки на продажу (demand.meta пуст): баллы не пересчитаны." : null]
    .filter(Boolean)
    .join("; ");
  const [row] = await sql<{ id: string; created: boolean; state: string }[]>`
    with d as (
      insert into document (tenant_id, kind, external_key, name, moment, retail_store_id, received_at, match_status,
        state, flag_reason, total_kopecks, eligible_kopecks, full_kopecks, eligible_full_kopecks, sale_key, body)
      values (${tenantId}, 'return', ${r.externalKey}, ${r.name}, ${momentSql(sql, r.moment)}, ${r.retailStoreId}, clock_timestamp(),
        'anonymous', ${unlinked ? "flagged" : "received"}, ${reason || null},
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

/** A completed sale as the POS reported it, already read into integers. */
export interface ReportedSale extends Omit<SaleIntake, "accrualDelayDays" | "flagReason" | keyof DocumentSums> {
  sums: DocumentSums;
  anomalies: string[];
}

export interface ReportedReturn extends Omit<ReturnIntake, "flagReason" | keyof DocumentSums> {
  sums: DocumentSums;
  anomalies: string[];
}

/**
 * Intake of a completed sale: store it once, with what did not add up in words. The
 * committer answers after commit; the API's groups concurrent sales into one transaction.
 */
export function acceptSale(commit: Committer, tenant: TenantContext, sale: ReportedSale): Promise<Stored> {
  const anomalies = [...sale.anomalies, ...spendAnomalies(tenant.program.rules, sale.sums, sale.pointsSpentReported)];
  const { sums, anomalies: _read, ...rest } = sale;
  const intake: SaleIntake = {
    ...rest,
    ...sums,
    accrualDelayDays: tenant.program.settings.accrualDelayDays,
    flagReason: anomalies.length ? anomalies.join("; ") : null,
  };
  // Most sales spend nothing: those are stored together with the group's others.
  if (intake.pointsSpentReported === 0) return commit.combined(spendlessSales, { tenantId: tenant.id, sale: intake });
  return commit.run((q) => storeSale(q, tenant.id, intake));
}

export function acceptReturn(commit: Committer, tenant: TenantContext, ret: ReportedReturn): Promise<Stored> {
  const { sums, anomalies, ...rest } = ret;
  const intake: ReturnIntake = { ...rest, ...sums, flagReason: anomalies.length ? anomalies.join("; ") : null };
  return commit.run((q) => storeReturn(q, tenant.id, intake));
}
