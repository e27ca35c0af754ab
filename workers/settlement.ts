// The settlement processor: one stored document → its ledger entries, then the message
// to the customer and any returns that waited for this sale.
import type { Job } from "bullmq";
import type { Sql } from "../src/db/client.ts";
import { queueWalletUpdatesForDocument } from "../src/card/jobs.ts";
import { settleDocument } from "../src/loyalty/settlement.ts";
import { jobId, type Queues, type SettlementJob } from "../src/queue/queues.ts";

export function settlementProcessor(sql: Sql, queues: Queues) {
  return async (job: Job<SettlementJob>): Promise<string> => {
    const { tenantId, documentId } = job.data;
    const outcome = await settleDocument(sql, tenantId, documentId);
    if (outcome.status === "settled") {
      queues.metrics.ledger(outcome.movements);
      if (outcome.moment) queues.metrics.settlementLag((Date.now() - outcome.moment.getTime()) / 1000);
    }
    // After the commit: if either add fails the job is retried, settleDocument answers
    // "already" with the same message, and job ids keep both adds single.
    if (outcome.message) await queues.enqueuePointsMessage({ tenantId, ...outcome.message });
    if (outcome.status === "settled") await queueWalletUpdatesForDocument(sql, queues, tenantId, documentId);
    if (outcome.releasedReturns.length > 0) {
      await queues.settlement.addBulk(
        outcome.releasedReturns.map((r) => ({
          name: "settle",
          data: { tenantId, documentId: r.documentId, round: r.round },
          opts: { jobId: jobId.settle(r.documentId, r.round) },
        })),
      );
    }
    return outcome.status;
  };
}
