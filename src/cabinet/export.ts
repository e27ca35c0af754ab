// Customers and the points ledger as CSV, streamed: a postgres.js cursor reads a page of
// rows at a time and each page is written out before the next is read, so a million rows
// never sit in memory. UTF-8 with a BOM and ";" — what Russian Excel opens without asking.
import type { Sql } from "../db/client.ts";
import { csvField } from "./import.ts";

const PAGE = 2000;
const line = (fields: (string | number | null)[]) => fields.map((f) => csvField(f, ";")).join(";") + "\r\n";

/** Every customer not erased: one line each, in creation order. */
export async function* customersCsv(sql: Sql, tenantId: string): AsyncGenerator<string> {
  yield "\ufeff" + line(["id", "телефон", "имя", "карта", "дата рождения", "баланс", "ожидают начисления", "покупок", "сумма покупок, руб", "создан"]);
  const cursor = sql<
    { id: string; phone: string | null; name: string | null; card_number: string | null; birth_date: string | null; balance: number; pending_balance: number; purchases_count: number; purchases_kopecks: number; created_at: string }[]
  >`
    select id, phone, name, card_number, to_char(birth_date, 'YYYY-MM-DD') as birth_date, balance, pending_balance,
      purchases_count, purchases_kopecks, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as created_at
    from customer where tenant_id = ${tenantId} and erased_at is null
    order by created_at, id`.cursor(PAGE);
  for await (const rows of cursor) {
    let out = "";
    for (const r of rows) {
      out += line([r.id, r.phone ? "+" + r.phone : null, r.name, r.card_number, r.birth_date, r.balance, r.pending_balance, r.purchases_count, kopecksText(r.purchases_kopecks), r.created_at]);
    }
    yield out;
  }
}

/** Every ledger entry (erased customers included, by id only: the totals must still add up). */
export async function* ledgerCsv(sql: Sql, tenantId: string): AsyncGenerator<string> {
  yield "\ufeff" + line(["id", "покупатель", "вид", "баллы", "ожидает до", "документ", "причина", "ключ", "создана"]);
  const cursor = sql<
    { id: number; customer_id: string; kind: string; points: number; pending_until: string | null; document_id: string | null; reason: string | null; idempotency_key: string; created_at: string }[]
  >`
    select id, customer_id, kind, points,
      case when released_at is null then to_char(available_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') end as pending_until,
      document_id, reason, idempotency_key, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as created_at
    from ledger_entry where tenant_id = ${tenantId}
    order by id`.cursor(PAGE);
  for await (const rows of cursor) {
    let out = "";
    for (const r of rows) out += line([r.id, r.customer_id, r.kind, r.points, r.pending_until, r.document_id, r.reason, r.idempotency_key, r.created_at]);
    yield out;
  }
}

function kopecksText(k: number): string {
  const sign = k < 0 ? "-" : "";
  const a = Math.abs(k);
  return `${sign}${Math.floor(a / 100)},${String(a % 100).padStart(2, "0")}`;
}

/** A streamed CSV download; the generator is closed (and its cursor released) if the client goes away. */
export function csvResponse(lines: AsyncGenerator<string>, fileName: string): Response {
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await lines.next();
      if (done) controller.close();
      else controller.enqueue(encoder.encode(value));
    },
    async cancel() {
      await lines.return(undefined);
    },
  });
  return new Response(stream, {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${fileName}"`,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
  });
}
