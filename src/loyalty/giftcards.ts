// Gift certificates: issued by an operator, looked up by the POS, spent as payment in a
// sale and put back by its returns. Every change of a certificate's money is an entry of
// its own append-only kopeck ledger (gift_card_entry) with an idempotency key, posted in
// the same transaction as the running balance it moves.
import { t } from "elysia";
import type { Queryable, Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { asUuid } from "./customers.ts";
import { returnedShare } from "./engine.ts";
import { formatRoubles } from "./money.ts";

/** A certificate's status, in the protocol's words (the POS and operators see the same). */
export const GiftCardStatus = t.Union([
  t.Literal("CAN_BE_USED"),
  t.Literal("PARTIALLY_REDEEMED"),
  t.Literal("EXPIRED"),
  t.Literal("REDEEMED"),
  t.Literal("INVALID"),
]);
export type GiftCardStatus = typeof GiftCardStatus.static;
export const GIFT_CARD_STATUSES: readonly GiftCardStatus[] = GiftCardStatus.anyOf.map((s) => s.const);

export type GiftCardEntryKind = "issue" | "redeem" | "refund";

export interface GiftCardRow {
  id: string;
  name: string;
  initial_balance: number;
  balance: number;
  expire_at: Date | null;
  blocked_at: Date | null;
  block_reason: string | null;
  created_at: Date;
}

export interface GiftCardEntryRow {
  id: number;
  gift_card_id: string;
  kind: GiftCardEntryKind;
  kopecks: number;
  document_id: string | null;
  idempotency_key: string;
  created_at: Date;
}

const cardColumns = (sql: Queryable) => sql`id, name, initial_balance, balance, expire_at, blocked_at, block_reason, created_at`;
const entryColumns = (sql: Queryable) => sql`id, gift_card_id, kind, kopecks, document_id, idempotency_key, created_at`;

/**
 * A certificate's status at `at`: INVALID if blocked (whenever that was), EXPIRED once its
 * date has come by `at`, then by balance (REDEEMED at 0, PARTIALLY_REDEEMED below the
 * initial amount).
 */
export function giftCardStatus(
  card: Pick<GiftCardRow, "balance" | "initial_balance" | "expire_at" | "blocked_at">,
  at: Date = new Date(),
): GiftCardStatus {
  if (card.blocked_at) return "INVALID";
  if (card.expire_at && card.expire_at.getTime() <= at.getTime()) return "EXPIRED";
  if (card.balance <= 0) return "REDEEMED";
  if (card.balance < card.initial_balance) return "PARTIALLY_REDEEMED";
  return "CAN_BE_USED";
}

/** The same rule in SQL (listing filter), over a `gift_card` row aliased as `c`. */
const statusSql = (sql: Queryable) => sql`
  case when c.blocked_at is not null then 'INVALID'
       when c.expire_at is not null and c.expire_at <= now() then 'EXPIRED'
       when c.balance <= 0 then 'REDEEMED'
       when c.balance < c.initial_balance then 'PARTIALLY_REDEEMED'
       else 'CAN_BE_USED' end`;

/** "YYYY-MM-DD HH:mm:ss" in UTC, as the protocol writes a certificate's expireDate. */
export function formatUtc(d: Date): string {
  return d.toISOString().slice(0, 19).replace("T", " ");
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * An expiry as the operator typed it: "YYYY-MM-DD HH:mm:ss" (UTC, as the protocol) or
 * ISO 8601 (UTC unless it says otherwise). Null when it is not a real moment.
 */
export function parseExpireDate(s: string): Date | null {
  const m = DATE_TIME.exec(s.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, sec = "00", ms = "0", zone] = m;
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${sec}.${ms.padEnd(3, "0")}${zone ? (zone === "Z" ? "Z" : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone) : "Z"}`;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return null;
  // Date normalises 2026-02-31 into March: refuse dates that do not exist.
  const check = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (check.getUTCFullYear() !== Number(y) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)) return null;
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return null;
  return date;
}

// --- the ledger -------------------------------------------------------------------

interface NewGiftCardEntry {
  cardId: string;
  kind: GiftCardEntryKind;
  /** Signed: issue and refund add, redeem takes. Never zero. */
  kopecks: number;
  idempotencyKey: string;
  documentId?: string | null;
}

/**
 * Appends one entry and moves the certificate's running balance with it, in the caller's
 * transaction (which should hold the certificate's row lock). A repeated idempotency key
 * changes nothing and returns the first entry.
 */
export async function postGiftCardEntry(
  tx: Queryable,
  tenantId: string,
  e: NewGiftCardEntry,
): Promise<{ entry: GiftCardEntryRow; inserted: boolean }> {
  const [inserted] = await tx<GiftCardEntryRow[]>`
    insert into gift_card_entry (tenant_id, gift_card_id, kind, kopecks, document_id, idempotency_key)
    values (${tenantId}, ${e.cardId}, ${e.kind}, ${e.kopecks}, ${e.documentId ?? null}, ${e.idempotencyKey})
    on conflict (tenant_id, idempotency_key) do nothing
    returning ${entryColumns(tx)}`;
  if (!inserted) {
    const [existing] = await tx<GiftCardEntryRow[]>`
      select ${entryColumns(tx)} from gift_card_entry
      where tenant_id = ${tenantId} and idempotency_key = ${e.idempotencyKey}`;
    return { entry: existing!, inserted: false };
  }
  await tx`update gift_card set balance = balance + ${e.kopecks}
           where tenant_id = ${tenantId} and id = ${e.cardId}`;
  return { entry: inserted, inserted: true };
}

// --- operators --------------------------------------------------------------------

export interface NewGiftCard {
  name: string;
  initialBalance: number;
  expireAt: Date | null;
}

/** Issues a certificate: the card and its `issue` entry of +initialBalance, together. */
export async function issueGiftCard(sql: Sql, tenantId: string, input: NewGiftCard): Promise<GiftCardRow> {
  const name = input.name.trim();
  if (name.length < 1 || name.length > 128) throw errors.validation("Номер сертификата: от 1 до 128 символов.", "name");
  if (!Number.isSafeInteger(input.initialBalance) || input.initialBalance <= 0) {
    throw errors.validation("Номинал сертификата — целое число копеек больше нуля.", "initialBalance");
  }
  if (input.expireAt && input.expireAt.getTime() <= Date.now()) {
    throw errors.validation("Срок действия сертификата уже прошёл.", "expireDate");
  }
  try {
    return await sql.begin(async (tx) => {
      const [card] = await tx<GiftCardRow[]>`
        insert into gift_card (tenant_id, name, initial_balance, expire_at)
        values (${tenantId}, ${name}, ${input.initialBalance}, ${input.expireAt})
        returning id`;
      await postGiftCardEntry(tx, tenantId, {
        cardId: card!.id,
        kind: "issue",
        kopecks: input.initialBalance,
        idempotencyKey: `issue:${card!.id}`,
      });
      const [issued] = await tx<GiftCardRow[]>`
        select ${cardColumns(tx)} from gift_card where tenant_id = ${tenantId} and id = ${card!.id}`;
      return issued!;
    });
  } catch (e: any) {
    if (e?.code === "23505") throw errors.conflict(`Сертификат с номером «${name}» уже есть.`, "name");
    throw e;
  }
}

export async function listGiftCards(
  sql: Sql,
  tenantId: string,
  opts: { status?: GiftCardStatus | null; limit?: number } = {},
): Promise<GiftCardRow[]> {
  return sql<GiftCardRow[]>`
    select ${cardColumns(sql)} from gift_card c
    where c.tenant_id = ${tenantId}
      ${opts.status ? sql`and (${statusSql(sql)}) = ${opts.status}` : sql``}
    order by c.created_at desc, c.id desc
    limit ${opts.limit ?? 100}`;
}

export async function findGiftCard(sql: Sql, tenantId: string, name: string): Promise<GiftCardRow | null> {
  const [card] = await sql<GiftCardRow[]>`
    select ${cardColumns(sql)} from gift_card where tenant_id = ${tenantId} and name = ${name.trim()}`;
  return card ?? null;
}

/**
 * A certificate as the till should see it: its balance less the certificate payments of
 * sales already answered 201 but not yet settled (the same rule as points: what the POS
 * was told about is spent). One statement, so one snapshot.
 */
export async function giftCardForPos(sql: Sql, tenantId: string, name: string): Promise<(GiftCardRow & { unsettled: number }) | null> {
  const [card] = await sql<(GiftCardRow & { unsettled: number })[]>`
    select ${cardColumns(sql)},
      (select coalesce(sum((g->>'paymentSum')::bigint), 0)::bigint
       from document d
       cross join lateral jsonb_array_elements(
         case when jsonb_typeof(d.body->'giftCards') = 'array' then d.body->'giftCards' else '[]'::jsonb end) g
       where d.tenant_id = c.tenant_id and d.kind = 'sale' and d.state = 'received'
         and jsonb_typeof(g->'paymentSum') = 'number'
         and (btrim(g->>'name') = c.name
              -- by our id only when no certificate has the entry's number (as settlement)
              or (g->>'id' = c.id::text
                  and (select o.id from gift_card o
                       where o.tenant_id = c.tenant_id and o.name = btrim(g->>'name')) is null))
      ) as unsettled
    from gift_card c
    where c.tenant_id = ${tenantId} and c.name = ${name.trim()}`;
  return card ?? null;
}

export async function giftCardEntries(sql: Sql, tenantId: string, cardId: string, limit = 500): Promise<GiftCardEntryRow[]> {
  return sql<GiftCardEntryRow[]>`
    select ${entryColumns(sql)} from gift_card_entry
    where tenant_id = ${tenantId} and gift_card_id = ${cardId}
    order by id desc
    limit ${limit}`;
}

/** Blocks a certificate (status INVALID from now on). Blocking again keeps the first time. */
export async function blockGiftCard(sql: Sql, tenantId: string, name: string, reason: string | null): Promise<GiftCardRow | null> {
  const [card] = await sql<GiftCardRow[]>`
    update gift_card set blocked_at = coalesce(blocked_at, now()), block_reason = coalesce(${reason}, block_reason)
    where tenant_id = ${tenantId} and name = ${name.trim()}
    returning ${cardColumns(sql)}`;
  return card ?? null;
}

// --- sales and returns ------------------------------------------------------------

interface GiftCardPayment {
  id?: unknown;
  name?: unknown;
  paymentSum?: unknown;
}

/** Whether a sale was paid partly by certificates (settlement then redeems them). */
export function hasCertificatePayments(body: unknown): boolean {
  return payments(body).length > 0;
}

function payments(body: any): { name: string | null; id: string | null; kopecks: number }[] {
  const list: GiftCardPayment[] = Array.isArray(body?.giftCards) ? body.giftCards : [];
  const out: { name: string | null; id: string | null; kopecks: number }[] = [];
  for (const g of list) {
    const kopecks = typeof g?.paymentSum === "number" && Number.isSafeInteger(g.paymentSum) ? g.paymentSum : 0;
    if (kopecks <= 0) continue;
    const name = typeof g.name === "string" && g.name.trim() ? g.name.trim() : null;
    const id = typeof g.id === "string" && g.id.trim() ? g.id.trim() : null;
    out.push({ name, id, kopecks });
  }
  return out;
}

export interface RedemptionResult {
  /** Kopecks taken from certificates by this sale (now or by an earlier run). */
  redeemed: number;
  /** Certificate payments nothing could cover. */
  shortfall: number;
  /** Why, for the operator; null when everything was covered. */
  problems: string[];
}

/**
 * Takes the sale's certificate payments (giftCards[]) from the certificates, in the
 * settlement transaction. Each entry is matched by its number (`name`), else by our id;
 * several entries for one certificate are summed. A certificate pays at most its balance.
 * The sale is a fact — the till already took the certificate — so what cannot be covered
 * (unknown, blocked, expired at the sale's moment, more than the balance) is recorded on
 * the document (gift_card_shortfall_kopecks, flag_reason) for an operator, not refused.
 */
export async function redeemForSale(
  tx: Queryable,
  tenantId: string,
  sale: { id: string; body: any; moment?: Date | null },
): Promise<RedemptionResult> {
  const list = payments(sale.body);
  const result: RedemptionResult = { redeemed: 0, shortfall: 0, problems: [] };
  if (list.length === 0) return result;
  const at = sale.moment ?? new Date();
  const names = [...new Set(list.flatMap((p) => (p.name ? [p.name] : [])))];
  const ids = [...new Set(list.flatMap((p) => asUuid(p.id) ?? []))];
  // Every certificate the sale may touch, locked in one order (by id) so concurrent
  // settlements of sales sharing certificates cannot deadlock.
  const cards = await tx<GiftCardRow[]>`
    select ${cardColumns(tx)} from gift_card
    where tenant_id = ${tenantId} and (name = any(${names}::text[]) or id = any(${ids}::uuid[]))
    order by id
    for update`;
  const byName = new Map(cards.map((c) => [c.name, c]));
  const byId = new Map(cards.map((c) => [c.id, c]));

  const perCard = new Map<string, { card: GiftCardRow; kopecks: number }>();
  const unknown = new Map<string, number>();
  for (const p of list) {
    const card = (p.name ? byName.get(p.name) : undefined) ?? (p.id ? byId.get(p.id.toLowerCase()) : undefined);
    if (card) {
      const slot = perCard.get(card.id) ?? { card, kopecks: 0 };
      slot.kopecks += p.kopecks;
      perCard.set(card.id, slot);
    } else {
      const label = p.name ? `«${p.name}»` : p.id ? `с id ${p.id}` : "без номера";
      unknown.set(label, (unknown.get(label) ?? 0) + p.kopecks);
    }
  }
  for (const [label, kopecks] of unknown) {
    result.shortfall += kopecks;
    result.problems.push(`Сертификат ${label} не найден: оплата ${formatRoubles(kopecks)} ₽ не списана`);
  }

  for (const { card, kopecks } of [...perCard.values()].sort((a, b) => (a.card.id < b.card.id ? -1 : 1))) {
    const key = `sale:${sale.id}:giftcard:${card.id}`;
    const [done] = await tx<{ kopecks: number }[]>`
      select kopecks from gift_card_entry where tenant_id = ${tenantId} and idempotency_key = ${key}`;
    // Already taken by an earlier run of this settlement: the balance already shows it.
    const balanceBefore = card.balance + (done ? -done.kopecks : 0);
    const status = giftCardStatus({ ...card, balance: balanceBefore }, at);
    let take = 0;
    if (status === "INVALID") {
      result.problems.push(`Сертификат «${card.name}» заблокирован: оплата ${formatRoubles(kopecks)} ₽ не списана`);
    } else if (status === "EXPIRED") {
      result.problems.push(
        `Сертификат «${card.name}» просрочен (действовал до ${formatUtc(card.expire_at!)} UTC): оплата ${formatRoubles(kopecks)} ₽ не списана`,
      );
    } else {
      take = Math.min(kopecks, balanceBefore);
      if (take < kopecks) {
        result.problems.push(
          `Сертификатом «${card.name}» оплачено ${formatRoubles(kopecks)} ₽, на нём было ${formatRoubles(balanceBefore)} ₽: списано ${formatRoubles(take)} ₽, не хватило ${formatRoubles(kopecks - take)} ₽`,
        );
      }
    }
    if (done) take = -done.kopecks;
    else if (take > 0) {
      await postGiftCardEntry(tx, tenantId, { cardId: card.id, kind: "redeem", kopecks: -take, documentId: sale.id, idempotencyKey: key });
    }
    result.redeemed += take;
    result.shortfall += kopecks - take;
  }

  if (result.problems.length > 0) {
    await tx`
      update document set gift_card_shortfall_kopecks = ${result.shortfall},
        flag_reason = concat_ws('; ', flag_reason, ${result.problems.join("; ") + "."}::text)
      where tenant_id = ${tenantId} and id = ${sale.id}`;
  }
  return result;
}

export interface RefundResult {
  /** Kopecks put back on certificates by this return. */
  refunded: number;
  problems: string[];
}

/**
 * Puts certificate money back for a return of `sale`, in the settlement transaction that
 * holds the sale's row lock. Money follows money: each certificate gets back its share of
 * what the sale took from it in proportion to the money returned (Σ returns' total_kopecks
 * against the sale's total_kopecks), cumulatively — so partial returns add up and a full
 * return puts back exactly what was taken.
 */
export async function refundForReturn(
  tx: Queryable,
  tenantId: string,
  ret: { id: string; total_kopecks: number },
  sale: { id: string },
): Promise<RefundResult> {
  const result: RefundResult = { refunded: 0, problems: [] };
  const [s] = await tx<{ total_kopecks: number; returned_money_kopecks: number }[]>`
    select total_kopecks, returned_money_kopecks from document
    where tenant_id = ${tenantId} and id = ${sale.id}
    for update`;
  if (!s) return result;
  const before = s.returned_money_kopecks;
  const after = Math.min(s.total_kopecks, before + ret.total_kopecks);
  if (after !== before) {
    await tx`update document set returned_money_kopecks = ${after} where tenant_id = ${tenantId} and id = ${sale.id}`;
  }
  const taken = await tx<{ gift_card_id: string; kopecks: number }[]>`
    select gift_card_id, (-sum(kopecks))::bigint as kopecks from gift_card_entry
    where tenant_id = ${tenantId} and document_id = ${sale.id} and kind = 'redeem'
    group by gift_card_id
    order by gift_card_id`;
  if (taken.length === 0) return result;
  const cards = await tx<GiftCardRow[]>`
    select ${cardColumns(tx)} from gift_card
    where tenant_id = ${tenantId} and id = any(${taken.map((t) => t.gift_card_id)}::uuid[])
    order by id
    for update`;
  const byId = new Map(cards.map((c) => [c.id, c]));
  for (const t of taken) {
    const back = returnedShare(t.kopecks, after, s.total_kopecks) - returnedShare(t.kopecks, before, s.total_kopecks);
    if (back <= 0) continue;
    const card = byId.get(t.gift_card_id)!;
    const { inserted } = await postGiftCardEntry(tx, tenantId, {
      cardId: card.id,
      kind: "refund",
      kopecks: back,
      documentId: ret.id,
      idempotencyKey: `return:${ret.id}:giftcard:${card.id}`,
    });
    if (!inserted) continue;
    result.refunded += back;
    const status = giftCardStatus(card);
    if (status === "INVALID" || status === "EXPIRED") {
      result.problems.push(
        `${formatRoubles(back)} ₽ возвращены на сертификат «${card.name}», но он ${status === "INVALID" ? "заблокирован" : "просрочен"}: покупатель не сможет ими оплатить`,
      );
    }
  }
  if (result.problems.length > 0) {
    await tx`
      update document set flag_reason = concat_ws('; ', flag_reason, ${result.problems.join("; ") + "."}::text)
      where tenant_id = ${tenantId} and id = ${ret.id}`;
  }
  return result;
}
