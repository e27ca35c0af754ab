// The imports processor: one uploaded customer file → customers and opening balances.
// The work and its bookkeeping live in src/cabinet/import.ts; the job only names the row.
import type { Job } from "bullmq";
import { runImport } from "../src/cabinet/import.ts";
import type { Sql } from "../src/db/client.ts";
import type { ImportJob } from "../src/queue/queues.ts";

export function importsProcessor(sql: Sql) {
  return async (job: Job<ImportJob>): Promise<string> => {
    const { tenantId, importId } = job.data;
    const done = await runImport(sql, tenantId, importId, (processed, total) => job.updateProgress(total ? Math.floor((processed * 100) / total) : 100));
    return done?.state ?? "missing";
  };
}
