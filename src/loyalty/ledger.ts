import type { Queryable, Sql } from "../db/client.ts";

export type LedgerKind = "accrual" | "spend" | "refund" | "clawback" | "adjustment" | "welcome" | "birthday" | "expiry" | "referral";

export interface LedgerEntryRow {
  id: number;
  customer_id: string;
  kind: LedgerKind;
  points: number;
  available_at: Date;
  released_at: Date | null;
  document_id: string | null;
  idempotency_key: string;
  reason: string | null;
  created_at: Date;
}

export interface NewLedgerEntry {
  customerId: string;
  kind: LedgerKind;
  /** Signed: positive adds points, negative takes them. Never zero. */
  points: number;
  idempotencyKey: string;
  documentId?: string | null;
  reason?: string | null;
  /** Pending until then (accrual delay); omitted or past means available now. */
  availableAt?: Date | null;
  /** When a credit's points burn (its lot's end); null = never. */
  expiresAt?: Date | null;
  /** The caller has already applied it to the lots (an expiry burns its own lot). */
  lotsSynced?: boolean;
}

const entryColumns = (sql: Queryable) => sql`
  id, customer_id, kind, points, available_at, released_at, document_id, idempotency_key, reason, created_at`;

/**
 * Appends one entry and moves the customer's running balance with it, in the caller's
 * transaction. A repeated idempotency key changes nothing and returns the first entry.
 */
export async function postLedgerEntry(
  tx: Queryable,
  tenantId: string,
  e: NewLedgerEntry,
): Promise<{ entry: LedgerEntryRow; inserted: boolean }> {
  const pending = e.availableAt != null && e.availableAt.getTime() > Date.now();
  const [inserted] = await tx<LedgerEntryRow[]>`
    insert into ledger_entry (tenant_id, customer_id, kind, points, available_at, released_at,
      document_id, idempotency_key, reason, expires_at, lots_synced)
    values (${tenantId}, ${e.customerId}, ${e.kind}, ${e.points},
      ${pending ? e.availableAt! : tx`now()`}, ${pending ? null : tx`now()`},
      ${e.documentId ?? null}, ${e.idempotencyKey}, ${e.reason ?? null}, ${e.expiresAt ?? null}, ${e.lotsSynced ?? false})
    on conflict (tenant_id, idempotency_key) do nothing
    returning ${entryColumns(tx)}`;
  if (!inserted) {
    const [existing] = await tx<LedgerEntryRow[]>`
      select ${entryColumns(tx)} from ledger_entry
      where tenant_id = ${tenantId} and idempotency_key = ${e.idempotencyKey}`;
    return { entry: existing!, inserted: false };
  }
  if (pending) {
    await tx`update customer set pending_balance = pending_balance + ${e.points}, updated_at = now()
             where tenant_id = ${tenantId} and id = ${e.customerId}`;
  } else {
    await tx`update customer set balance = balance + ${e.points}, updated_at = now()
             where tenant_id = ${tenantId} and id = ${e.customerId}`;
  }
  return { entry: inserted, inserted: true };
}

export async function listLedger(
  sql: Sql,
  tenantId: string,
  customerId: string,
  opts: { limit: number; beforeId?: number | null },
): Promise<LedgerEntryRow[]> {
  return sql<LedgerEntryRow[]>`
    select ${entryColumns(sql)} from ledger_entry
    where tenant_id = ${tenantId} and customer_id = ${customerId}
      ${opts.beforeId ? sql`and id < ${opts.beforeId}` : sql``}
    order by id desc
    limit ${opts.limit}`;
}

/**
 * Moves pending entries whose time has come into the spendable balance, a batch at a
 * time, in one statement (entries and balances together). Returns how many it released.
 */
export async function releaseDuePending(sql: Queryable, limit = 5000): Promise<number> {
  const [row] = await sql<{ released: number }[]>`
    with due as (
      select tenant_id, id from ledger_entry
      where released_at is null and available_at <= now()
      order by available_at
      limit ${limit}
      for update skip locked
    ), released as (
      update ledger_entry e set released_at = now()
      from due where e.tenant_id = due.tenant_id and e.id = due.id
      returning e.tenant_id, e.customer_id, e.points
    ), per_customer as (
      select tenant_id, customer_id, sum(points)::bigint as points, count(*) as n
      from released group by tenant_id, customer_id
    ), moved as (
      update customer c set balance = c.balance + p.points, pending_balance = c.pending_balance - p.points,
        updated_at = now()
      from per_customer p where c.tenant_id = p.tenant_id and c.id = p.customer_id
      returning p.n
    )
    select coalesce(sum(n), 0)::int as released from moved`;
  return row?.released ?? 0;
}
