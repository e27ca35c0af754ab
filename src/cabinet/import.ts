// Customers brought from the merchant's previous program: a CSV file (phone, name, card,
// birthday, balance) in UTF-8 or Windows-1251, separated by "," or ";". The file is
// stored with its import row; a queue job reads it in chunks of rows, each chunk one
// transaction of a few set-based statements (100,000 rows must take well under a minute),
// and the import row's counters move with every chunk for the page's progress bar.
//
// Re-reading is harmless, so a retried job or the same file uploaded again changes
// nothing: customers are found by phone or card and only their empty fields are filled,
// and an opening balance is the `import` ledger entry with the key `import:<customer>` —
// one per customer, ever.
import { createHash, randomBytes } from "node:crypto";
import { parse } from "csv-parse/sync";
import iconv from "iconv-lite";
import type { Queryable, Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { normalizePhone } from "../loyalty/phone.ts";

// The whole file is parsed in memory (~1.2 KB of heap per row measured), so one upload is
// bounded; larger customer bases are uploaded in parts.
export const IMPORT_MAX_BYTES = 32 * 1024 * 1024;
export const IMPORT_MAX_ROWS = 300_000;
/** Rows per transaction: large enough for set-based statements to pay, small enough for a lively bar. */
export const IMPORT_CHUNK = 2000;

export type ImportState = "queued" | "running" | "done" | "failed";

export interface ImportRow {
  id: string;
  file_name: string | null;
  state: ImportState;
  encoding: string | null;
  delimiter: string | null;
  total: number;
  processed: number;
  failed: number;
  created: number;
  credited: number;
  failure: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface ImportRowError {
  line: number;
  error: string;
}

// ---------------------------------------------------------------------------------
// Reading the file: charset, separator, header, fields.

/**
 * UTF-8 when the bytes are valid UTF-8 (a BOM is dropped), else Windows-1251 — what
 * Russian Excel saves as "CSV (разделители — точка с запятой)". Any byte sequence is
 * valid Windows-1251, so this never fails; UTF-8 is tried first because Cyrillic in
 * UTF-8 is almost never valid as anything else.
 */
export function decodeCsv(bytes: Uint8Array): { text: string; encoding: "utf-8" | "windows-1251" } {
  try {
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    return { text, encoding: "utf-8" };
  } catch {
    return { text: iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), "win1251"), encoding: "windows-1251" };
  }
}

/** The separator of the first line: whichever of ";" and "," it has more of (outside quotes). */
export function detectDelimiter(text: string): ";" | "," {
  const firstLine = text.slice(0, Math.max(0, text.indexOf("\n")) || text.length).replace(/"[^"]*"/g, "");
  const semicolons = firstLine.split(";").length - 1;
  const commas = firstLine.split(",").length - 1;
  return semicolons >= commas && semicolons > 0 ? ";" : ",";
}

type Column = "phone" | "name" | "card" | "birthday" | "balance";
const COLUMNS: Column[] = ["phone", "name", "card", "birthday", "balance"];

const HEADER_NAMES: Record<string, Column> = {
  phone: "phone", телефон: "phone", тел: "phone", "мобильный телефон": "phone", мобильный: "phone",
  name: "name", имя: "name", фио: "name", покупатель: "name", клиент: "name",
  card: "card", карта: "card", "номер карты": "card", "дисконтная карта": "card", "card number": "card",
  birthday: "birthday", birthdate: "birthday", birth_date: "birthday", "дата рождения": "birthday", "день рождения": "birthday", др: "birthday",
  balance: "balance", баланс: "balance", баллы: "balance", бонусы: "balance", points: "balance",
};

/** Column positions from a header row, or null when the first row is data (then the order is phone, name, card, birthday, balance). */
function headerColumns(fields: string[]): Record<Column, number> | null {
  const found: Partial<Record<Column, number>> = {};
  fields.forEach((f, i) => {
    const c = HEADER_NAMES[f.trim().toLowerCase().replace(/\s+/g, " ")];
    if (c && found[c] === undefined) found[c] = i;
  });
  if (Object.keys(found).length === 0) return null;
  return Object.fromEntries(COLUMNS.map((c) => [c, found[c] ?? -1])) as Record<Column, number>;
}

export interface CustomerLine {
  line: number;
  phone: string | null;
  name: string | null;
  card: string | null;
  birthday: string | null; // YYYY-MM-DD
  balance: number;
}

export interface ParsedFile {
  encoding: string;
  delimiter: string;
  good: CustomerLine[];
  bad: ImportRowError[];
  /** Data rows (without the header). */
  total: number;
}

function parseBirthday(raw: string, now: Date): string | null | undefined {
  if (!raw) return null;
  let m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(raw);
  let y: number, mo: number, d: number;
  if (m) [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  else {
    m = /^(\d{1,2})[./](\d{1,2})[./](\d{4})$/.exec(raw);
    if (!m) return undefined;
    [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  }
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined;
  if (y < 1900 || date > now) return undefined;
  return `${y}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}

/** Whole points: "1 250", "1250", "1250,00" and "1250.0" are 1250; empty is 0. */
function parseBalance(raw: string): number | undefined {
  const s = raw.replace(/[\s\u00a0]/g, "");
  if (!s) return 0;
  const m = /^(\d{1,12})(?:[.,]0*)?$/.exec(s);
  return m ? Number(m[1]) : undefined;
}

/** One data row → a customer line, or the reason it is refused (in words, for the merchant). */
export function readLine(fields: string[], cols: Record<Column, number>, line: number, now = new Date()): CustomerLine | ImportRowError {
  const get = (c: Column) => (cols[c] >= 0 ? (fields[cols[c]] ?? "").trim() : "");
  const rawPhone = get("phone");
  const phone = rawPhone ? normalizePhone(rawPhone) : null;
  if (rawPhone && !phone) return { line, error: `телефон «${rawPhone.slice(0, 40)}» не похож на номер` };
  const card = get("card") || null;
  if (card && card.length > 64) return { line, error: "номер карты длиннее 64 символов" };
  if (!phone && !card) return { line, error: "нет ни телефона, ни номера карты" };
  const name = get("name").replace(/\s+/g, " ") || null;
  if (name && name.length > 200) return { line, error: "имя длиннее 200 символов" };
  const rawBirthday = get("birthday");
  const birthday = parseBirthday(rawBirthday, now);
  if (birthday === undefined) return { line, error: `дата рождения «${rawBirthday.slice(0, 40)}» не похожа на дату (ДД.ММ.ГГГГ или ГГГГ-ММ-ДД)` };
  const rawBalance = get("balance");
  const balance = parseBalance(rawBalance);
  if (balance === undefined) return { line, error: `баланс «${rawBalance.slice(0, 40)}» — не целое неотрицательное число баллов` };
  return { line, phone, name, card, birthday, balance };
}

/** Reads a whole file into good lines and refused ones; throws a validation error when the file itself is unusable. */
export function parseCustomerFile(bytes: Uint8Array): ParsedFile {
  const { text, encoding } = decodeCsv(bytes);
  const delimiter = detectDelimiter(text);
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // csv-parse's types do not model `info: true` (each record then comes with its line numbers).
    const parsed: unknown = parse(text, { delimiter, bom: true, info: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, trim: true });
    records = parsed as typeof records;
  } catch (e: any) {
    throw errors.validation(`Файл не читается как CSV: ${String(e?.message ?? e).slice(0, 200)}`, "file");
  }
  if (records.length === 0) throw errors.validation("Файл пуст.", "file");
  const header = headerColumns(records[0]!.record);
  const cols = header ?? (Object.fromEntries(COLUMNS.map((c, i) => [c, i])) as Record<Column, number>);
  if (header && header.phone < 0 && header.card < 0) {
    throw errors.validation("В заголовке нет ни колонки телефона, ни колонки карты (phone / телефон, card / карта).", "file");
  }
  const data = header ? records.slice(1) : records;
  if (data.length > IMPORT_MAX_ROWS) throw errors.validation(`В файле больше ${IMPORT_MAX_ROWS} строк: разделите его.`, "file");
  const good: CustomerLine[] = [];
  const bad: ImportRowError[] = [];
  const phones = new Map<string, number>();
  const cards = new Map<string, number>();
  const now = new Date();
  for (const r of data) {
    const read = readLine(r.record, cols, r.info.lines, now);
    if ("error" in read) {
      bad.push(read);
      continue;
    }
    // The same person twice in one file would be two opening balances for one customer.
    const samePhone = read.phone ? phones.get(read.phone) : undefined;
    const sameCard = read.card ? cards.get(read.card) : undefined;
    if (samePhone !== undefined || sameCard !== undefined) {
      bad.push({ line: read.line, error: samePhone !== undefined ? `этот телефон уже был в строке ${samePhone}` : `эта карта уже была в строке ${sameCard}` });
      continue;
    }
    if (read.phone) phones.set(read.phone, read.line);
    if (read.card) cards.set(read.card, read.line);
    good.push(read);
  }
  return { encoding, delimiter, good, bad, total: data.length };
}

// ---------------------------------------------------------------------------------
// Creating an import and reading it.

const IMPORT_COLUMNS = `id, file_name, state, encoding, delimiter, total, processed, failed, created, credited, failure,
  created_at, started_at, finished_at`;

export async function createImport(sql: Sql, tenantId: string, file: Uint8Array, fileName: string | null): Promise<ImportRow> {
  if (file.byteLength === 0) throw errors.validation("Файл пуст.", "file");
  if (file.byteLength > IMPORT_MAX_BYTES) throw errors.validation(`Файл больше ${IMPORT_MAX_BYTES / 1024 / 1024} МБ: разделите его.`, "file");
  const sha = createHash("sha256").update(file).digest();
  const [row] = await sql<ImportRow[]>`
    insert into customer_import (tenant_id, file_name, file, file_sha256)
    values (${tenantId}, ${fileName?.slice(0, 300) ?? null}, ${Buffer.from(file.buffer, file.byteOffset, file.byteLength)}, ${sha})
    returning ${sql.unsafe(IMPORT_COLUMNS)}`;
  return row!;
}

export async function getImport(sql: Sql, tenantId: string, id: string): Promise<ImportRow | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const [row] = await sql<ImportRow[]>`
    select ${sql.unsafe(IMPORT_COLUMNS)} from customer_import where tenant_id = ${tenantId} and id = ${id}::uuid`;
  return row ?? null;
}

export async function recentImports(sql: Sql, tenantId: string, limit = 10): Promise<ImportRow[]> {
  return sql<ImportRow[]>`
    select ${sql.unsafe(IMPORT_COLUMNS)} from customer_import where tenant_id = ${tenantId}
    order by created_at desc limit ${limit}`;
}

export async function importErrors(sql: Sql, tenantId: string, id: string, limit: number): Promise<ImportRowError[]> {
  return sql<ImportRowError[]>`
    select line, error from customer_import_error where tenant_id = ${tenantId} and import_id = ${id}::uuid
    order by line limit ${limit}`;
}

/** Every refused row as CSV lines ("строка;ошибка"), streamed in pages. */
export async function* importErrorsCsv(sql: Sql, tenantId: string, id: string): AsyncGenerator<string> {
  yield "\ufeffстрока;ошибка\r\n";
  const cursor = sql<ImportRowError[]>`
    select line, error from customer_import_error where tenant_id = ${tenantId} and import_id = ${id}::uuid
    order by line`.cursor(1000);
  for await (const rows of cursor) yield rows.map((r) => `${r.line};${csvField(r.error, ";")}\r\n`).join("");
}

export function csvField(v: string | number | null | undefined, delimiter = ","): string {
  if (v === null || v === undefined) return "";
  const s = String(v);
  return s.includes(delimiter) || s.includes('"') || s.includes("\n") || s.includes("\r") ? `"${s.replace(/"/g, '""')}"` : s;
}

// ---------------------------------------------------------------------------------
// The job: read the stored file and write it, a chunk per transaction.

const REASON = "Начальный баланс из прежней программы (импорт)";
export const openingBalanceKey = (customerId: string) => `import:${customerId}`;

interface Existing {
  id: string;
  phone: string | null;
  card_number: string | null;
}

interface ChunkResult {
  created: number;
  credited: number;
  bad: ImportRowError[];
}

/** Writes one chunk of good lines in the caller's transaction. */
async function writeChunk(tx: Queryable, tenantId: string, lines: CustomerLine[]): Promise<ChunkResult> {
  const bad: ImportRowError[] = [];
  const phones = lines.flatMap((l) => (l.phone ? [l.phone] : []));
  const cards = lines.flatMap((l) => (l.card ? [l.card] : []));
  const existing = await tx<Existing[]>`
    select id, phone, card_number from customer
    where tenant_id = ${tenantId} and (phone = any(${phones}::text[]) or card_number = any(${cards}::text[]))`;
  const byPhone = new Map(existing.filter((e) => e.phone).map((e) => [e.phone!, e]));
  const byCard = new Map(existing.filter((e) => e.card_number).map((e) => [e.card_number!, e]));

  const fresh: CustomerLine[] = [];
  const known: { line: CustomerLine; id: string }[] = [];
  for (const l of lines) {
    const p = l.phone ? byPhone.get(l.phone) : undefined;
    const c = l.card ? byCard.get(l.card) : undefined;
    if (p && c && p.id !== c.id) {
      bad.push({ line: l.line, error: "телефон и карта уже принадлежат разным покупателям" });
    } else if (p || c) {
      known.push({ line: l, id: (p ?? c)!.id });
    } else {
      fresh.push(l);
    }
  }

  // New customers in one statement, each with its opening balance already on it and the
  // `import` entry that explains it written next (same transaction): a fresh row is never
  // updated again, which matters — an update of a just-filled page cannot stay HOT and
  // would touch every index of customer. A customer the till created meanwhile with the
  // same phone or card makes its row skip (no conflict error for the whole chunk).
  let created = 0;
  let credited = 0;
  if (fresh.length > 0) {
    const inserted = await tx<(Existing & { balance: number })[]>`
      insert into customer (tenant_id, phone, card_number, name, birth_date, qr_token, balance)
      select ${tenantId}, v.phone, v.card, v.name, v.birthday::date, v.qr, v.balance
      from unnest(${fresh.map((l) => l.phone)}::text[], ${fresh.map((l) => l.card)}::text[], ${fresh.map((l) => l.name)}::text[],
                  ${fresh.map((l) => l.birthday)}::text[], ${fresh.map(() => randomBytes(12).toString("base64url"))}::text[],
                  ${fresh.map((l) => l.balance)}::bigint[])
        as v(phone, card, name, birthday, qr, balance)
      on conflict do nothing
      returning id, phone, card_number, balance`;
    created = inserted.length;
    const opening = inserted.filter((c) => c.balance > 0);
    if (opening.length > 0) {
      // No "on conflict": the ids are new, and a surprise must roll the chunk back rather
      // than leave a balance without its entry.
      await tx`
        insert into ledger_entry (tenant_id, customer_id, kind, points, released_at, idempotency_key, reason)
        select ${tenantId}, v.id, 'import', v.points, now(), 'import:' || v.id::text, ${REASON}
        from unnest(${opening.map((c) => c.id)}::uuid[], ${opening.map((c) => c.balance)}::bigint[]) as v(id, points)`;
      credited += opening.length;
    }
    const newByPhone = new Set(inserted.flatMap((e) => (e.phone ? [e.phone] : [])));
    const newByCard = new Set(inserted.flatMap((e) => (e.card_number ? [e.card_number] : [])));
    for (const l of fresh) {
      if ((l.phone && newByPhone.has(l.phone)) || (l.card && newByCard.has(l.card))) continue;
      bad.push({ line: l.line, error: "покупатель с этим телефоном или картой появился во время загрузки — загрузите файл ещё раз" });
    }
  }

  // Known customers: fill what is empty, never overwrite what the till or a person set.
  const toFill = known.filter(({ line }) => line.name || line.birthday || line.phone || line.card);
  if (toFill.length > 0) {
    await tx`
      update customer c set
        name = coalesce(c.name, v.name),
        birth_date = coalesce(c.birth_date, v.birthday::date),
        phone = coalesce(c.phone, v.phone),
        card_number = coalesce(c.card_number, v.card),
        updated_at = now()
      from unnest(${toFill.map((k) => k.id)}::uuid[], ${toFill.map((k) => k.line.name)}::text[], ${toFill.map((k) => k.line.birthday)}::text[],
                  ${toFill.map((k) => k.line.phone)}::text[], ${toFill.map((k) => k.line.card)}::text[]) as v(id, name, birthday, phone, card)
      where c.tenant_id = ${tenantId} and c.id = v.id
        and (c.name is null and v.name is not null or c.birth_date is null and v.birthday is not null
             or c.phone is null and v.phone is not null and not exists (select 1 from customer o where o.tenant_id = ${tenantId} and o.phone = v.phone)
             or c.card_number is null and v.card is not null and not exists (select 1 from customer o where o.tenant_id = ${tenantId} and o.card_number = v.card))`;
  }

  // Known customers' opening balances: one `import` entry per customer, ever.
  const withBalance = known.filter((k) => k.line.balance > 0);
  if (withBalance.length > 0) {
    const keys = withBalance.map((k) => openingBalanceKey(k.id));
    const before = await tx<{ idempotency_key: string; points: number }[]>`
      select idempotency_key, points from ledger_entry where tenant_id = ${tenantId} and idempotency_key = any(${keys}::text[])`;
    const had = new Map(before.map((b) => [b.idempotency_key, b.points]));
    const post: typeof withBalance = [];
    for (const k of withBalance) {
      const prior = had.get(openingBalanceKey(k.id));
      if (prior === undefined) post.push(k);
      else if (prior !== k.line.balance) {
        bad.push({ line: k.line.line, error: `начальный баланс этому покупателю уже перенесён (${prior} баллов); изменить его можно корректировкой` });
      }
    }
    if (post.length > 0) {
      post.sort((a, b) => (a.id < b.id ? -1 : 1)); // one lock order for concurrent writers
      const [row] = await tx<{ n: number }[]>`
        with entry as (
          insert into ledger_entry (tenant_id, customer_id, kind, points, released_at, idempotency_key, reason)
          select ${tenantId}, v.id, 'import', v.points, now(), 'import:' || v.id::text, ${REASON}
          from unnest(${post.map((k) => k.id)}::uuid[], ${post.map((k) => k.line.balance)}::bigint[]) as v(id, points)
          on conflict (tenant_id, idempotency_key) do nothing
          returning customer_id, points
        ), moved as (
          update customer c set balance = c.balance + entry.points, updated_at = now()
          from entry where c.tenant_id = ${tenantId} and c.id = entry.customer_id
          returning 1
        )
        select count(*)::int as n from moved`;
      credited += row!.n;
    }
  }
  return { created, credited, bad };
}

async function recordErrors(tx: Queryable, tenantId: string, importId: string, bad: ImportRowError[]): Promise<void> {
  if (bad.length === 0) return;
  await tx`
    insert into customer_import_error (tenant_id, import_id, line, error)
    select ${tenantId}, ${importId}::uuid, v.line, v.error
    from unnest(${bad.map((b) => b.line)}::int[], ${bad.map((b) => b.error)}::text[]) as v(line, error)
    on conflict do nothing`;
}

/**
 * Runs an import to the end. Safe to run again (a retried job): it resumes after the rows
 * already committed, and whatever it repeats changes nothing.
 */
export async function runImport(sql: Sql, tenantId: string, importId: string, onChunk?: (processed: number, total: number) => unknown): Promise<ImportRow | null> {
  const [job] = await sql<{ file: Buffer; state: ImportState; processed: number }[]>`
    update customer_import set state = case when state = 'queued' then 'running' else state end,
      started_at = coalesce(started_at, now())
    where tenant_id = ${tenantId} and id = ${importId}::uuid
    returning file, state, processed`;
  if (!job) return null;
  if (job.state === "done" || job.state === "failed") return getImport(sql, tenantId, importId);

  let parsed: ParsedFile;
  try {
    parsed = parseCustomerFile(job.file);
  } catch (e: any) {
    const failure = e?.items?.[0]?.error_message ?? String(e?.message ?? e);
    await sql`update customer_import set state = 'failed', failure = ${failure}, finished_at = now()
              where tenant_id = ${tenantId} and id = ${importId}::uuid`;
    return getImport(sql, tenantId, importId);
  }
  // Bad rows and good rows in file order, so `processed` counts rows of the file.
  const all: (CustomerLine | ImportRowError)[] = [...parsed.good, ...parsed.bad].sort((a, b) => a.line - b.line);
  await sql`update customer_import set total = ${parsed.total}, encoding = ${parsed.encoding}, delimiter = ${parsed.delimiter}
            where tenant_id = ${tenantId} and id = ${importId}::uuid`;

  for (let start = job.processed; start < all.length; start += IMPORT_CHUNK) {
    const chunk = all.slice(start, start + IMPORT_CHUNK);
    const end = start + chunk.length;
    await sql.begin(async (tx) => {
      const good = chunk.filter((r): r is CustomerLine => !("error" in r));
      const result = good.length > 0 ? await writeChunk(tx, tenantId, good) : { created: 0, credited: 0, bad: [] };
      await recordErrors(tx, tenantId, importId, [...chunk.filter((r): r is ImportRowError => "error" in r), ...result.bad]);
      await tx`
        update customer_import set processed = ${end}, created = created + ${result.created}, credited = credited + ${result.credited},
          failed = (select count(*) from customer_import_error where tenant_id = ${tenantId} and import_id = ${importId}::uuid)
        where tenant_id = ${tenantId} and id = ${importId}::uuid`;
    });
    await onChunk?.(end, all.length);
  }
  await sql`update customer_import set state = 'done', finished_at = now(), processed = total
            where tenant_id = ${tenantId} and id = ${importId}::uuid`;
  return getImport(sql, tenantId, importId);
}

/**
 * Stores an uploaded file and queues its job. Without the queue (Redis away, or a process
 * without queues) nothing is kept and the caller gets a 503 to retry.
 */
export async function startImport(
  sql: Sql,
  queues: { enqueueImport(job: { tenantId: string; importId: string }): Promise<void> } | undefined,
  tenantId: string,
  file: Uint8Array,
  fileName: string | null,
): Promise<ImportRow> {
  if (!queues) throw errors.unavailable("Очередь загрузок");
  const row = await createImport(sql, tenantId, file, fileName);
  try {
    await queues.enqueueImport({ tenantId, importId: row.id });
  } catch {
    await sql`delete from customer_import where tenant_id = ${tenantId} and id = ${row.id}`;
    throw errors.unavailable("Очередь загрузок");
  }
  return row;
}
