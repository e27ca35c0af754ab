// The settlement processor. A batch job takes its tenant's stored documents a batch at a
// time (src/loyalty/settle-batch.ts) until none is left; after
// each commit it queues the customers' messages and Wallet updates. A document that failed
// inside a batch gets a job of its own, settled alone (and retried, visible to operators).
import { setTimeout as sleep } from "node:timers/promises";
import type { Job } from "bullmq";
import type { Sql } from "../src/db/client.ts";
import { queueWalletUpdate, queueWalletUpdatesForDocument } from "../src/card/jobs.ts";
import { errorFields, log, withLogContext } from "../src/log.ts";
import { type BatchOutcome, settleBatch } from "../src/loyalty/settle-batch.ts";
import { settleDocument } from "../src/loyalty/settlement.ts";
import { isBatchJob, jobId, settleBatchJobs, type Queues, type SettleBatchJob, type SettleDocumentJob, type SettlementJob } from "../src/queue/queues.ts";

export interface SettlementOptions {
  /** Documents per transaction. */
  batchSize?: number;
  /** True once the worker is closing: a batch job then stops after the batch in hand. */
  stopping?: () => boolean;
}

export function settlementProcessor(sql: Sql, queues: Queues, opts: SettlementOptions = {}) {
  const settleOne = settleOneProcessor(sql, queues);
  const settleMany = settleBatchProcessor(sql, queues, opts.batchSize ?? 200, opts.stopping ?? (() => false));
  return (job: Job<SettlementJob>): Promise<string> => (isBatchJob(job.data) ? settleMany(job.data) : settleOne(job.data));
}

function settleBatchProcessor(sql: Sql, queues: Queues, batchSize: number, stopping: () => boolean) {
  return async ({ tenantId }: SettleBatchJob): Promise<string> => {
    let settled = 0;
    // Until a batch comes back empty: a backlog is worked through by every batch job of
    // the tenant at once, each taking documents the others have not locked.
    for (;;) {
      const batch = await settleBatch(sql, tenantId, batchSize).catch((e) => {
        log.warn("settlement batch failed as a whole; settling its documents one by one", errorFields(e));
        return settleBatch(sql, tenantId, batchSize, { plain: false });
      });
      await afterBatch(sql, queues, tenantId, batch);
      settled += batch.settled;
      // Nothing left, or every slot busy with batches that will take what is left.
      if (batch.claimed === 0 || batch.busy) return `${settled} settled`;
      // Only documents whose customers another batch holds: wait for it a moment.
      if (batch.claimed === batch.deferred) await sleep(20);
      if (stopping()) {
        // The rest of the backlog goes to a new job (this process or another takes it).
        await queues.settlement.addBulk(settleBatchJobs([tenantId]));
        return `${settled} settled; stopped for shutdown`;
      }
    }
  };
}

/**
 * After the commit: messages, Wallet updates and the jobs of failed documents. If an add
 * fails the job is retried; the documents are settled by then, their messages and jobs
 * keep their ids (and the message sweep finds a message that never got queued).
 */
async function afterBatch(sql: Sql, queues: Queues, tenantId: string, batch: BatchOutcome): Promise<void> {
  if (batch.settled > 0) {
    queues.metrics.ledger(batch.movements);
    const now = Date.now();
    queues.metrics.settlementLags(batch.moments.map((m) => (now - m.getTime()) / 1000));
  }
  const plain = batch.plainMessages;
  if (plain.messages.length > 0) await queues.enqueuePointsBatch({ tenantId, messageJob: plain.messageJob, messages: plain.messages });
  if (batch.messages.length > 0) await queues.enqueuePointsMessages(batch.messages.map((m) => ({ tenantId, ...m })));
  for (const customerId of new Set(batch.walletCustomers)) await queueWalletUpdate(queues, tenantId, customerId);
  for (const documentId of batch.walletDocuments) await queueWalletUpdatesForDocument(sql, queues, tenantId, documentId);
  if (batch.failed.length > 0) {
    for (const f of batch.failed) {
      withLogContext({ tenantId }, () => log.warn("document failed inside a settlement batch; settling it alone", { documentId: f.documentId, ...errorFields(f.error) }));
    }
    await queues.settlement.addBulk(
      batch.failed.map((f) => ({
        name: "settle",
        data: { tenantId, documentId: f.documentId, round: f.round },
        opts: { jobId: jobId.settle(f.documentId, f.round) },
      })),
    );
  }
}

function settleOneProcessor(sql: Sql, queues: Queues) {
  return async ({ tenantId, documentId }: SettleDocumentJob): Promise<string> => {
    const outcome = await settleDocument(sql, tenantId, documentId);
    if (outcome.status === "settled") {
      queues.metrics.ledger(outcome.movements);
      if (outcome.moment) queues.metrics.settlementLags([(Date.now() - outcome.moment.getTime()) / 1000]);
    }
    // After the commit: if either add fails the job is retried, settleDocument answers
    // "already" with the same message, and job ids keep both adds single.
    if (outcome.message) await queues.enqueuePointsMessage({ tenantId, ...outcome.message });
    if (outcome.status === "settled") await queueWalletUpdatesForDocument(sql, queues, tenantId, documentId);
    // Returns that waited for this sale are the tenant's to settle again.
    if (outcome.releasedReturns.length > 0) await queues.settlement.addBulk(settleBatchJobs([tenantId]));
    return outcome.status;
  };
}
