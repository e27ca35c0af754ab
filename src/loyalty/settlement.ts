// Settlement: what a stored sale or return does to a customer's points, posted in one
// transaction per document. Every effect carries an idempotency key, and a document is
// settled once (its row is locked and its state checked), so retried and redelivered
// jobs change nothing the second time.
import type { Sql } from "../db/client.ts";
import { settleReferralOnSale } from "../card/referrals.ts";
import { customerRef, resolveCustomer } from "./customers.ts";
import { redeemForSale, refundForReturn } from "./giftcards.ts";
import { postLedgerEntry } from "./ledger.ts";
import { changePhrase, DEFAULT_TEMPLATES, renderTemplate } from "./messages.ts";

export interface PointsMessage {
  customerId: string;
  documentId: string;
  text: string;
}

export interface SettleOutcome {
  status: "settled" | "already" | "waiting" | "flagged" | "missing";
  /** Returns that waited for this sale and may now be settled. */
  releasedReturns: { documentId: string; round: number }[];
  message: PointsMessage | null;
}

interface DocumentRow {
  id: string;
  kind: "sale" | "return";
  external_key: string;
  customer_id: string | null;
  match_status: "matched" | "anonymous" | "unmatched";
  state: "received" | "waiting" | "settled" | "flagged";
  total_kopecks: number;
  eligible_kopecks: number;
  full_kopecks: number;
  eligible_full_kopecks: number;
  points_spent: number;
  points_earned: number;
  accrual_available_at: Date | null;
  sale_key: string | null;
  returned_kopecks: number;
  notice_text: string | null;
  points_refunded: number;
  points_clawed_back: number;
  body: any;
}

type Tx = Sql;

const nothing = (status: SettleOutcome["status"]): SettleOutcome => ({ status, releasedReturns: [], message: null });

export async function settleDocument(sql: Sql, tenantId: string, documentId: string): Promise<SettleOutcome> {
  return sql.begin(async (tx) => {
    const [doc] = await (tx as unknown as Tx)<DocumentRow[]>`
      select * from document where tenant_id = ${tenantId} and id = ${documentId} for update`;
    if (!doc) return nothing("missing");
    if (doc.state === "flagged") return nothing("flagged");
    if (doc.state === "settled") {
      const message = doc.notice_text && doc.customer_id ? { customerId: doc.customer_id, documentId: doc.id, text: doc.notice_text } : null;
      return { status: "already", releasedReturns: [], message };
    }
    const t = await templates(tx as unknown as Tx, tenantId);
    const outcome =
      doc.kind === "sale"
        ? await settleSale(tx as unknown as Tx, tenantId, doc, t)
        : await settleReturn(tx as unknown as Tx, tenantId, doc, t);
    return outcome;
  });
}

interface Templates {
  points: string;
  return: string;
}

async function templates(tx: Tx, tenantId: string): Promise<Templates> {
  const [p] = await tx<{ points: string | null; return: string | null }[]>`
    select points_message_template as points, return_message_template as return
    from program where tenant_id = ${tenantId}`;
  return { points: p?.points ?? DEFAULT_TEMPLATES.points, return: p?.return ?? DEFAULT_TEMPLATES.return };
}

async function settleSale(tx: Tx, tenantId: string, doc: DocumentRow, t: Templates): Promise<SettleOutcome> {
  let customerId = doc.customer_id;
  // A customer unknown at intake may have been created since (the POS registers them
  // after the receipt): match again by the agent's card or phone.
  if (!customerId && doc.match_status === "unmatched" && doc.body?.agent) {
    const found = await resolveCustomer(tx, tenantId, customerRef(doc.body.agent));
    if (found) {
      customerId = found.id;
      await tx`update document set customer_id = ${customerId}, match_status = 'matched'
               where tenant_id = ${tenantId} and id = ${doc.id}`;
      if (doc.points_spent > 0) {
        await postLedgerEntry(tx, tenantId, {
          customerId,
          kind: "spend",
          points: -doc.points_spent,
          documentId: doc.id,
          idempotencyKey: `sale:${doc.id}:spend`,
        });
      }
    }
  }
  let message: PointsMessage | null = null;
  if (customerId) {
    if (doc.points_earned > 0) {
      await postLedgerEntry(tx, tenantId, {
        customerId,
        kind: "accrual",
        points: doc.points_earned,
        documentId: doc.id,
        idempotencyKey: `sale:${doc.id}:accrual`,
        availableAt: doc.accrual_available_at,
      });
    }
    await settleReferralOnSale(tx, tenantId, customerId, doc);
    const [c] = await tx<{ balance: number; pending_balance: number }[]>`
      update customer set purchases_count = purchases_count + 1,
        purchases_kopecks = purchases_kopecks + ${doc.total_kopecks}, updated_at = now()
      where tenant_id = ${tenantId} and id = ${customerId}
      returning balance, pending_balance`;
    if (doc.points_spent > 0 || doc.points_earned > 0) {
      const pending = doc.accrual_available_at && doc.accrual_available_at.getTime() > Date.now();
      message = {
        customerId,
        documentId: doc.id,
        text: renderTemplate(t.points, {
          change: changePhrase(
            [-doc.points_spent, pending ? 0 : doc.points_earned],
            pending ? { points: doc.points_earned, at: doc.accrual_available_at! } : null,
          ),
          earned: doc.points_earned,
          spent: doc.points_spent,
          balance: c!.balance,
        }),
      };
    }
  }
  // Certificate payments, customer or not (anonymous sales pay by certificate too).
  await redeemForSale(tx, tenantId, doc);
  // The message is kept with the state change (one row version): a retried job re-queues it.
  await tx`update document set state = 'settled', settled_at = now(), notice_text = ${message?.text ?? null}
           where tenant_id = ${tenantId} and id = ${doc.id}`;
  // Returns that arrived before this sale may go now; they lock this row, so they see it settled.
  const waiting = await tx<{ id: string; settle_round: number }[]>`
    update document set state = 'received', settle_round = settle_round + 1
    where tenant_id = ${tenantId} and state = 'waiting' and sale_key = ${doc.external_key}
    returning id, settle_round`;
  return { status: "settled", releasedReturns: waiting.map((w) => ({ documentId: w.id, round: w.settle_round })), message };
}

/**
 * How much of what a sale moved goes back after returns worth `returnedSoFar` of its
 * `saleBase` money: proportional, floored, and exact once everything came back — so
 * partial returns add up and never exceed the sale, whatever the rounding of each part.
 */
export function returnedShare(moved: number, returnedSoFar: number, saleBase: number): number {
  if (saleBase <= 0 || moved <= 0) return 0;
  if (returnedSoFar >= saleBase) return moved;
  return Number((BigInt(moved) * BigInt(returnedSoFar)) / BigInt(saleBase));
}

async function settleReturn(tx: Tx, tenantId: string, ret: DocumentRow, t: Templates): Promise<SettleOutcome> {
  const [sale] = await tx<DocumentRow[]>`
    select * from document
    where tenant_id = ${tenantId} and kind = 'sale' and external_key = ${ret.sale_key}
    for update`;
  if (!sale || sale.state !== "settled") {
    // The sale has not arrived or not settled yet: its settlement releases this return.
    await tx`update document set state = 'waiting' where tenant_id = ${tenantId} and id = ${ret.id}`;
    return nothing("waiting");
  }
  let message: PointsMessage | null = null;
  if (sale.customer_id) {
    // Points follow the full-price value of the goods that took part in the program (goods
    // paid entirely with points count too); a sale of only excluded goods falls back to
    // the value of all its goods.
    const byEligible = sale.eligible_full_kopecks > 0;
    const saleBase = byEligible ? sale.eligible_full_kopecks : sale.full_kopecks;
    const returned = Math.min(saleBase, sale.returned_kopecks + (byEligible ? ret.eligible_full_kopecks : ret.full_kopecks));
    const refund = returnedShare(sale.points_spent, returned, saleBase) - sale.points_refunded;
    const clawback = returnedShare(sale.points_earned, returned, saleBase) - sale.points_clawed_back;
    if (refund > 0) {
      await postLedgerEntry(tx, tenantId, {
        customerId: sale.customer_id,
        kind: "refund",
        points: refund,
        documentId: ret.id,
        idempotencyKey: `return:${ret.id}:refund`,
      });
    }
    let pendingClawback = false;
    if (clawback > 0) {
      // While the sale's accrual is still pending, take the points back from pending.
      const [accrual] = await tx<{ released_at: Date | null; available_at: Date }[]>`
        select released_at, available_at from ledger_entry
        where tenant_id = ${tenantId} and idempotency_key = ${`sale:${sale.id}:accrual`}`;
      pendingClawback = !!accrual && accrual.released_at === null && accrual.available_at.getTime() > Date.now();
      await postLedgerEntry(tx, tenantId, {
        customerId: sale.customer_id,
        kind: "clawback",
        points: -clawback,
        documentId: ret.id,
        idempotencyKey: `return:${ret.id}:clawback`,
        availableAt: pendingClawback ? accrual!.available_at : null,
      });
    }
    await tx`
      update document set returned_kopecks = ${returned},
        points_refunded = points_refunded + ${refund}, points_clawed_back = points_clawed_back + ${clawback}
      where tenant_id = ${tenantId} and id = ${sale.id}`;
    const [c] = await tx<{ balance: number }[]>`
      update customer set purchases_kopecks = greatest(0, purchases_kopecks - ${ret.total_kopecks}), updated_at = now()
      where tenant_id = ${tenantId} and id = ${sale.customer_id}
      returning balance`;
    if (refund > 0 || (clawback > 0 && !pendingClawback)) {
      message = {
        customerId: sale.customer_id,
        documentId: ret.id,
        text: renderTemplate(t.return, {
          change: changePhrase([refund, pendingClawback ? 0 : -clawback], null),
          refunded: refund,
          clawed: clawback,
          balance: c!.balance,
        }),
      };
    }
  }
  // Certificate money goes back whether or not the sale had a customer.
  await refundForReturn(tx, tenantId, ret, sale);
  await tx`
    update document set state = 'settled', settled_at = now(), sale_id = ${sale.id},
      customer_id = ${sale.customer_id}, match_status = ${sale.match_status}, notice_text = ${message?.text ?? null}
    where tenant_id = ${tenantId} and id = ${ret.id}`;
  return { status: "settled", releasedReturns: [], message };
}
