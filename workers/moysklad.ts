// The МойСклад app's background work: a merchant's catalog groups after install and every
// day (so goods added to an excluded group stop earning), and the erasure of personal data
// 90 days after an uninstall. Thin: the rules are in src/moysklad/install.ts.
import { type Job, Queue } from "bullmq";
import type { MoyskladConfig } from "../src/config.ts";
import type { Sql } from "../src/db/client.ts";
import { log } from "../src/log.ts";
import { TenantDirectory } from "../src/loyalty/tenants.ts";
import { MoyskladClient, MoyskladError } from "../src/moysklad/api-client.ts";
import { activeInstalls, eraseDuePersonalData, refreshCatalog } from "../src/moysklad/install.ts";
import type { MoyskladJob } from "../src/queue/queues.ts";

/** Scheduler ids: upserting them at every start keeps exactly one of each. */
export const SCHEDULES = {
  catalogs: { id: "daily-catalog-refresh", pattern: "0 30 2 * * *", job: { type: "refresh-all-catalogs" } as MoyskladJob },
  erasure: { id: "daily-erasure", pattern: "0 0 3 * * *", job: { type: "erase-due" } as MoyskladJob },
} as const;

export async function scheduleMoyskladJobs(queue: Queue<MoyskladJob>): Promise<void> {
  for (const s of Object.values(SCHEDULES)) {
    await queue.upsertJobScheduler(s.id, { pattern: s.pattern, tz: "Europe/Moscow" }, { name: s.job.type, data: s.job });
  }
}

export function moyskladProcessor(sql: Sql, cfg: MoyskladConfig, queue: Queue<MoyskladJob>, client = new MoyskladClient(cfg)) {
  const tenants = new TenantDirectory(sql, 0);
  return async (job: Job<MoyskladJob>) => {
    const data = job.data;
    switch (data.type) {
      case "refresh-catalog":
        try {
          return await refreshCatalog(sql, cfg, client, tenants, data.tenantId);
        } catch (e) {
          // МойСклад said no (token revoked, no rights): retrying will not change that.
          if (e instanceof MoyskladError && e.status >= 400 && e.status < 500 && e.status !== 429) {
            log.warn("catalog refresh refused by МойСклад", { tenantId: data.tenantId, status: e.status, words: e.words });
            return { refused: e.words };
          }
          throw e;
        }
      case "refresh-all-catalogs": {
        const ids = await activeInstalls(sql);
        // A day-stamped id: a rerun of the same day's run adds nothing twice.
        const day = new Date().toISOString().slice(0, 10);
        await queue.addBulk(ids.map((tenantId) => ({ name: "refresh-catalog", data: { type: "refresh-catalog", tenantId }, opts: { jobId: `catalog-${tenantId}-${day}` } })));
        return { tenants: ids.length };
      }
      case "erase-due":
        return { erased: await eraseDuePersonalData(sql) };
    }
  };
}
