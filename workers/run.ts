// Starts the workers of one process: the settlement worker, the notifications worker and the
// sweeps. Runtime-neutral;
// workers/main.ts (and src/main.ts for `npm start`) call it.
import type { Job } from "bullmq";
import type { Config } from "../src/config.ts";
import type { Sql } from "../src/db/client.ts";
import { errorFields, log, withLogContext } from "../src/log.ts";
import { throttledLog } from "../src/log-throttle.ts";
import { notifyConfig, sendersFromConfig } from "../src/notify/config.ts";
import type { Senders } from "../src/notify/types.ts";
import { type ImportJob, type MoyskladJob, type NotificationJob, QueueName, type Queues, type SettlementJob } from "../src/queue/queues.ts";
import { type QueueWorkerSpec, SupervisedWorker } from "./supervised.ts";
import { cardLinkProcessor } from "./card-link.ts";
import { ApnsClient } from "../src/wallet/apns.ts";
import { type WalletConfig, walletConfig } from "../src/wallet/config.ts";
import { GoogleWallet } from "../src/wallet/google.ts";
import { walletUpdateProcessor } from "../src/wallet/updates.ts";
import { importsProcessor } from "./imports.ts";
import { failureFields, type NotificationOutcome, notificationsProcessor } from "./notifications.ts";
import { settlementProcessor } from "./settlement.ts";
import { releasePending, sweepIntake, sweepMessages } from "./sweeper.ts";
import { moyskladProcessor, scheduleMoyskladJobs } from "./moysklad.ts";
import type { MoyskladConfig } from "../src/config.ts";
import { rulesProcessor } from "./rules.ts";

export interface WorkerOptions {
  redisUrl: string;
  concurrency: number;
  /** Documents per settlement transaction (default 200). */
  settleBatchSize?: number;
  /** How long a job's lock lasts; a worker that dies loses its jobs to others after this. */
  lockDurationMs: number;
  sweepIntervalMs: number;
  sweepAfterMs: number;
  releaseIntervalMs: number;
  /** The message recovery sweep (see sweepMessages); off when absent. */
  messageSweep?: { intervalMs: number; afterMs: number };
  /** How often the SMS.ru balance is read for the metrics (when SMS is configured). */
  smsBalanceIntervalMs?: number;
  /**
   * The notifications worker (SMS, push): its senders and concurrency. workerOptions() fills
   * it from the environment; absent → no notifications worker in this process (tests of
   * settlement alone, which look at the queued messages).
   */
  notifications?: { senders: Senders; concurrency?: number; publicUrl?: string; wallet?: WalletConfig };
  /** The МойСклад app (catalog refreshes, erasure after uninstall); absent when not configured. */
  moysklad?: MoyskladConfig | null;
  /** The program rules every this many ms (RULES_INTERVAL_MS); absent → no rules worker here. */
  rulesIntervalMs?: number;
  /** A worker with jobs waiting that takes none for this long is replaced (default 15 s). */
  stuckAfterMs?: number;
}

export interface RunningWorkers {
  settlement: SupervisedWorker<SettlementJob, string>;
  /** Null when WorkerOptions.notifications was not given. */
  notifications: SupervisedWorker<NotificationJob, NotificationOutcome> | null;
  moysklad: SupervisedWorker<MoyskladJob, unknown> | null;
  /** Null when WorkerOptions.rulesIntervalMs was not given. */
  rules: SupervisedWorker<unknown, Record<string, number>> | null;
  /** Customer files from the cabinet, one at a time per process (each is a long run of batches). */
  imports: SupervisedWorker<ImportJob, string>;
  /** Stop taking jobs, finish those in hand, stop the sweeps. */
  close(): Promise<void>;
}

/** Outages repeat the same failure for every job and sweep: one line per cause per interval. */
const outageLog = throttledLog("warn", 10_000);
const sweepLog = throttledLog("warn", 30_000);

function every(ms: number, name: string, task: () => Promise<unknown>, atOnce = false): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  const tick = () => {
    if (running) return;
    running = withLogContext({ task: name }, task)
      .catch((e) => sweepLog(`${name} failed; will retry`, errorFields(e)))
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(tick, ms);
  if (atOnce) tick();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/** Every log line a job writes names the job, its queue and its tenant. */
function inJobContext<J extends Job<{ tenantId?: string }>, R>(queue: string, processor: (job: J) => Promise<R>) {
  return (job: J) => withLogContext({ jobId: job.id, queue, tenantId: job.data?.tenantId }, () => processor(job));
}

export function workerOptions(config: Config, redisUrl: string): WorkerOptions {
  return {
    redisUrl,
    concurrency: config.workerConcurrency,
    settleBatchSize: config.settleBatchSize,
    lockDurationMs: config.workerLockMs,
    sweepIntervalMs: config.sweepIntervalMs,
    sweepAfterMs: config.sweepAfterMs,
    releaseIntervalMs: config.releaseIntervalMs,
    messageSweep: { intervalMs: config.messageSweepIntervalMs, afterMs: config.messageSweepAfterMs },
    smsBalanceIntervalMs: config.smsBalanceIntervalMs,
    rulesIntervalMs: config.rulesIntervalMs,
    // SMS.ru / VAPID settings from the environment (throws ConfigError when malformed).
    notifications: { senders: sendersFromConfig(notifyConfig()), concurrency: 8, publicUrl: config.publicUrl, wallet: walletConfig() },
    moysklad: config.moysklad,
  };
}

export function startWorkers(sql: Sql, queues: Queues, opts: WorkerOptions): RunningWorkers {
  const common = { base: queues.base, redisUrl: opts.redisUrl, lockDurationMs: opts.lockDurationMs, errors: outageLog, stuckAfterMs: opts.stuckAfterMs };
  const settlement: SupervisedWorker<SettlementJob, string> = new SupervisedWorker<SettlementJob, string>({
    ...common,
    queue: queues.settlement,
    name: QueueName.settlement,
    processor: inJobContext(QueueName.settlement, settlementProcessor(sql, queues, { batchSize: opts.settleBatchSize, stopping: () => settlement.isClosing() })),
    concurrency: opts.concurrency,
    onFailed: (job, e) =>
      // The cause is the message: a database outage fails every job the same way.
      outageLog(`settlement job failed: ${e.message}`, {
        jobId: job?.id,
        queue: QueueName.settlement,
        tenantId: job?.data.tenantId,
        attempts: job?.attemptsMade,
        ...errorFields(e),
      }),
  });
  const imports = new SupervisedWorker<ImportJob, string>({
    ...common,
    queue: queues.imports,
    name: QueueName.imports,
    processor: importsProcessor(sql),
    concurrency: 1,
    onFailed: (job, e) => log.warn("import job failed", { jobId: job?.id, attempts: job?.attemptsMade, ...errorFields(e) }),
  });
  const notifications = opts.notifications ? startNotifications(sql, queues, common, opts.notifications) : null;
  const moysklad = opts.moysklad ? startMoysklad(sql, queues, common, opts.moysklad) : null;
  const rules = opts.rulesIntervalMs ? startRules(sql, queues, common, opts.rulesIntervalMs) : null;
  const stopSweep = every(opts.sweepIntervalMs, "intake sweep", async () => {
    const n = await sweepIntake(sql, queues, { olderThanMs: opts.sweepAfterMs });
    if (n > 0) log.info("intake sweep queued stored documents", { documents: n });
  });
  const stopRelease = every(opts.releaseIntervalMs, "pending release", async () => {
    const n = await releasePending(sql);
    if (n > 0) log.info("pending points released", { entries: n });
  });
  const ms = opts.messageSweep;
  const stopMessageSweep = ms
    ? every(ms.intervalMs, "message sweep", async () => {
        const n = await sweepMessages(sql, queues, { olderThanMs: ms.afterMs });
        if (n > 0) log.info("message sweep queued lost points messages", { messages: n });
      })
    : async () => {};
  const sms = opts.notifications?.senders.sms;
  const stopBalance = sms?.balance
    ? every(opts.smsBalanceIntervalMs ?? 300_000, "SMS.ru balance", async () => queues.metrics.smsBalance(await sms.balance!()), true)
    : async () => {};
  return {
    settlement,
    notifications: notifications?.worker ?? null,
    moysklad,
    rules,
    imports,
    async close() {
      await Promise.all([stopSweep(), stopRelease(), stopMessageSweep(), stopBalance()]);
      await Promise.all([settlement.close(), imports.close(), notifications?.worker.close(), moysklad?.close(), rules?.close()]);
      notifications?.closeClients();
    },
  };
}

type Common = Pick<QueueWorkerSpec<unknown, unknown>, "base" | "redisUrl" | "lockDurationMs" | "errors" | "stuckAfterMs">;

function startRules(sql: Sql, queues: Queues, common: Common, everyMs: number) {
  // One pass at a time per worker; a pass that dies is taken over once its lock lapses.
  const worker = new SupervisedWorker<unknown, Record<string, number>>({
    ...common,
    queue: queues.rules,
    name: QueueName.rules,
    processor: rulesProcessor(sql, queues),
    concurrency: 1,
    onFailed: (job, e) => log.warn("rules pass failed", { jobId: job?.id, ...errorFields(e) }),
  });
  queues.scheduleRules(everyMs).catch((e) => log.warn("rules scheduler not set; the next worker start sets it", errorFields(e)));
  return worker;
}

function startNotifications(sql: Sql, queues: Queues, common: Common, n: NonNullable<WorkerOptions["notifications"]>) {
  const publicUrl = n.publicUrl ?? "http://localhost:3000";
  const apple = n.wallet?.apple;
  const walletUpdaters = {
    apns: apple?.apns ? new ApnsClient({ teamId: apple.teamId, ...apple.apns }, apple.passTypeId) : null,
    google: n.wallet?.google ? new GoogleWallet(n.wallet.google, publicUrl) : null,
    publicUrl,
  };
  const cardJobs = { card: cardLinkProcessor(sql, n.senders, publicUrl, queues.metrics), wallet: walletUpdateProcessor(sql, walletUpdaters) };
  const worker = new SupervisedWorker<NotificationJob, NotificationOutcome>({
    ...common,
    queue: queues.notifications,
    name: QueueName.notifications,
    processor: inJobContext(QueueName.notifications, notificationsProcessor(sql, n.senders, cardJobs, queues.metrics)),
    concurrency: n.concurrency ?? 8,
    onFailed: (job, e) => log.warn("notification job failed", failureFields(job, e)),
  });
  log.info("notifications worker started", {
    sms: n.senders.sms ? "SMS.ru" : "off (logged only)",
    push: n.senders.push ? "Web Push" : "off",
  });
  return { worker, closeClients: () => walletUpdaters.apns?.close() };
}

function startMoysklad(sql: Sql, queues: Queues, common: Common, cfg: MoyskladConfig) {
  const worker = new SupervisedWorker<MoyskladJob, unknown>({
    ...common,
    queue: queues.moysklad,
    name: QueueName.moysklad,
    processor: moyskladProcessor(sql, cfg, queues.moysklad),
    concurrency: 2,
    lockDurationMs: Math.max(common.lockDurationMs, 120_000),
    stalledChecks: false,
    onFailed: (job, e) => log.warn("moysklad job failed", { jobId: job?.id, name: job?.name, ...errorFields(e) }),
  });
  scheduleMoyskladJobs(queues.moysklad).catch((e) => log.warn("moysklad schedules not set; will be at the next start", errorFields(e)));
  return worker;
}
