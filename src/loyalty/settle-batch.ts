// Settlement of many documents at once: a short transaction takes up to `limit` stored
// documents of a tenant (oldest first, FOR UPDATE SKIP LOCKED, so several workers share a
// backlog) and their customers (SKIP LOCKED too: batches never wait on each other).
//
// Most sales are plain: a known customer (who has bought before, when a first purchase
// brings a welcome gift), earning points and maybe spending some at the till (spends
// their lots cover), with no certificate, referral or debt to untangle. Those are settled in that transaction, set-based — a few statements
// for the whole batch: spends taken from lots, ledger entries with their lots, balances,
// purchases and levels, documents, waiting returns. Sales without a customer (or whose
// customer is still unknown) are only marked settled, in the same transaction. Every other document (returns, first
// purchases, referrals, certificates, customers matched only now, a customer's later
// documents in the batch) is then settled by settleDocument, the one-document path, in
// arrival order. The rules are decided in one place (decideSaleEarn, tierForPurchases,
// the message templates) whichever way a document goes. A document that fails alone is
// marked (settle_failed_at) and left to a job of its own.
import { randomUUID } from "node:crypto";
import type { Queryable, Sql } from "../db/client.ts";
import { customerRef, resolveCustomer } from "./customers.ts";
import type { LedgerKind } from "./ledger.ts";
import { ledgerKey } from "./ledger-keys.ts";
import { localTime } from "./localtime.ts";
import { changePhrase, renderTemplate } from "./messages.ts";
import { decideSaleEarn, storedSaleLines } from "./points.ts";
import { type Program, programFromStored } from "./program.ts";
import { promotionFromRow } from "./promotions.ts";
import { DAY_MS, joined, type PointsMessage, releaseReturnsOf, settleDocument, type SettleOutcome, settlingColumns, type SettlingRow } from "./settlement.ts";
import { tierForPurchases, tierMessage } from "./tiers.ts";
import { hasCertificatePayments } from "./giftcards.ts";
import { spendableLots, takeSpendsFromLots } from "./lots.ts";

/** Batches of one tenant settling at once (each holds one of these advisory locks). */
const SLOTS_PER_TENANT = 4;
const SETTLE_SLOT_LOCK = 7_312_004_010;

export interface BatchOutcome {
  /** Documents this batch locked (settled, waiting for their sale, failed or deferred). */
  claimed: number;
  /** Documents left for a later batch: another batch holds their customer. */
  deferred: number;
  /** Every slot of the tenant was taken: the batches holding them drain the backlog. */
  busy: boolean;
  settled: number;
  /** Points messages of documents settled one by one: a job each after the commit. */
  messages: PointsMessage[];
  /**
   * Points messages of the plain sales: one job after the commit, whose id the documents
   * carry (document.message_job).
   */
  plainMessages: { messageJob: string; messages: PointsMessage[] };
  /** Ledger entries posted (for the metrics). */
  movements: { kind: LedgerKind; points: number }[];
  /** When each settled document happened (for the settlement-lag metric). */
  moments: Date[];
  /** Customers whose Wallet pass shows a new balance (plain sales). */
  walletCustomers: string[];
  /** Documents settled one by one: their Wallet updates are looked up as for a single document. */
  walletDocuments: string[];
  /** Documents that failed here: each goes to a job of its own. */
  failed: { documentId: string; round: number; error: unknown }[];
  /** Whether returns waiting for a sale of this batch became settleable (they are the tenant's again). */
  releasedReturns: number;
}

interface LockedCustomer {
  id: string;
  balance: number;
  tier: string | null;
  purchases_count: number;
  lots_debt: number;
  /** A referral waits for this customer's first settled sale. */
  referral_waiting: boolean;
  /**
   * Ledger entries not yet in the lots: the points spent at the till (released spends,
   * posted at intake) are `owed`; any other kind makes `unsynced_other`.
   */
  owed: number;
  unsynced_other: boolean;
  /** Points in the customer's spendable lots (read only when something is owed). */
  spendable: number;
  has_wallet: boolean;
  /** Settled sales minus returns within the level window, in kopecks (as windowPurchases). */
  window_kopecks: number;
}

interface PlainSale {
  doc: SettlingRow;
  customer: LockedCustomer;
  earn: number;
  held: number | null;
  anomalies: string | null;
  pending: boolean;
  availableAt: Date | null;
  expiresAt: Date | null;
  tier: { set: boolean; name: string | null; text: string | null };
  message: string | null;
}

/**
 * Settles up to `limit` of the tenant's stored documents. `plain: false` sends every one
 * through the one-document path (each in its own savepoint): the way to go on after a
 * batch failed as a whole, so that one document cannot hold up the tenant's others.
 */
export async function settleBatch(sql: Sql, tenantId: string, limit = 200, opts: { plain?: boolean } = {}): Promise<BatchOutcome> {
  // The plain sales in one short transaction (the customers it locks wait for nothing but
  // its four statements: a till posting a spend for one of them waits that long at most);
  // then the others one by one, each in a transaction of its own, in arrival order.
  const { out, oneByOne } = await sql.begin(async (tx) => {
    const out: BatchOutcome = {
      claimed: 0, settled: 0, deferred: 0, busy: false, messages: [], plainMessages: { messageJob: randomUUID(), messages: [] }, movements: [], moments: [],
      walletCustomers: [], walletDocuments: [], failed: [], releasedReturns: 0,
    };
    // A few batches of one tenant at a time: more only scan past each other's locked rows.
    const [slot] = await tx<{ n: number }[]>`
      select n from generate_series(1, ${SLOTS_PER_TENANT}) n
      where pg_try_advisory_xact_lock(hashtextextended(${tenantId}::text || ':' || n, ${SETTLE_SLOT_LOCK}))
      limit 1`;
    if (!slot) {
      out.busy = true;
      return { out, oneByOne: [] };
    }
    const docs = await tx<(SettlingRow & { sale_customer_id: string | null })[]>`
      select ${settlingColumns(tx)},
        (select s.customer_id from document s
          where s.tenant_id = d.tenant_id and s.kind = 'sale' and s.external_key = d.sale_key) as sale_customer_id
      from document d join program p on p.tenant_id = d.tenant_id
      where d.tenant_id = ${tenantId} and d.state = 'received' and d.settle_failed_at is null
      order by d.received_at
      limit ${limit}
      for update of d skip locked`;
    out.claimed = docs.length;
    if (docs.length === 0) return { out, oneByOne: [] };
    const program = programFromStored(docs[0]!.program_settings);

    // Whose points each document moves: a return moves its sale's customer's; a sale whose
    // customer was unknown at intake may find them now.
    const whose = new Map<string, string | null>();
    for (const doc of docs) {
      const resolved =
        doc.customer_id ??
        doc.sale_customer_id ??
        (doc.match_status === "unmatched" && doc.body?.agent ? ((await resolveCustomer(tx, tenantId, customerRef(doc.body.agent)))?.id ?? null) : null);
      whose.set(doc.id, resolved);
    }
    // Their customers, locked in one order and never waited for: a customer another batch
    // holds keeps their documents for a later batch.
    const ids = [...new Set([...whose.values()].filter((id): id is string => id !== null))];
    const customers = new Map((await lockCustomers(tx, tenantId, ids, program)).map((c) => [c.id, c]));

    const welcomesFirstPurchase = program.settings.welcomePoints > 0 && program.settings.welcomeOn === "firstPurchase";
    const plain: PlainSale[] = [];
    const anonymous: SettlingRow[] = [];
    const oneByOne: SettlingRow[] = [];
    const seen = new Set<string>();
    for (const doc of docs) {
      const customerId = whose.get(doc.id) ?? null;
      const customer = customerId ? customers.get(customerId) : undefined;
      if (customerId && !customer) {
        out.deferred++;
        continue;
      }
      // A customer's later documents in this batch wait for the earlier (one by one, in
      // order), so every message tells the balance in order.
      const isPlain =
        opts.plain !== false &&
        doc.kind === "sale" &&
        doc.customer_id !== null &&
        customer !== undefined &&
        !seen.has(customer.id) &&
        // A first purchase may bring the welcome gift: then the one-document path grants it.
        (customer.purchases_count > 0 || !welcomesFirstPurchase) &&
        !customer.referral_waiting &&
        !customer.unsynced_other &&
        Number(customer.owed) <= Number(customer.spendable) &&
        Number(customer.lots_debt) === 0 &&
        !hasCertificatePayments(doc.body);
      if (customerId) seen.add(customerId);
      // A sale with no customer on it, or whose customer is still unknown (looked up again
      // above), moves no points: it is only marked settled.
      const isAnonymous = opts.plain !== false && doc.kind === "sale" && customerId === null && !hasCertificatePayments(doc.body);
      if (isPlain) plain.push(decidePlainSale(doc, customer!, program));
      else if (isAnonymous) anonymous.push(doc);
      else oneByOne.push(doc);
    }

    if (plain.length > 0) await settlePlainSales(tx, tenantId, plain, program, out);
    if (anonymous.length > 0) await settleAnonymousSales(tx, tenantId, anonymous, out);
    const settledSales = [...plain.map((p) => p.doc), ...anonymous];
    if (settledSales.length > 0) await releaseWaitingReturns(tx, tenantId, settledSales, out);
    return { out, oneByOne };
  });

  for (const doc of oneByOne) {
    let outcome: SettleOutcome;
    try {
      outcome = await settleDocument(sql, tenantId, doc.id);
    } catch (error) {
      await sql`update document set settle_failed_at = now() where tenant_id = ${tenantId} and id = ${doc.id} and state = 'received'`;
      out.failed.push({ documentId: doc.id, round: doc.settle_round, error });
      continue;
    }
    if (outcome.status === "settled") {
      out.settled++;
      out.movements.push(...outcome.movements);
      if (outcome.moment) out.moments.push(outcome.moment);
      out.walletDocuments.push(doc.id);
    }
    if (outcome.message) out.messages.push(outcome.message);
    out.releasedReturns += outcome.releasedReturns.length;
  }
  return out;
}

async function lockCustomers(tx: Queryable, tenantId: string, ids: string[], program: Program): Promise<LockedCustomer[]> {
  if (ids.length === 0) return [];
  const days = program.settings.tierWindowDays;
  const spendRate = program.rules.spendRateKopecks;
  // Each fact is a probe of one customer's rows through an index (laterals with limit 1):
  // as plain EXISTS the planner may hash a whole table instead.
  return tx<LockedCustomer[]>`
    select c.id, c.balance, c.tier, c.purchases_count, c.lots_debt,
      r.waiting is not null as referral_waiting, u.owed, u.other > 0 as unsynced_other, coalesce(s.spendable, 0) as spendable,
      w.wallet is not null as has_wallet,
      ${program.settings.tiers.length === 0 ? tx`0::bigint` : tx`p.kopecks`} as window_kopecks
    from customer c
    left join lateral (select true as waiting from referral r
      where r.tenant_id = c.tenant_id and r.referred_id = c.id and r.state = 'waiting' limit 1) r on true
    cross join lateral (select
        coalesce(-sum(e.points) filter (where e.kind = 'spend' and e.points < 0 and e.released_at is not null), 0)::bigint as owed,
        count(*) filter (where not (e.kind = 'spend' and e.points < 0 and e.released_at is not null)) as other
      from ledger_entry e
      where e.tenant_id = c.tenant_id and e.customer_id = c.id and not e.lots_synced) u
    left join lateral (select sum(l.remaining)::bigint as spendable
      from ${spendableLots(tx)} and u.owed > 0 and l.tenant_id = c.tenant_id and l.customer_id = c.id) s on true
    left join lateral (select true as wallet from wallet_pass w
      where w.tenant_id = c.tenant_id and w.customer_id = c.id limit 1) w on true
    ${
      program.settings.tiers.length === 0
        ? tx``
        : tx`left join lateral (
            select coalesce(sum(case when d.kind = 'sale' then d.total_kopecks + d.points_spent * ${spendRate}
                                     else -d.total_kopecks end), 0)::bigint as kopecks
            from document d
            where d.tenant_id = c.tenant_id and d.customer_id = c.id and d.state = 'settled'
              ${days === null ? tx`` : tx`and d.moment > now() - make_interval(days => ${days})`}) p on true`
    }
    where c.tenant_id = ${tenantId} and c.id = any(${ids}::uuid[])
    order by c.id
    for update of c skip locked`;
}

/** What a plain sale does, decided by the same rules as the one-document path. */
function decidePlainSale(doc: SettlingRow, customer: LockedCustomer, program: Program): PlainSale {
  const moment = doc.moment ?? doc.received_at;
  const decided = decideSaleEarn(program, (doc.promotions_then ?? []).map(promotionFromRow), customer.tier, {
    lines: doc.lines ?? storedSaleLines(doc.body),
    paidKopecks: doc.paid_kopecks,
    moment,
    spent: doc.points_spent_reported,
  });
  const earn = decided.earn;
  const pending = !!doc.accrual_available_at && doc.accrual_available_at.getTime() > Date.now();
  const lifetime = program.settings.pointsLifetimeDays;
  const spendableFrom = doc.accrual_available_at ?? moment;

  // The level after this sale: the window's settled purchases and this one (recomputeTier's rule).
  let tier: PlainSale["tier"] = { set: false, name: customer.tier, text: null };
  if (program.settings.tiers.length > 0 || customer.tier !== null) {
    const days = program.settings.tierWindowDays;
    const inWindow = days === null || (doc.moment !== null && doc.moment.getTime() > Date.now() - days * DAY_MS);
    const own = inWindow ? Number(doc.total_kopecks) + Number(doc.points_spent) * program.rules.spendRateKopecks : 0;
    const reached = tierForPurchases(program, Math.max(0, Number(customer.window_kopecks) + own));
    const name = reached?.name ?? null;
    tier = { set: true, name, text: name === customer.tier ? null : tierMessage(program, reached) };
  }

  let pointsText: string | null = null;
  if (doc.points_spent > 0 || earn > 0) {
    const balance = Number(customer.balance) + (pending ? 0 : earn);
    pointsText = renderTemplate(program.settings.pointsMessageTemplate, {
      change: changePhrase([-doc.points_spent, pending ? 0 : earn], pending ? { points: earn, at: doc.accrual_available_at! } : null),
      earned: earn,
      spent: doc.points_spent,
      balance,
    });
  }
  const flagged = decided.held > 0 || decided.anomalies.length > 0;
  return {
    doc,
    customer,
    earn,
    held: flagged ? decided.held : null,
    anomalies: decided.anomalies.join("; ") || null,
    pending,
    availableAt: doc.accrual_available_at,
    expiresAt: lifetime === null ? null : new Date(spendableFrom.getTime() + lifetime * DAY_MS),
    tier,
    message: joined(pointsText, tier.text),
  };
}

/**
 * The plain sales of a batch in four statements: accruals with their lots (a new credit of
 * a customer with no debt and nothing unsynced is exactly one new lot, as syncLots would
 * make it), customers (balances, purchases, levels), documents, and returns that waited.
 */
// (Instants travel as ISO text: postgres.js would send an array that starts with a Date as one timestamp.)
async function settlePlainSales(tx: Queryable, tenantId: string, sales: PlainSale[], program: Program, out: BatchOutcome): Promise<void> {
  const owing = sales.filter((s) => Number(s.customer.owed) > 0).map((s) => s.customer.id);
  if (owing.length > 0) await takeSpendsFromLots(tx, tenantId, owing);
  const earning = sales.filter((s) => s.earn > 0);
  const posted = new Map<string, { points: number; pending: boolean }>();
  if (earning.length > 0) {
    const rows = await tx<{ document_id: string; points: number; pending: boolean }[]>`
      with input as (
        select * from unnest(
          ${earning.map((s) => s.customer.id)}::uuid[], ${earning.map((s) => s.earn)}::bigint[],
          ${earning.map((s) => s.doc.id)}::uuid[], ${earning.map((s) => ledgerKey.saleAccrual(s.doc.id))}::text[],
          ${earning.map((s) => (s.pending ? s.availableAt!.toISOString() : null))}::timestamptz[],
          ${earning.map((s) => s.expiresAt?.toISOString() ?? null)}::timestamptz[]
        ) as t(customer_id, points, document_id, idempotency_key, pending_until, expires_at)
      ), posted as (
        insert into ledger_entry (tenant_id, customer_id, kind, points, available_at, released_at,
          document_id, idempotency_key, expires_at, lots_synced)
        select ${tenantId}, customer_id, 'accrual', points, coalesce(pending_until, now()),
          case when pending_until is null then now() end, document_id, idempotency_key, expires_at, true
        from input
        on conflict (tenant_id, idempotency_key) do nothing
        returning id, customer_id, points, document_id, expires_at, released_at
      ), lots as (
        insert into points_lot (tenant_id, customer_id, entry_id, document_id, points, remaining, expires_at)
        select ${tenantId}, customer_id, id, document_id, points, points, expires_at from posted
      )
      select document_id, points, released_at is null as pending from posted`;
    for (const r of rows) {
      posted.set(r.document_id, { points: Number(r.points), pending: r.pending });
      out.movements.push({ kind: "accrual", points: Number(r.points) });
    }
  }

  const today = localTime(new Date(), program.settings.timezone).date;
  await tx`
    update customer c set
      balance = c.balance + u.available, pending_balance = c.pending_balance + u.pending,
      purchases_count = c.purchases_count + 1, purchases_kopecks = c.purchases_kopecks + u.kopecks,
      tier = case when u.set_tier = 1 then u.tier else c.tier end,
      tier_checked_on = case when u.set_tier = 1 then ${today}::date else c.tier_checked_on end,
      updated_at = now()
    from unnest(
      ${sales.map((s) => s.customer.id)}::uuid[],
      ${sales.map((s) => (posted.get(s.doc.id)?.pending === false ? posted.get(s.doc.id)!.points : 0))}::bigint[],
      ${sales.map((s) => (posted.get(s.doc.id)?.pending ? posted.get(s.doc.id)!.points : 0))}::bigint[],
      ${sales.map((s) => Number(s.doc.total_kopecks))}::bigint[],
      ${sales.map((s) => (s.tier.set ? 1 : 0))}::int[],
      ${sales.map((s) => s.tier.name)}::text[]
    ) as u(id, available, pending, kopecks, set_tier, tier)
    where c.tenant_id = ${tenantId} and c.id = u.id and c.id = any(${sales.map((s) => s.customer.id)}::uuid[])`;

  await tx`
    update document d set state = 'settled', settled_at = now(), notice_text = u.notice, points_earned = u.earned,
      message_job = case when u.notice is not null then ${out.plainMessages.messageJob}::uuid end,
      held_earn_points = coalesce(u.held, d.held_earn_points),
      flag_reason = nullif(concat_ws('; ', d.flag_reason, u.anomalies), '')
    from unnest(
      ${sales.map((s) => s.doc.id)}::uuid[], ${sales.map((s) => s.message)}::text[], ${sales.map((s) => s.earn)}::bigint[],
      ${sales.map((s) => s.held)}::bigint[], ${sales.map((s) => s.anomalies)}::text[]
    ) as u(id, notice, earned, held, anomalies)
    where d.tenant_id = ${tenantId} and d.id = u.id and d.id = any(${sales.map((s) => s.doc.id)}::uuid[])`;


  for (const s of sales) {
    out.settled++;
    out.moments.push(s.doc.moment ?? s.doc.received_at);
    if (s.message) out.plainMessages.messages.push({ customerId: s.customer.id, documentId: s.doc.id, text: s.message });
    if (s.customer.has_wallet) out.walletCustomers.push(s.customer.id);
  }
}

/** Sales without a known customer: settled as the one-document path settles them (no points, no message). */
async function settleAnonymousSales(tx: Queryable, tenantId: string, sales: SettlingRow[], out: BatchOutcome): Promise<void> {
  await tx`
    update document set state = 'settled', settled_at = now(), notice_text = null
    where tenant_id = ${tenantId} and id = any(${sales.map((d) => d.id)}::uuid[])`;
  for (const doc of sales) {
    out.settled++;
    out.moments.push(doc.moment ?? doc.received_at);
  }
}

/** Returns that arrived before their sale are the tenant's to settle again (the caller's next batch). */
async function releaseWaitingReturns(tx: Queryable, tenantId: string, sales: SettlingRow[], out: BatchOutcome): Promise<void> {
  out.releasedReturns += (await releaseReturnsOf(tx, tenantId, sales.map((d) => d.external_key))).length;
}
