// Points that burn: every credit is a lot (an amount, when it burns); spends consume lots
// soonest-burning first; returns put points back into the lots they came from.
//
// Lots are a projection of the ledger, kept by one function, syncLots (and its set-based
// form for many customers' spends, takeSpendsFromLots), under the customer's row lock: it takes in every ledger entry of the customer not yet taken in
// (whoever posted it — intake posts spends in SQL of its own), in ledger order. So
// Σ remaining of spendable lots − lots_debt = balance after every sync. Every change of a
// customer's lots happens under that customer's row lock.
import type { Queryable, Sql } from "../db/client.ts";
import { postLedgerEntry } from "./ledger.ts";
import { ledgerKey, ledgerKeySql } from "./ledger-keys.ts";

/** A part of a return whose lot burned meanwhile comes back as a new lot burning after this many days. */
export const RESTORED_LOT_DAYS = 14;

interface UnsyncedEntry {
  id: number;
  kind: string;
  points: number;
  released_at: Date | null;
  expires_at: Date | null;
  document_id: string | null;
}

interface OpenLot {
  id: number;
  remaining: number;
}

const DAY_MS = 86_400_000;

/**
 * The lots points can be taken from now, as `l`: something left, not burned, its credit
 * released (pending points are not spendable; the opening lot has no entry). Callers add
 * their own conditions after `and`, and take them in SPEND_ORDER.
 */
export const spendableLots = (sql: Queryable) => sql`
  points_lot l left join ledger_entry le on le.tenant_id = l.tenant_id and le.id = l.entry_id
  where l.remaining > 0 and l.burned_at is null and (l.entry_id is null or le.released_at is not null)`;

/** Soonest-burning first, never-burning last. */
export const spendOrder = (sql: Queryable) => sql`l.expires_at nulls last, l.id`;

/**
 * Takes the customer's new ledger entries into their lots. Call inside the transaction
 * that posted them (or any later one); it locks the customer row first.
 */
export async function syncLots(tx: Queryable, tenantId: string, customerId: string): Promise<void> {
  const [customer] = await tx<{ lots_debt: number }[]>`
    select lots_debt from customer where tenant_id = ${tenantId} and id = ${customerId} for update`;
  if (!customer) return;
  let debt = Number(customer.lots_debt);
  const entries = await tx<UnsyncedEntry[]>`
    select id, kind, points, released_at, expires_at, document_id from ledger_entry
    where tenant_id = ${tenantId} and customer_id = ${customerId} and not lots_synced
    order by id`;
  for (const e of entries) {
    if (e.points > 0) {
      const leftover = e.kind === "refund" ? await restoreIntoLots(tx, tenantId, customerId, e) : e.points;
      if (leftover > 0) await newLot(tx, tenantId, customerId, e, leftover, e.expires_at);
    } else {
      let owed = -e.points;
      if (e.kind === "clawback" && e.document_id) owed = await clawFromOwnLot(tx, tenantId, e, owed);
      // A pending debit (clawback of a pending accrual) takes only from its own lot.
      if (owed > 0 && e.released_at !== null) owed = await consume(tx, tenantId, customerId, e.id, owed);
      debt += owed;
    }
  }
  if (entries.length > 0) {
    await tx`update ledger_entry set lots_synced = true
             where tenant_id = ${tenantId} and id = any(${entries.map((e) => e.id)}::bigint[])`;
  }
  // Debts are covered by whatever is spendable now (new credits, lots released since).
  if (debt > 0) debt = await consume(tx, tenantId, customerId, null, debt);
  if (debt !== Number(customer.lots_debt)) {
    await tx`update customer set lots_debt = ${debt} where tenant_id = ${tenantId} and id = ${customerId}`;
  }
}

async function newLot(tx: Queryable, tenantId: string, customerId: string, e: UnsyncedEntry, points: number, expiresAt: Date | null) {
  await tx`
    insert into points_lot (tenant_id, customer_id, entry_id, document_id, points, remaining, expires_at)
    values (${tenantId}, ${customerId}, ${e.id}, ${e.kind === "accrual" ? e.document_id : null}, ${points}, ${points}, ${expiresAt})`;
}

/**
 * Takes up to `owed` points from spendable lots (released, not burned), soonest-burning
 * first, never-burning last. Returns what could not be taken.
 */
async function consume(tx: Queryable, tenantId: string, customerId: string, entryId: number | null, owed: number): Promise<number> {
  const lots = await tx<OpenLot[]>`
    select l.id, l.remaining from ${spendableLots(tx)} and l.tenant_id = ${tenantId} and l.customer_id = ${customerId}
    order by ${spendOrder(tx)}
    for update of l`;
  for (const lot of lots) {
    if (owed === 0) break;
    const take = Math.min(owed, Number(lot.remaining));
    await takeFromLot(tx, tenantId, lot.id, entryId, take);
    owed -= take;
  }
  return owed;
}

async function takeFromLot(tx: Queryable, tenantId: string, lotId: number, entryId: number | null, points: number) {
  await tx`update points_lot set remaining = remaining - ${points} where tenant_id = ${tenantId} and id = ${lotId}`;
  if (entryId !== null) {
    await tx`insert into lot_use (tenant_id, lot_id, entry_id, points) values (${tenantId}, ${lotId}, ${entryId}, ${-points})`;
  }
}

/** Clawback on a return takes from the lot its sale created first (pending or not). */
async function clawFromOwnLot(tx: Queryable, tenantId: string, e: UnsyncedEntry, owed: number): Promise<number> {
  const [lot] = await tx<OpenLot[]>`
    select l.id, l.remaining from points_lot l
    join document r on r.tenant_id = l.tenant_id and r.id = ${e.document_id}
    where l.tenant_id = ${tenantId} and l.document_id = r.sale_id and l.remaining > 0 and l.burned_at is null
    for update of l`;
  if (!lot) return owed;
  const take = Math.min(owed, Number(lot.remaining));
  await takeFromLot(tx, tenantId, lot.id, e.id, take);
  return owed - take;
}

/**
 * A refund gives back what the sale's spend took, into the same lots; a part whose lot has
 * burned (or is due) comes back as a new lot burning in RESTORED_LOT_DAYS days. Returns
 * the part no lot records (the spend went into debt): the caller makes it a plain lot.
 */
async function restoreIntoLots(tx: Queryable, tenantId: string, customerId: string, e: UnsyncedEntry): Promise<number> {
  const [spend] = await tx<{ id: number }[]>`
    select s.id from document r
    join ledger_entry s on s.tenant_id = r.tenant_id and s.idempotency_key = ${ledgerKeySql(tx, ledgerKey.saleSpend, tx`r.sale_id`)}
    where r.tenant_id = ${tenantId} and r.id = ${e.document_id}`;
  if (!spend) return e.points;
  const taken = await tx<{ lot_id: number; taken: number; burned: boolean }[]>`
    select u.lot_id, sum(-u.points)::bigint - coalesce((
        select sum(b.points) from lot_use b where b.tenant_id = u.tenant_id and b.restores = ${spend.id} and b.lot_id = u.lot_id
      ), 0)::bigint as taken,
      (l.burned_at is not null or l.expires_at <= now()) as burned
    from lot_use u join points_lot l on l.tenant_id = u.tenant_id and l.id = u.lot_id
    where u.tenant_id = ${tenantId} and u.entry_id = ${spend.id} and u.points < 0
    group by u.tenant_id, u.lot_id, l.burned_at, l.expires_at
    order by u.lot_id`;
  let left = e.points;
  let burned = 0;
  for (const t of taken) {
    if (left === 0) break;
    const back = Math.min(left, Number(t.taken));
    if (back <= 0) continue;
    left -= back;
    // Recorded against the spend either way, so a later refund does not restore it again.
    if (t.burned) {
      burned += back;
      await tx`insert into lot_use (tenant_id, lot_id, entry_id, points, restores) values (${tenantId}, ${t.lot_id}, ${e.id}, ${back}, ${spend.id})`;
    } else {
      await tx`update points_lot set remaining = remaining + ${back} where tenant_id = ${tenantId} and id = ${t.lot_id}`;
      await tx`insert into lot_use (tenant_id, lot_id, entry_id, points, restores) values (${tenantId}, ${t.lot_id}, ${e.id}, ${back}, ${spend.id})`;
    }
  }
  if (burned > 0) await newLot(tx, tenantId, customerId, e, burned, new Date(Date.now() + RESTORED_LOT_DAYS * DAY_MS));
  return left;
}

export interface BurnResult {
  lotId: number;
  customerId: string;
  points: number;
  balance: number;
}

/**
 * Burns what is left of one due lot: one `expiry` entry (key per lot, so a second worker
 * or a re-run finds it posted), never taking the balance below zero.
 */
export async function burnLot(sql: Sql, tenantId: string, customerId: string, lotId: number): Promise<BurnResult | null> {
  return sql.begin(async (tx) => {
    // Spends taken at the till since the last sync come off the lots first.
    await syncLots(tx, tenantId, customerId);
    const [lot] = await tx<{ remaining: number; burned_at: Date | null; expires_at: Date | null; released: boolean }[]>`
      select l.remaining, l.burned_at, l.expires_at, (l.entry_id is null or c.released_at is not null) as released
      from points_lot l left join ledger_entry c on c.tenant_id = l.tenant_id and c.id = l.entry_id
      where l.tenant_id = ${tenantId} and l.id = ${lotId} for update of l`;
    if (!lot || lot.burned_at || !lot.expires_at || lot.expires_at.getTime() > Date.now() || !lot.released) return null;
    const [c] = await tx<{ balance: number }[]>`select balance from customer where tenant_id = ${tenantId} and id = ${customerId}`;
    const points = Math.min(Number(lot.remaining), Math.max(0, Number(c!.balance)));
    await tx`update points_lot set remaining = 0, burned_at = now() where tenant_id = ${tenantId} and id = ${lotId}`;
    if (points === 0) return null;
    const { entry, inserted } = await postLedgerEntry(tx, tenantId, {
      customerId,
      kind: "expiry",
      points: -points,
      idempotencyKey: ledgerKey.lotExpiry(lotId),
      lotsSynced: true,
    });
    if (!inserted) return null;
    await tx`insert into lot_use (tenant_id, lot_id, entry_id, points) values (${tenantId}, ${lotId}, ${entry.id}, ${-points})`;
    return { lotId, customerId, points, balance: Number(c!.balance) - points };
  });
}

/** Lots due to burn now, oldest first (a batch). */
export async function dueLots(sql: Sql, limit = 500): Promise<{ tenant_id: string; customer_id: string; id: number }[]> {
  return sql`
    select tenant_id, customer_id, id from points_lot
    where remaining > 0 and burned_at is null and expires_at <= now()
    order by expires_at limit ${limit}`;
}

/** The next burn dates of a customer with their amounts, soonest first. */
export async function expiringPoints(sql: Sql, tenantId: string, customerId: string, limit = 10): Promise<{ points: number; expiresAt: Date }[]> {
  const rows = await sql<{ points: number; expires_at: Date }[]>`
    select sum(l.remaining)::bigint as points, l.expires_at from points_lot l
    left join ledger_entry c on c.tenant_id = l.tenant_id and c.id = l.entry_id
    where l.tenant_id = ${tenantId} and l.customer_id = ${customerId} and l.remaining > 0 and l.burned_at is null
      and l.expires_at is not null
    group by l.expires_at order by l.expires_at limit ${limit}`;
  return rows.map((r) => ({ points: Number(r.points), expiresAt: r.expires_at }));
}

/**
 * What syncLots does for customers whose only unsynced entries are spends their spendable
 * lots cover, for all of them in one statement: each spend, in entry order, takes from the
 * lots soonest-burning first (never-burning last) — spend k takes from lot i the overlap
 * of its span [A_k, A_k + a_k) of the customer's total owed with the lot's span
 * [S_i, S_i + r_i) of the lots' total remaining, which is exactly what taking lot by lot
 * in order leaves. Lot rows are not locked one by one: every change to a customer's lots
 * happens under the customer's row lock, which the batch holds.
 */
export async function takeSpendsFromLots(tx: Queryable, tenantId: string, customerIds: string[]): Promise<void> {
  await tx`
    with spends as (
      select e.id, e.customer_id, -e.points as amount,
        sum(-e.points) over (partition by e.customer_id order by e.id) + e.points as starts_at
      from ledger_entry e
      where e.tenant_id = ${tenantId} and e.customer_id = any(${customerIds}::uuid[]) and not e.lots_synced
    ), lots as (
      select l.id, l.customer_id, l.remaining,
        sum(l.remaining) over (partition by l.customer_id order by ${spendOrder(tx)}) - l.remaining as starts_at
      from ${spendableLots(tx)} and l.tenant_id = ${tenantId} and l.customer_id = any(${customerIds}::uuid[])
    ), taken as (
      select s.id as entry_id, l.id as lot_id,
        least(s.starts_at + s.amount, l.starts_at + l.remaining) - greatest(s.starts_at, l.starts_at) as points
      from spends s join lots l on l.customer_id = s.customer_id
      where least(s.starts_at + s.amount, l.starts_at + l.remaining) > greatest(s.starts_at, l.starts_at)
    ), uses as (
      insert into lot_use (tenant_id, lot_id, entry_id, points)
      select ${tenantId}, lot_id, entry_id, -points from taken order by entry_id, lot_id
    ), consumed as (
      update points_lot l set remaining = l.remaining - t.points
      from (select lot_id, sum(points) as points from taken group by lot_id) t
      where l.tenant_id = ${tenantId} and l.id = t.lot_id
    )
    update ledger_entry e set lots_synced = true
    from spends s where e.tenant_id = ${tenantId} and e.id = s.id`;
}
