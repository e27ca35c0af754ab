// Sales and returns for the cabinet's Документы page, with why a document needs a person.
import type { Sql } from "../db/client.ts";
import { plural } from "../loyalty/messages.ts";

export type DocumentFilter = "all" | "attention" | "received" | "waiting" | "settled" | "flagged";
export const DOCUMENT_FILTERS: DocumentFilter[] = ["all", "attention", "received", "waiting", "settled", "flagged"];

export interface CabinetDocument {
  id: string;
  kind: "sale" | "return";
  name: string | null;
  moment: Date;
  customer_id: string | null;
  customer_name: string | null;
  customer_erased: boolean;
  match_status: "matched" | "anonymous" | "unmatched";
  state: "received" | "waiting" | "settled" | "flagged";
  flag_reason: string | null;
  total_kopecks: number;
  points_spent: number;
  points_earned: number;
  held_spend_points: number;
  held_earn_points: number;
  hold_decision: "approved" | "rejected" | null;
  hold_decided_at: Date | null;
  hold_decided_by: string | null;
  hold_note: string | null;
}

const COLUMNS = (sql: Sql) => sql`
  d.id, d.kind, d.name, coalesce(d.moment, d.received_at) as moment, d.customer_id, c.name as customer_name, c.erased_at is not null as customer_erased,
  d.match_status, d.state, d.flag_reason, d.total_kopecks, d.points_spent, d.points_earned,
  d.held_spend_points, d.held_earn_points, d.hold_decision, d.hold_decided_at, d.hold_decided_by, d.hold_note`;

export async function listDocuments(sql: Sql, tenantId: string, filter: DocumentFilter, limit = 200): Promise<CabinetDocument[]> {
  return sql<CabinetDocument[]>`
    select ${COLUMNS(sql)}
    from document d left join customer c on c.tenant_id = d.tenant_id and c.id = d.customer_id
    where d.tenant_id = ${tenantId}
      ${filter === "attention" ? sql`and (d.state in ('flagged', 'waiting') or d.match_status = 'unmatched' or d.flag_reason is not null)` : sql``}
      ${filter !== "all" && filter !== "attention" ? sql`and d.state = ${filter}` : sql``}
    order by d.received_at desc
    limit ${limit}`;
}

/** One document of the shop with what its hold needs; null when there is no such document. */
export async function getDocument(sql: Sql, tenantId: string, id: string): Promise<(CabinetDocument & { customer_balance: number | null }) | null> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return null;
  const [row] = await sql<(CabinetDocument & { customer_balance: number | null })[]>`
    select ${COLUMNS(sql)}, c.balance as customer_balance
    from document d left join customer c on c.tenant_id = d.tenant_id and c.id = d.customer_id
    where d.tenant_id = ${tenantId} and d.id = ${id}`;
  return row ?? null;
}

/** What is held, in words: "списание 500 баллов и начисление 40 баллов". */
export function heldWords(d: Pick<CabinetDocument, "held_spend_points" | "held_earn_points">): string {
  // Genitive after «списание» / «начисление»: 1 балла, 2 баллов, 5 баллов.
  const n = (x: number) => `${x.toLocaleString("ru-RU")} ${plural(x, ["балла", "баллов", "баллов"])}`;
  const parts: string[] = [];
  if (d.held_spend_points > 0) parts.push(`списание ${n(d.held_spend_points)}`);
  if (d.held_earn_points > 0) parts.push(`начисление ${n(d.held_earn_points)}`);
  return parts.join(" и ");
}


/** Why a document needs a person, in the merchant's words; null when it does not. */
export function attentionReasons(d: Pick<CabinetDocument, "kind" | "state" | "match_status" | "flag_reason">): string[] {
  const out: string[] = [];
  if (d.match_status === "unmatched") out.push("Покупатель из чека не найден в программе: баллы не начислены и не списаны.");
  if (d.state === "waiting") out.push("Возврат ждёт свою продажу: баллы пересчитаются, когда она придёт.");
  if (d.flag_reason) out.push(d.flag_reason);
  return out;
}

export const DOCUMENT_STATE_TEXT: Record<string, string> = {
  received: "Принят, ещё не проведён",
  waiting: "Ждёт продажу",
  settled: "Проведён",
  flagged: "Требует внимания",
};
