import { randomBytes } from "node:crypto";
import type { PendingQuery, Row } from "postgres";
import type { Queryable, Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { normalizePhone, phonePrefix } from "./phone.ts";

export type Fragment = PendingQuery<Row[]>;

export type StatusCheck = "UNCHECKED" | "CHECKED" | "IGNORE";
export type Sex = "MALE" | "FEMALE";

export interface CustomerRow {
  id: string;
  ms_id: string | null;
  sync_id: string | null;
  name: string | null;
  legal_first_name: string | null;
  legal_middle_name: string | null;
  legal_last_name: string | null;
  phone: string | null;
  card_number: string | null;
  qr_token: string | null;
  email: string | null;
  birth_date: string | null; // 'YYYY-MM-DD'
  sex: Sex | null;
  status_check: StatusCheck;
  balance: number;
  pending_balance: number;
  /** The level as last computed (src/loyalty/tiers.ts); null = the base level. */
  tier: string | null;
  created_at: Date;
  updated_at: Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function asUuid(value: string | null | undefined): string | null {
  return value && UUID.test(value) ? value.toLowerCase() : null;
}

/**
 * A МойСклад reference: the id, or the last segment of its href when id is absent. Kept
 * as the POS sent it — the documentation's own ids are not always valid UUIDs, and they
 * are still ids the POS will name the customer by.
 */
export function refId(meta: { id?: string | null; href?: string | null } | null | undefined): string | null {
  if (!meta) return null;
  const clean = (v: string | null | undefined) => {
    const x = v?.trim();
    return x && x.length <= 64 ? (UUID.test(x) ? x.toLowerCase() : x) : null;
  };
  const direct = clean(meta.id);
  if (direct) return direct;
  return clean(meta.href?.split("?")[0]?.split("/").filter(Boolean).pop());
}

// Only columns a caller can read: selecting them by name keeps the row shape stable.
const CUSTOMER_COLUMNS = `
  id, ms_id, sync_id, name, legal_first_name, legal_middle_name, legal_last_name, phone,
  card_number, qr_token, email, to_char(birth_date, 'YYYY-MM-DD') as birth_date, sex,
  status_check, balance, pending_balance, tier, created_at, updated_at`;
const customerColumns = (sql: Queryable) => sql.unsafe(CUSTOMER_COLUMNS);

export async function getCustomer(sql: Sql, tenantId: string, id: string): Promise<CustomerRow | null> {
  const uuid = asUuid(id);
  if (!uuid) return null;
  const [row] = await sql<CustomerRow[]>`
    select ${customerColumns(sql)} from customer where tenant_id = ${tenantId} and id = ${uuid}`;
  return row ?? null;
}

// ---------------------------------------------------------------------------------
// Resolution: which customer a POS call means.

export interface CustomerRef {
  /** meta.id of the counterparty: МойСклад's id, or ours when the POS took it from search. */
  metaId: string | null;
  card: string | null;
  phone: string | null;
}

export function customerRef(input: {
  meta?: { id?: string | null; href?: string | null } | null;
  discountCardNumber?: string | null;
  phone?: string | null;
}): CustomerRef {
  const card = input.discountCardNumber?.trim() || null;
  return { metaId: refId(input.meta), card, phone: normalizePhone(input.phone) };
}

export function hasRef(ref: CustomerRef): boolean {
  return ref.metaId !== null || ref.card !== null || ref.phone !== null;
}

/** What the till reads of the customer a call names (recalc, detail, verify, a late match at settlement). */
export interface ResolvedCustomer {
  id: string;
  ms_id: string | null;
  phone: string | null;
  balance: number;
  /** The level as last computed; null = the base level. */
  tier: string | null;
  /** Which key found them (customerLookup's branch). */
  via: FoundBy;
}

/** customerLookup's branches, best match first; the numbers are the `via` its SQL returns. */
export const FoundBy = { msId: 1, ourId: 2, card: 3, phone: 4 } as const;
export type FoundBy = (typeof FoundBy)[keyof typeof FoundBy];

/** Which customer a POS reference names, in one round trip (see customerLookup). */
export async function resolveCustomer(sql: Queryable, tenantId: string, ref: CustomerRef): Promise<ResolvedCustomer | null> {
  if (!hasRef(ref)) return null;
  const [row] = await customerLookup(sql, tenantId, ref, sql`id, ms_id, phone, balance, tier`);
  return (row as ResolvedCustomer | undefined) ?? null;
}

/**
 * The lookup behind resolveCustomer as a query (columns plus `via`, at most one row), for
 * statements that resolve the customer and act in one round trip.
 *
 * Every way a reference can name a customer, best match first (FoundBy: 1 МойСклад id,
 * 2 our id — only a UUID can be one —, 3 card, 4 phone). Each branch is one unique-index probe; Postgres runs
 * UNION ALL branches in order and LIMIT 1 stops at the first hit, so the usual call (a
 * known МойСклад id) costs one probe. A key the POS did not send is a NULL, which matches
 * nothing without touching the index: the statement has one shape whatever was sent, so
 * each connection prepares it once, and its generic plan is the same index probes in a
 * fresh database as at a million customers.
 */
export function customerLookup(sql: Queryable, tenantId: string, ref: CustomerRef, columns: Fragment): Fragment {
  return customerLookupBy(
    sql,
    sql`${tenantId}`,
    { metaId: sql`${ref.metaId}`, ourId: sql`${asUuid(ref.metaId)}::uuid`, card: sql`${ref.card}`, phone: sql`${ref.phone}` },
    columns,
  );
}

/** The same probes, in the same order, with the keys as SQL (columns of a row, for one statement over many). */
export function customerLookupBy(
  sql: Queryable,
  tenantId: Fragment,
  keys: { metaId: Fragment; ourId: Fragment; card: Fragment; phone: Fragment },
  columns: Fragment,
): Fragment {
  return sql`
    (select ${columns}, 1 as via from customer where tenant_id = ${tenantId} and ms_id = ${keys.metaId})
    union all
    (select ${columns}, 2 as via from customer where tenant_id = ${tenantId} and id = ${keys.ourId})
    union all
    (select ${columns}, 3 as via from customer where tenant_id = ${tenantId} and card_number = ${keys.card})
    union all
    (select ${columns}, 4 as via from customer where tenant_id = ${tenantId} and phone = ${keys.phone})
    limit 1`;
}

/**
 * When a customer was found by card or phone, remember the МойСклад id the POS used,
 * so later calls find them by it directly. Best effort: another customer may hold it.
 */
export async function rememberMsId(sql: Sql, tenantId: string, customer: ResolvedCustomer, ref: CustomerRef): Promise<void> {
  const byIdentity = customer.via === FoundBy.msId || customer.via === FoundBy.ourId;
  if (byIdentity || !ref.metaId || customer.ms_id) return;
  await sql`
    update customer set ms_id = ${ref.metaId}, updated_at = now()
    where tenant_id = ${tenantId} and id = ${customer.id} and ms_id is null
      and not exists (select 1 from customer where tenant_id = ${tenantId} and ms_id = ${ref.metaId})`.catch(
    (e) => {
      if (e?.code !== "23505") throw e;
    },
  );
}

// ---------------------------------------------------------------------------------
// Search as the cashier types: phone in any notation, card number, QR payload, name.

export const SEARCH_LIMIT = 20;

/** What a QR code may hold: the card or token itself, or a URL ending in it or carrying it. */
export function qrCandidates(text: string): string[] {
  const out = new Set<string>();
  const t = text.trim();
  if (t) out.add(t);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t) || /^www\./i.test(t)) {
    try {
      const url = new URL(/^www\./i.test(t) ? `https://${t}` : t);
      const last = url.pathname.split("/").filter(Boolean).pop();
      if (last) out.add(decodeURIComponent(last));
      for (const v of url.searchParams.values()) if (v) out.add(v);
      if (url.hash.length > 1) out.add(decodeURIComponent(url.hash.slice(1)));
    } catch {
      // not a URL after all: the raw text is already a candidate
    }
  }
  return [...out].filter((s) => s.length <= 200).slice(0, 10);
}

/**
 * The smallest string greater than every string that starts with `prefix` (code point
 * order, which is UTF-8 byte order). Steps over the surrogate range, and carries into the
 * previous character past U+10FFFF; null when there is no such string (no upper bound).
 */
export function prefixEnd(prefix: string): string | null {
  const points = [...prefix];
  while (points.length > 0) {
    const cp = points.pop()!.codePointAt(0)!;
    if (cp < 0x10ffff) return points.join("") + String.fromCodePoint(cp === 0xd7ff ? 0xe000 : cp + 1);
  }
  return null;
}

/**
 * What a search may hold: NFC text without control characters, noncharacters (U+FFFE,
 * U+FFFF, …) and lone surrogates — none of them is in a name, phone or card, and
 * Postgres refuses some of them in text.
 */
export function searchText(s: string): string {
  let out = "";
  for (const ch of s.normalize("NFC")) {
    const cp = ch.codePointAt(0)!;
    const control = cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
    const surrogate = cp >= 0xd800 && cp <= 0xdfff;
    const nonchar = (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe;
    if (!control && !surrogate && !nonchar) out += ch;
  }
  return out;
}

/**
 * The index range [from, to) of strings that start with `prefix`; both NULL (matching
 * nothing) when there is no prefix. searchText drops noncharacters, U+10FFFF among them,
 * so a search's prefix always has an end; one without is treated as no prefix.
 */
function prefixRange(prefix: string | null): [string | null, string | null] {
  const end = prefix === null ? null : prefixEnd(prefix);
  return end === null ? [null, null] : [prefix, end];
}

/**
 * Search as the cashier types. What the POS sends is nearly always exact (a scanned card
 * or QR code, a full phone): one statement of index probes answers it. Only when nothing
 * matches exactly does a second statement look for prefixes (the cashier typing) and
 * names. (One statement for both was measured: the skipped fallback's plan nodes are
 * still set up on every execution, and Postgres spent 268 µs per search instead of 159
 * at a million customers.) Every branch is one index probe — an equality, one per QR
 * candidate rather than `= any`, which a table without statistics plans as a filter — or
 * one ordered index range with its own LIMIT; a key the text cannot be is a NULL, which
 * matches nothing without reading its index. No join and no OR across columns: the plans
 * are the same in a fresh database as at a million customers (test/query-plans.test.ts).
 * Exact matches first, then prefixes of phone or card, then names; by name within each.
 */
export async function searchCustomers(sql: Sql, tenantId: string, search: string, limit = SEARCH_LIMIT): Promise<CustomerRow[]> {
  const text = searchText(search).trim().slice(0, 200);
  if (!text) return [];
  const columns = customerColumns(sql);
  const [raw, ...more] = qrCandidates(text);
  // At most one customer per probe (the keys are unique), so no LIMIT; one found by two
  // keys (a phone and a card) is answered once.
  const exact = await sql<CustomerRow[]>`
    select * from (
      (select ${columns} from customer where tenant_id = ${tenantId} and phone = ${normalizePhone(text)})
      union all
      (select ${columns} from customer where tenant_id = ${tenantId} and card_number = ${raw!})
      union all
      (select ${columns} from customer where tenant_id = ${tenantId} and qr_token = ${raw!})
      ${more.length === 0 ? sql`` : sql`
      union all
      -- A URL's other parts (its last segment, query values).
      (select found.* from unnest(${more}::text[]) as candidate (token) cross join lateral (
        (select ${columns} from customer where tenant_id = ${tenantId} and card_number = candidate.token limit 1)
        union all
        (select ${columns} from customer where tenant_id = ${tenantId} and qr_token = candidate.token limit 1)) found)`}
    ) exact
    order by name nulls last, id`;
  if (exact.length > 0) return [...new Map(exact.map((c) => [c.id, c])).values()].slice(0, limit);
  const [phoneFrom, phoneTo] = prefixRange(phonePrefix(text));
  const [cardFrom, cardTo] = prefixRange(text.length >= 3 ? text : null);
  const [nameFrom, nameTo] = prefixRange(/\p{L}/u.test(text) && text.length >= 2 ? text.toLowerCase() : null);
  if (phoneFrom === null && cardFrom === null && nameFrom === null) return [];
  return sql<CustomerRow[]>`
    select * from (select distinct on (id) * from (
      (select ${columns}, 1 as search_rank from customer
        where tenant_id = ${tenantId} and phone >= ${phoneFrom} and phone < ${phoneTo}
        order by phone limit ${limit})
      union all
      (select ${columns}, 1 from customer
        where tenant_id = ${tenantId} and card_number >= ${cardFrom} and card_number < ${cardTo}
        order by card_number limit ${limit})
      union all
      (select ${columns}, 2 from customer
        where tenant_id = ${tenantId} and lower(name) collate "C" >= ${nameFrom} and lower(name) collate "C" < ${nameTo}
        order by lower(name) collate "C" limit ${limit})
    ) typed order by id, search_rank) found
    order by search_rank, name nulls last, id
    limit ${limit}`;
}

// ---------------------------------------------------------------------------------
// Create or link-and-update (POST /counterparty).

export interface CustomerFields {
  msId: string | null;
  syncId: string | null;
  name: string | null;
  legalFirstName: string | null;
  legalMiddleName: string | null;
  legalLastName: string | null;
  phone: string | null; // normalised
  card: string | null;
  email: string | null;
  birthDate: string | null; // YYYY-MM-DD
  sex: Sex | null;
  statusCheck: StatusCheck;
  /** A new customer must first confirm by code (the protocol's 412 / 28001 answer). */
  requireVerification?: boolean;
}

// The card's secret (its link and QR code): 128 bits.
function newQrToken(): string {
  return randomBytes(16).toString("base64url");
}

function uniqueViolation(e: any): string | null {
  if (e?.code !== "23505") return null;
  const c = String(e.constraint_name ?? e.constraint ?? "");
  if (c.includes("phone")) return "phone";
  if (c.includes("card")) return "discountCardNumber";
  if (c.includes("ms_id")) return "meta";
  return "customer";
}

function conflictFor(parameter: string) {
  const what =
    parameter === "phone"
      ? "Этот телефон уже указан у другого покупателя."
      : parameter === "discountCardNumber"
        ? "Эта карта уже выдана другому покупателю."
        : "Покупатель с такими данными уже есть.";
  return errors.conflict(what, parameter);
}

/**
 * Creating a customer who already exists (same МойСклад id, phone or card) links and
 * updates them; data that would belong to two different customers is a conflict.
 */
export async function upsertCustomer(
  sql: Sql,
  tenantId: string,
  f: CustomerFields,
): Promise<{ customer: CustomerRow; created: boolean }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await sql.begin(async (tx) => {
        const matches = await tx<{ id: string }[]>`
          select id from customer
          where tenant_id = ${tenantId}
            and (ms_id = ${f.msId}::text or phone = ${f.phone} or card_number = ${f.card})
          for update`;
        if (matches.length > 1) {
          throw errors.conflict(
            "Телефон, карта и МойСклад-идентификатор указывают на разных покупателей.",
            f.phone ? "phone" : "discountCardNumber",
          );
        }
        const existing = matches[0];
        if (existing) {
          // Only fields the POS sent overwrite what we have.
          const [row] = await tx<CustomerRow[]>`
            update customer set
              ms_id = coalesce(${f.msId}::text, ms_id),
              sync_id = coalesce(${f.syncId}, sync_id),
              name = coalesce(${f.name}, name),
              legal_first_name = coalesce(${f.legalFirstName}, legal_first_name),
              legal_middle_name = coalesce(${f.legalMiddleName}, legal_middle_name),
              legal_last_name = coalesce(${f.legalLastName}, legal_last_name),
              phone = coalesce(${f.phone}, phone),
              -- A new number may well take SMS: forget the old number's permanent failure.
              sms_failed_at = case when ${f.phone}::text is distinct from phone and ${f.phone}::text is not null then null else sms_failed_at end,
              sms_failure = case when ${f.phone}::text is distinct from phone and ${f.phone}::text is not null then null else sms_failure end,
              card_number = coalesce(${f.card}, card_number),
              email = coalesce(${f.email}, email),
              birth_date = coalesce(${f.birthDate}::date, birth_date),
              sex = coalesce(${f.sex}, sex),
              status_check = case when ${f.statusCheck} = 'CHECKED' then 'CHECKED' else status_check end,
              updated_at = now()
            where tenant_id = ${tenantId} and id = ${existing.id}
            returning ${customerColumns(tx)}`;
          return { customer: row!, created: false };
        }
        if (f.requireVerification) throw errors.registrationVerificationRequired();
        const [row] = await tx<CustomerRow[]>`
          insert into customer (tenant_id, ms_id, sync_id, name, legal_first_name, legal_middle_name,
            legal_last_name, phone, card_number, qr_token, email, birth_date, sex, status_check)
          values (${tenantId}, ${f.msId}::text, ${f.syncId}, ${f.name}, ${f.legalFirstName}, ${f.legalMiddleName},
            ${f.legalLastName}, ${f.phone}, ${f.card}, ${newQrToken()}, ${f.email}, ${f.birthDate}::date, ${f.sex},
            ${f.statusCheck})
          returning ${customerColumns(tx)}`;
        return { customer: row!, created: true };
      });
    } catch (e: any) {
      const param = uniqueViolation(e);
      if (!param) throw e;
      // A concurrent create of the same person: look again and link. An update that
      // collides with another customer's phone or card is a real conflict.
      if (attempt === 2) throw conflictFor(param);
      const again = await sql`
        select count(*)::int as n from customer
        where tenant_id = ${tenantId} and (ms_id = ${f.msId}::text or phone = ${f.phone} or card_number = ${f.card})`;
      if (again[0]!.n === 0) throw conflictFor(param);
      if (again[0]!.n > 1) throw conflictFor(param);
    }
  }
  throw errors.conflict("Не удалось сохранить покупателя, повторите.");
}
