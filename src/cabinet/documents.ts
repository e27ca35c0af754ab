// Sales and returns for the cabinet's Документы page, with why a document needs a person.
import type { Sql } from "../db/client.ts";

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
}

export async function listDocuments(sql: Sql, tenantId: string, filter: DocumentFilter, limit = 200): Promise<CabinetDocument[]> {
  return sql<CabinetDocument[]>`
    select d.id, d.kind, d.name, coalesce(d.moment, d.received_at) as moment, d.customer_id, c.name as customer_name, c.erased_at is not null as customer_erased,
      d.match_status, d.state, d.flag_reason, d.total_kopecks, d.points_spent, d.points_earned
    from document d left join customer c on c.tenant_id = d.tenant_id and c.id = d.customer_id
    where d.tenant_id = ${tenantId}
      ${filter === "attention" ? sql`and (d.state in ('flagged', 'waiting') or d.match_status = 'unmatched' or d.flag_reason is not null)` : sql``}
      ${filter !== "all" && filter !== "attention" ? sql`and d.state = ${filter}` : sql``}
    order by d.received_at desc
    limit ${limit}`;
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
