// Operators' list of stored sales and returns, newest first, a page at a time. Pages are
// keyed on (received_at, id) — not offsets — so every document stays reachable however
// many there are, and a page does not shift when new sales arrive meanwhile. The cursor
// carries received_at to the microsecond (a JS Date would round it to milliseconds and
// skip or repeat documents received within one).
import type { Sql } from "../db/client.ts";
import { errors } from "../errors.ts";

export type DocumentState = "received" | "waiting" | "settled" | "flagged";

export interface DocumentRow {
  id: string;
  kind: string;
  external_key: string;
  name: string | null;
  moment: Date | null;
  customer_id: string | null;
  match_status: string;
  state: string;
  flag_reason: string | null;
  total_kopecks: number;
  points_spent: number;
  points_earned: number;
  points_spent_reported: number;
  held_spend_points: number;
  held_earn_points: number;
  hold_decision: "approved" | "rejected" | null;
  gift_card_shortfall_kopecks: number;
  sale_key: string | null;
  received_at: Date;
  settled_at: Date | null;
  /** Where the next page starts when this is the last row of a page. */
  cursor: string;
}

export interface DocumentFilter {
  /** Something did not add up, points wait for a decision, no customer, or a return without its sale. */
  attention?: boolean;
  /** Points (spent beyond the balance, earned beyond the per-receipt bound) waiting for an operator's decision. */
  held?: boolean;
  state?: DocumentState;
  customerId?: string;
  limit: number;
  /** A cursor from a previous page (`nextBefore`): only documents older than it. */
  before?: string;
}

export interface DocumentPage {
  rows: DocumentRow[];
  /** The cursor of the next page; null when this page is the last. */
  nextBefore: string | null;
}

interface Cursor {
  receivedAt: string;
  id: string;
}

// 2026-05-01T10:00:00.123456Z_<uuid>: received_at in UTC to the microsecond, then the id.
const CURSOR = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}Z_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

const daysIn = (year: number, month: number) =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;

/** Reads a cursor this list gave out; anything else is the caller's mistake, said in words. */
export function parseDocumentCursor(text: string): Cursor {
  const m = CURSOR.exec(text);
  const [y, mo, d, h, mi, s] = (m?.slice(1, 7) ?? []).map(Number) as number[];
  if (!m || y! < 1 || mo! < 1 || mo! > 12 || d! < 1 || d! > daysIn(y!, mo!) || h! > 23 || mi! > 59 || s! > 59) {
    throw errors.validation(
      "Неверное значение параметра запроса «before»: передайте nextBefore из предыдущего ответа как есть (например 2026-05-01T10:00:00.123456Z_<id документа>).",
      "before",
    );
  }
  return { receivedAt: text.slice(0, text.indexOf("_")), id: m[7]!.toLowerCase() };
}

export async function listDocuments(sql: Sql, tenantId: string, filter: DocumentFilter): Promise<DocumentPage> {
  const before = filter.before !== undefined ? parseDocumentCursor(filter.before) : null;
  // One more than asked: whether there is a next page, without a second query. The cursor's
  // time goes in as text: a timestamptz parameter would pass through a JS Date (milliseconds).
  const rows = await sql<DocumentRow[]>`
    select id, kind, external_key, name, moment, customer_id, match_status, state, flag_reason,
      total_kopecks, points_spent, points_earned, points_spent_reported, held_spend_points, held_earn_points, hold_decision,
      gift_card_shortfall_kopecks, sale_key, received_at, settled_at,
      to_char(received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '_' || id as cursor
    from document
    where tenant_id = ${tenantId}
      ${filter.attention ? sql`and (state in ('flagged', 'waiting') or match_status = 'unmatched' or flag_reason is not null
        or ((held_spend_points > 0 or held_earn_points > 0) and hold_decision is null))` : sql``}
      ${filter.held ? sql`and (held_spend_points > 0 or held_earn_points > 0) and hold_decision is null` : sql``}
      ${filter.state ? sql`and state = ${filter.state}` : sql``}
      ${filter.customerId ? sql`and customer_id = ${filter.customerId}` : sql``}
      ${before ? sql`and (received_at, id) < (${before.receivedAt}::text::timestamptz, ${before.id}::uuid)` : sql``}
    order by received_at desc, id desc
    limit ${filter.limit + 1}`;
  const more = rows.length > filter.limit;
  const page = more ? rows.slice(0, filter.limit) : [...rows];
  return { rows: page, nextBefore: more ? page[page.length - 1]!.cursor : null };
}
