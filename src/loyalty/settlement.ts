// Settlement: what a stored sale or return does to a customer's points, posted in one
// transaction per document. Every effect carries an idempotency key, and a document is
// settled once (its row is locked and its state checked), so retried and redelivered
// jobs change nothing the second time.
import type { Queryable, Sql } from "../db/client.ts";
import { settleReferralOnSale } from "../card/referrals.ts";
import { customerRef, resolveCustomer } from "./customers.ts";
import { redeemForSale, refundForReturn } from "./giftcards.ts";
import { type LedgerKind, type NewLedgerEntry, postLedgerEntry } from "./ledger.ts";
import { ledgerKey } from "./ledger-keys.ts";
import { returnedShare } from "./engine.ts";
import { grantWelcome } from "./gifts.ts";
import { syncLots } from "./lots.ts";
import { changePhrase, renderTemplate } from "./messages.ts";
import { formatRoubles } from "./money.ts";
import { decideSaleEarn, storedSaleLines } from "./points.ts";
import { type Program, programFromStored } from "./program.ts";
import { type PromotionRow, promotionFromRow } from "./promotions.ts";
import { recomputeTier } from "./tiers.ts";

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
  /** Ledger entries this settlement posted (for the metrics); empty unless "settled". */
  movements: { kind: LedgerKind; points: number }[];
  /** When the sale or return happened (the POS's moment; arrival when it sent none). */
  moment: Date | null;
}

export interface DocumentRow {
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
  points_spent_reported: number;
  points_earned: number;
  lines: { assortmentId: string; moneyKopecks: number }[] | null;
  paid_kopecks: number | null;
  accrual_available_at: Date | null;
  moment: Date | null;
  received_at: Date;
  sale_key: string | null;
  settle_round: number;
  returned_kopecks: number;
  notice_text: string | null;
  /** The batch job that carries this document's message (null: a job of its own, points-<id>). */
  message_job: string | null;
  points_refunded: number;
  points_clawed_back: number;
  body: any;
}

export interface SettlingRow extends DocumentRow {
  program_settings: Record<string, unknown> | null;
  customer_tier: string | null;
  promotions_then: PromotionRow[] | null;
}

export const nothing = (status: SettleOutcome["status"]): SettleOutcome => ({ status, releasedReturns: [], message: null, movements: [], moment: null });

export type Movements = SettleOutcome["movements"];

/** Posts an entry and notes it among the settlement's movements when it is new. */
async function post(moved: Movements, tx: Queryable, tenantId: string, e: NewLedgerEntry): Promise<void> {
  const { inserted } = await postLedgerEntry(tx, tenantId, e);
  if (inserted) moved.push({ kind: e.kind, points: e.points });
}

/**
 * What settling a document reads with it, in the same statement that locks it: the
 * program, the customer's level and the promotions at the document's moment.
 */
export const settlingColumns = (tx: Queryable) => tx`
  d.*, p.settings as program_settings,
  (select c.tier from customer c where c.tenant_id = d.tenant_id and c.id = d.customer_id) as customer_tier,
  (select json_agg(pr) from promotion pr
    where pr.tenant_id = d.tenant_id and pr.starts_at <= coalesce(d.moment, d.received_at)
      and pr.ends_at > coalesce(d.moment, d.received_at)
      and (pr.ended_at is null or pr.ended_at > coalesce(d.moment, d.received_at))) as promotions_then`;

export async function settleDocument(sql: Sql, tenantId: string, documentId: string): Promise<SettleOutcome> {
  return sql.begin(async (tx) => {
    const [doc] = await tx<SettlingRow[]>`
      select ${settlingColumns(tx)}
      from document d join program p on p.tenant_id = d.tenant_id
      where d.tenant_id = ${tenantId} and d.id = ${documentId}
      for update of d`;
    if (!doc) return nothing("missing");
    if (doc.state === "flagged") return nothing("flagged");
    if (doc.state === "settled") {
      // Queued again under its own id — unless a batch's message job carries it.
      const message =
        doc.notice_text && doc.customer_id && !doc.message_job ? { customerId: doc.customer_id, documentId: doc.id, text: doc.notice_text } : null;
      return { ...nothing("already"), message };
    }
    const program = programFromStored(doc.program_settings);
    const moved: Movements = [];
    const outcome = doc.kind === "sale" ? await settleSale(tx, tenantId, doc, program, moved) : await settleReturn(tx, tenantId, doc, program, moved);
    return outcome.status === "settled" ? { ...outcome, movements: moved, moment: doc.moment ?? doc.received_at } : outcome;
  });
}

export const DAY_MS = 86_400_000;

/** Several things to tell the customer after one document, as one message. */
export function joined(...texts: (string | null | undefined)[]): string | null {
  const parts = texts.filter((t): t is string => !!t);
  return parts.length > 0 ? parts.join(". ") : null;
}

/**
 * Takes the customer's row lock before anything else touches the customer. A ledger insert
 * holds a key-share lock on the customer (its foreign key); taking the row lock only later
 * (lots, levels) made two settlements of one customer's sales wait for each other forever.
 * Lock order in settlement: the document, then the customer.
 */
async function lockCustomer(tx: Queryable, tenantId: string, customerId: string): Promise<{ balance: number }> {
  const [row] = await tx<{ balance: number }[]>`
    select balance from customer where tenant_id = ${tenantId} and id = ${customerId} for update`;
  return row!;
}

async function settleSale(tx: Queryable, tenantId: string, doc: SettlingRow, program: Program, moved: Movements): Promise<SettleOutcome> {
  let customerId = doc.customer_id;
  if (customerId) await lockCustomer(tx, tenantId, customerId);
  // A customer unknown at intake may have been created since (the POS registers them
  // after the receipt): match again by the agent's card or phone.
  if (!customerId && doc.match_status === "unmatched" && doc.body?.agent) {
    const found = await resolveCustomer(tx, tenantId, customerRef(doc.body.agent));
    if (found) {
      customerId = found.id;
      const { balance } = await lockCustomer(tx, tenantId, customerId);
      // The same rule as at intake: spent up to what the customer has; the rest is held.
      const posted = Math.min(doc.points_spent_reported, Math.max(balance, 0));
      const held = doc.points_spent_reported - posted;
      await tx`update document set customer_id = ${customerId}, match_status = 'matched',
                 points_spent = ${posted}, held_spend_points = ${held},
                 flag_reason = nullif(concat_ws('; ', flag_reason, ${held > 0 ? heldSpendReason(doc.points_spent_reported, posted) : null}::text), '')
               where tenant_id = ${tenantId} and id = ${doc.id}`;
      doc.points_spent = posted;
      if (posted > 0) {
        await post(moved, tx, tenantId, {
          customerId,
          kind: "spend",
          points: -posted,
          documentId: doc.id,
          idempotencyKey: ledgerKey.saleSpend(doc.id),
        });
      }
    }
  }
  let message: PointsMessage | null = null;
  if (customerId) {
    // The points this sale earns are decided here, once the customer (and so their level)
    // is known, by the same rule recalc applied to the same receipt and moment.
    const moment = doc.moment ?? doc.received_at;
    // A customer matched only now had no level read with the document.
    const tierName = doc.customer_id ? doc.customer_tier : (await tx<{ tier: string | null }[]>`
      select tier from customer where tenant_id = ${tenantId} and id = ${customerId}`)[0]?.tier ?? null;
    const promotions = (doc.promotions_then ?? []).map(promotionFromRow);
    const decided = decideSaleEarn(program, promotions, tierName, {
      // Lines read at intake; documents stored before lines were kept were validated strictly then.
      lines: doc.lines ?? storedSaleLines(doc.body),
      paidKopecks: doc.paid_kopecks,
      moment,
      // Points were spent on the receipt even where we hold part of the spend.
      spent: doc.points_spent_reported,
    });
    if (decided.held > 0 || decided.anomalies.length > 0) {
      await tx`update document set held_earn_points = ${decided.held},
                 flag_reason = nullif(concat_ws('; ', flag_reason, ${decided.anomalies.join("; ") || null}::text), '')
               where tenant_id = ${tenantId} and id = ${doc.id}`;
    }
    doc.points_earned = decided.earn;
    if (doc.points_earned > 0) {
      // Lifetimes count from the sale's own moment (plus the accrual delay).
      const spendableFrom = doc.accrual_available_at ?? moment;
      const lifetime = program.settings.pointsLifetimeDays;
      await post(moved, tx, tenantId, {
        customerId,
        kind: "accrual",
        points: doc.points_earned,
        documentId: doc.id,
        idempotencyKey: ledgerKey.saleAccrual(doc.id),
        availableAt: doc.accrual_available_at,
        expiresAt: lifetime === null ? null : new Date(spendableFrom.getTime() + lifetime * DAY_MS),
      });
    }
    await settleReferralOnSale(tx, tenantId, customerId, doc, program.settings);
    const [c] = await tx<{ purchases_count: number; balance: number }[]>`
      update customer set purchases_count = purchases_count + 1,
        purchases_kopecks = purchases_kopecks + ${doc.total_kopecks}, updated_at = now()
      where tenant_id = ${tenantId} and id = ${customerId}
      returning purchases_count, balance`;
    await syncLots(tx, tenantId, customerId);
    const welcome = c!.purchases_count === 1 ? await grantWelcome(tx, tenantId, customerId, program, "firstPurchase") : null;
    const tier = await recomputeTier(tx, tenantId, customerId, program, doc.id, tierName);
    const after = { balance: Number(c!.balance) + (welcome?.points ?? 0) };
    let pointsText: string | null = null;
    if (doc.points_spent > 0 || doc.points_earned > 0) {
      const pending = doc.accrual_available_at && doc.accrual_available_at.getTime() > Date.now();
      pointsText = renderTemplate(program.settings.pointsMessageTemplate, {
        change: changePhrase(
          [-doc.points_spent, pending ? 0 : doc.points_earned],
          pending ? { points: doc.points_earned, at: doc.accrual_available_at! } : null,
        ),
        earned: doc.points_earned,
        spent: doc.points_spent,
        balance: after!.balance,
      });
    }
    const text = joined(pointsText, welcome?.text, tier.text);
    if (text) message = { customerId, documentId: doc.id, text };
  }
  // Certificate payments, customer or not (anonymous sales pay by certificate too).
  await redeemForSale(tx, tenantId, doc);
  // The message is kept with the state change (one row version): a retried job re-queues it.
  await tx`update document set state = 'settled', settled_at = now(), notice_text = ${message?.text ?? null},
             points_earned = ${doc.points_earned}
           where tenant_id = ${tenantId} and id = ${doc.id}`;
  // Returns that arrived before this sale may go now; they lock this row, so they see it settled.
  const waiting = await releaseReturnsOf(tx, tenantId, [doc.external_key]);
  return { ...nothing("settled"), releasedReturns: waiting.map((w) => ({ documentId: w.id, round: w.settle_round })), message };
}

/** The operator's sentence for a spend the balance did not cover (intake words it the same). */
export function heldSpendReason(reported: number, posted: number): string {
  return `Списано больше баллов, чем было у покупателя (${reported} при балансе ${posted}): ${reported - posted} баллов ждут решения оператора.`;
}

async function settleReturn(tx: Queryable, tenantId: string, ret: DocumentRow, program: Program, moved: Movements): Promise<SettleOutcome> {
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
  let overReturn: string | null = null;
  if (sale.customer_id) await lockCustomer(tx, tenantId, sale.customer_id);
  if (sale.customer_id) {
    // Points follow the full-price value of the goods that took part in the program (goods
    // paid entirely with points count too); a sale of only excluded goods falls back to
    // the value of all its goods.
    const byEligible = sale.eligible_full_kopecks > 0;
    const saleBase = byEligible ? sale.eligible_full_kopecks : sale.full_kopecks;
    const claimed = sale.returned_kopecks + (byEligible ? ret.eligible_full_kopecks : ret.full_kopecks);
    const returned = Math.min(saleBase, claimed);
    if (claimed > saleBase) {
      overReturn = `Возвращено больше, чем продано: с этим возвратом ${formatRoubles(claimed)} ₽ при продаже на ${formatRoubles(saleBase)} ₽; баллы пересчитаны не больше, чем двигала продажа.`;
    }
    const refund = returnedShare(sale.points_spent, returned, saleBase) - sale.points_refunded;
    const clawback = returnedShare(sale.points_earned, returned, saleBase) - sale.points_clawed_back;
    if (refund > 0) {
      await post(moved, tx, tenantId, {
        customerId: sale.customer_id,
        kind: "refund",
        points: refund,
        documentId: ret.id,
        idempotencyKey: ledgerKey.returnRefund(ret.id),
      });
    }
    let pendingClawback = false;
    if (clawback > 0) {
      // While the sale's accrual is still pending, take the points back from pending.
      const [accrual] = await tx<{ released_at: Date | null; available_at: Date }[]>`
        select released_at, available_at from ledger_entry
        where tenant_id = ${tenantId} and idempotency_key = ${ledgerKey.saleAccrual(sale.id)}`;
      pendingClawback = !!accrual && accrual.released_at === null && accrual.available_at.getTime() > Date.now();
      await post(moved, tx, tenantId, {
        customerId: sale.customer_id,
        kind: "clawback",
        points: -clawback,
        documentId: ret.id,
        idempotencyKey: ledgerKey.returnClawback(ret.id),
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
        text: renderTemplate(program.settings.returnMessageTemplate, {
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
      customer_id = ${sale.customer_id}, match_status = ${sale.match_status}, notice_text = ${message?.text ?? null},
      flag_reason = nullif(concat_ws('; ', flag_reason, ${overReturn}::text), '')
    where tenant_id = ${tenantId} and id = ${ret.id}`;
  if (sale.customer_id) {
    // After the return names its sale: refunds go back into the lots the sale's spend took.
    await syncLots(tx, tenantId, sale.customer_id);
    const tier = await recomputeTier(tx, tenantId, sale.customer_id, program);
    const text = joined(message?.text, tier.text);
    if (text && text !== message?.text) {
      message = { customerId: sale.customer_id, documentId: ret.id, text };
      await tx`update document set notice_text = ${text} where tenant_id = ${tenantId} and id = ${ret.id}`;
    }
  }
  return { ...nothing("settled"), message };
}

/** Returns that waited for these sales (by external key) are stored documents to settle again. */
export function releaseReturnsOf(tx: Queryable, tenantId: string, saleKeys: string[]) {
  return tx<{ id: string; settle_round: number }[]>`
    update document set state = 'received', settle_round = settle_round + 1
    where tenant_id = ${tenantId} and state = 'waiting' and sale_key = any(${saleKeys}::text[])
    returning id, settle_round`;
}
