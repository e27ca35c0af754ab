// The rules processor: one pass of the time-based program rules, then its messages.
import type { Job } from "bullmq";
import type { Sql } from "../src/db/client.ts";
import { runRules } from "../src/loyalty/rules.ts";
import type { Queues } from "../src/queue/queues.ts";

export function rulesProcessor(sql: Sql, queues: Queues) {
  return async (_job: Job): Promise<Record<string, number>> => {
    const pass = await runRules(sql);
    // Refs name each message once: a pass re-run after a crash queues nothing twice.
    for (const m of pass.messages) {
      await queues.enqueuePointsMessage({ tenantId: m.tenantId, customerId: m.customerId, documentId: m.ref, text: m.text });
    }
    return { burned: pass.burned, reminded: pass.reminded, birthdays: pass.birthdays, tiersChecked: pass.tiersChecked };
  };
}
