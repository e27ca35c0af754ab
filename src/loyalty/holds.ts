// The doubtful part of a sale — points spent beyond what the customer had, points earned
// beyond the merchant's bound for one receipt — waits for an operator. Approving posts it
// to the ledger exactly once; rejecting leaves the ledger as it is. Either way the
// decision is recorded on the document and cannot be changed afterwards.
import type { Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { postLedgerEntry } from "./ledger.ts";
import { ledgerKey } from "./ledger-keys.ts";

export type HoldDecision = "approved" | "rejected";

export interface HoldState {
  documentId: string;
  heldSpendPoints: number;
  heldEarnPoints: number;
  decision: HoldDecision | null;
  decidedAt: Date | null;
  note: string | null;
  /** Who decided, in words (an operator, a МойСклад employee by name); null when not known. */
  decidedBy: string | null;
}

/** A decision's result: `repeated` when the same decision had already been taken (nothing changed now). */
export interface HoldOutcome extends HoldState {
  repeated: boolean;
}

interface HoldRow {
  id: string;
  kind: string;
  state: string;
  customer_id: string | null;
  held_spend_points: number;
  held_earn_points: number;
  hold_decision: HoldDecision | null;
  hold_decided_at: Date | null;
  hold_note: string | null;
  hold_decided_by: string | null;
  accrual_available_at: Date | null;
}

const view = (r: HoldRow): HoldState => ({
  documentId: r.id,
  heldSpendPoints: r.held_spend_points,
  heldEarnPoints: r.held_earn_points,
  decision: r.hold_decision,
  decidedAt: r.hold_decided_at,
  note: r.hold_note,
  decidedBy: r.hold_decided_by,
});

/**
 * `by`: who decides, in words, kept on the document. A repeated identical decision changes
 * nothing and answers `repeated: true` (the API treats a repeated click as success; a
 * page says the decision had already been taken).
 */
export async function decideHold(
  sql: Sql,
  tenantId: string,
  documentId: string,
  decision: HoldDecision,
  note: string | null,
  by: string | null = null,
): Promise<HoldOutcome> {
  return sql.begin(async (tx) => {
    const [doc] = await tx<HoldRow[]>`
      select id, kind, state, customer_id, held_spend_points, held_earn_points, hold_decision, hold_decided_at, hold_note, hold_decided_by,
        accrual_available_at
      from document where tenant_id = ${tenantId} and id = ${documentId} for update`;
    if (!doc) throw errors.notFound("Документ не найден.", "id");
    const stage = holdStage(doc);
    if (stage === "none") throw errors.conflict("У документа нет баллов, ждущих решения.", "id");
    if (stage === "approved" || stage === "rejected") {
      // A repeated click is not an error; a different decision is.
      if (stage === decision) return { ...view(doc), repeated: true };
      throw errors.conflict(`Решение уже принято: ${stage === "approved" ? "проведено" : "отклонено"}.`, "decision");
    }
    if (stage === "not-settled") {
      throw errors.conflict("Продажа ещё не проведена: решите после проведения (обычно через несколько секунд).", "id");
    }
    // An open hold is a settled sale's, with its customer (holdStage).
    const customerId = doc.customer_id!;
    if (decision === "approved") {
      if (doc.held_spend_points > 0) {
        await postLedgerEntry(tx, tenantId, {
          customerId,
          kind: "spend",
          points: -doc.held_spend_points,
          documentId: doc.id,
          idempotencyKey: ledgerKey.saleSpendApproved(doc.id),
          reason: note,
        });
      }
      if (doc.held_earn_points > 0) {
        await postLedgerEntry(tx, tenantId, {
          customerId,
          kind: "accrual",
          points: doc.held_earn_points,
          documentId: doc.id,
          idempotencyKey: ledgerKey.saleAccrualApproved(doc.id),
          availableAt: doc.accrual_available_at,
          reason: note,
        });
      }
    }
    // Approved points become part of what the sale moved, so its returns give back and
    // take back in proportion to them too.
    const [updated] = await tx<HoldRow[]>`
      update document set hold_decision = ${decision}, hold_decided_at = now(), hold_note = ${note}, hold_decided_by = ${by?.slice(0, 200) ?? null},
        points_spent = points_spent + ${decision === "approved" ? doc.held_spend_points : 0},
        points_earned = points_earned + ${decision === "approved" ? doc.held_earn_points : 0}
      where tenant_id = ${tenantId} and id = ${doc.id}
      returning id, kind, state, customer_id, held_spend_points, held_earn_points, hold_decision, hold_decided_at, hold_note, hold_decided_by,
        accrual_available_at`;
    return { ...view(updated!), repeated: false };
  });
}

export type HoldStage = "none" | "not-settled" | "open" | HoldDecision;

/**
 * Where the points held on a document stand: nothing held, waiting for settlement (and a
 * customer), waiting for a decision, decided. decideHold acts by it; pages show it.
 */
export function holdStage(d: {
  state: string;
  customer_id: string | null;
  held_spend_points: number;
  held_earn_points: number;
  hold_decision: HoldDecision | null;
}): HoldStage {
  if (d.held_spend_points === 0 && d.held_earn_points === 0) return "none";
  if (d.hold_decision) return d.hold_decision;
  if (d.state !== "settled" || !d.customer_id) return "not-settled";
  return "open";
}
