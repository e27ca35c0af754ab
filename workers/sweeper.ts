// Time-based work that must not depend on Redis keeping anything: documents stored while
// Redis was away (or whose job was lost) are queued again, and pending points whose day
// has come are released. Each sweep runs in one worker at a time (advisory lock).
import type { Sql } from "../src/db/client.ts";
import { wipeExpiredCodes } from "../src/loyalty/codes.ts";
import { releaseDuePending } from "../src/loyalty/ledger.ts";
import { jobId, type Queues } from "../src/queue/queues.ts";

const INTAKE_SWEEP_LOCK = 7_312_004_002;
const RELEASE_LOCK = 7_312_004_003;

/** Queues every document stored more than `olderThanMs` ago and still unsettled. */
export async function sweepIntake(sql: Sql, queues: Queues, opts: { olderThanMs?: number; limit?: number } = {}): Promise<number> {
  const olderThan = opts.olderThanMs ?? 10_000;
  return sql.begin(async (tx) => {
    const [{ locked }] = (await tx`select pg_try_advisory_xact_lock(${INTAKE_SWEEP_LOCK}) as locked`) as unknown as [{ locked: boolean }];
    if (!locked) return 0;
    // During a backlog every unsettled document still has its job waiting: re-adding
    // them would be a thousand no-op Redis calls per sweep. Only when fewer jobs are
    // queued than documents wait can one have been lost.
    const [{ unsettled }] = (await tx`select count(*)::int as unsettled from document where state = 'received'`) as unknown as [
      { unsettled: number },
    ];
    if (unsettled === 0) return 0;
    const c = await queues.settlement.getJobCounts("waiting", "active", "delayed", "prioritized", "waiting-children");
    const queued = Object.values(c).reduce((a, b) => a + b, 0);
    if (queued >= unsettled) return 0;
    const rows = await tx<{ tenant_id: string; id: string; settle_round: number }[]>`
      select tenant_id, id, settle_round from document
      where state = 'received' and received_at < now() - make_interval(secs => ${olderThan / 1000})
      order by received_at
      limit ${opts.limit ?? 1000}`;
    if (rows.length === 0) return 0;
    // A job still waiting, active or failed under the same id makes this add a no-op.
    await queues.settlement.addBulk(
      rows.map((r) => ({
        name: "settle",
        data: { tenantId: r.tenant_id, documentId: r.id, round: r.settle_round },
        opts: { jobId: jobId.settle(r.id, r.settle_round) },
      })),
    );
    return rows.length;
  });
}

/** Releases pending points whose day has come, and wipes confirmation codes past their time. */
export async function releasePending(sql: Sql): Promise<number> {
  return sql.begin(async (tx) => {
    const [{ locked }] = (await tx`select pg_try_advisory_xact_lock(${RELEASE_LOCK}) as locked`) as unknown as [{ locked: boolean }];
    if (!locked) return 0;
    await wipeExpiredCodes(tx as unknown as Sql);
    return releaseDuePending(tx as unknown as Sql);
  });
}
