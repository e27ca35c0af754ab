// Time-based work that must not depend on Redis keeping anything: documents stored while
// Redis was away (or whose job was lost) are queued again, and pending points whose day
// has come are released. Each sweep runs in one worker at a time (advisory lock).
import type { Sql } from "../src/db/client.ts";
import { wipeExpiredCodes } from "../src/loyalty/codes.ts";
import { releaseDuePending } from "../src/loyalty/ledger.ts";
import { pruneRetiredSubscriptions } from "../src/loyalty/push-subscriptions.ts";
import { jobId, NotificationPriority, type Queues, settleBatchJobs } from "../src/queue/queues.ts";

const INTAKE_SWEEP_LOCK = 7_312_004_002;
const RELEASE_LOCK = 7_312_004_003;
const MESSAGE_SWEEP_LOCK = 7_312_004_004;

/**
 * Documents stored more than `olderThanMs` ago and still unsettled get their jobs again:
 * a batch job for each tenant that has some (a no-op add while that window's job waits),
 * and a job of its own for each document that failed inside a batch (a no-op while that
 * job exists, failed ones included: operators retry those). Returns how many documents
 * it found waiting.
 */
export async function sweepIntake(sql: Sql, queues: Queues, opts: { olderThanMs?: number; limit?: number } = {}): Promise<number> {
  const olderThan = opts.olderThanMs ?? 10_000;
  return sql.begin(async (tx) => {
    const [lock] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(${INTAKE_SWEEP_LOCK}) as locked`;
    if (!lock!.locked) return 0;
    const rows = await tx<{ tenant_id: string; id: string; settle_round: number; failed: boolean }[]>`
      select tenant_id, id, settle_round, settle_failed_at is not null as failed from document
      where state = 'received' and received_at < now() - make_interval(secs => ${olderThan / 1000})
      order by received_at
      limit ${opts.limit ?? 1000}`;
    if (rows.length === 0) return 0;
    const alone = rows.filter((r) => r.failed);
    await queues.settlement.addBulk([
      ...settleBatchJobs(rows.filter((r) => !r.failed).map((r) => r.tenant_id)),
      ...alone.map((r) => ({
        name: "settle",
        data: { tenantId: r.tenant_id, documentId: r.id, round: r.settle_round },
        opts: { jobId: jobId.settle(r.id, r.settle_round) },
      })),
    ]);
    return rows.length;
  });
}

/**
 * Points messages whose job was lost (Redis lost its data between settlement and the
 * message): documents settled between `withinMs` and `olderThanMs` ago, carrying a
 * message, with no outcome recorded on any channel, get their message job again — their
 * batch's job (document.message_job) or their own. The job id is the one settlement used, so a job still in Redis (waiting, retrying, failed,
 * or completed — kept longer than the window) makes the add a no-op; and the
 * notification table lets each channel send once, whatever is queued.
 */
export async function sweepMessages(
  sql: Sql,
  queues: Queues,
  opts: { olderThanMs?: number; withinMs?: number; limit?: number } = {},
): Promise<number> {
  const olderThan = opts.olderThanMs ?? 60_000;
  const within = opts.withinMs ?? 24 * 3600_000;
  return sql.begin(async (tx) => {
    const [lock] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(${MESSAGE_SWEEP_LOCK}) as locked`;
    if (!lock!.locked) return 0;
    const rows = await tx<{ tenant_id: string; id: string; customer_id: string; notice_text: string; message_job: string | null }[]>`
      select d.tenant_id, d.id, d.customer_id, d.notice_text, d.message_job from document d
      where d.notice_text is not null and d.customer_id is not null
        and d.settled_at > now() - make_interval(secs => ${within / 1000})
        and d.settled_at < now() - make_interval(secs => ${olderThan / 1000})
        and not exists (
          select 1 from notification n
          where n.tenant_id = d.tenant_id and n.purpose = 'points' and n.ref = d.id::text)
      order by d.settled_at
      limit ${opts.limit ?? 1000}`;
    if (rows.length === 0) return 0;
    const before = await queues.notifications.getJobCounts("waiting", "prioritized", "delayed", "active", "failed", "completed");
    // A message a batch's job carries goes back into that job (same id), the others into their own.
    const batches = new Map<string, { tenantId: string; messages: { customerId: string; documentId: string; text: string }[] }>();
    for (const r of rows.filter((r) => r.message_job)) {
      const batch = batches.get(r.message_job!) ?? { tenantId: r.tenant_id, messages: [] };
      batch.messages.push({ customerId: r.customer_id, documentId: r.id, text: r.notice_text });
      batches.set(r.message_job!, batch);
    }
    await queues.notifications.addBulk([
      ...rows.filter((r) => !r.message_job).map((r) => ({
        name: "points",
        data: { type: "points" as const, tenantId: r.tenant_id, customerId: r.customer_id, documentId: r.id, text: r.notice_text },
        opts: { jobId: jobId.pointsMessage(r.id), priority: NotificationPriority.points },
      })),
      ...[...batches].map(([messageJob, b]) => ({
        name: "points-batch",
        data: { type: "points-batch" as const, tenantId: b.tenantId, messageJob, messages: b.messages },
        opts: { jobId: jobId.pointsBatch(messageJob), priority: NotificationPriority.points },
      })),
    ]);
    const after = await queues.notifications.getJobCounts("waiting", "prioritized", "delayed", "active", "failed", "completed");
    const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
    return Math.max(0, total(after) - total(before));
  });
}

/**
 * Releases pending points whose day has come, wipes confirmation codes past their time,
 * and deletes push subscriptions retired long ago.
 */
export async function releasePending(sql: Sql): Promise<number> {
  return sql.begin(async (tx) => {
    const [lock] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(${RELEASE_LOCK}) as locked`;
    if (!lock!.locked) return 0;
    await wipeExpiredCodes(tx);
    await pruneRetiredSubscriptions(tx);
    return releaseDuePending(tx);
  });
}
