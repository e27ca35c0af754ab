// Starts the workers of one process: the settlement worker, the notifications worker and the
// sweeps. Runtime-neutral;
// workers/main.ts (and src/main.ts for `npm start`) call it.
import { Worker } from "bullmq";
import type { Config } from "../src/config.ts";
import type { Sql } from "../src/db/client.ts";
import { errorFields, log } from "../src/log.ts";
import { notifyConfig, sendersFromConfig } from "../src/notify/config.ts";
import type { Senders } from "../src/notify/types.ts";
import { QueueName, queuePrefix, type Queues, workerConnection } from "../src/queue/queues.ts";
import { importsProcessor } from "./imports.ts";
import { failureFields, notificationsProcessor } from "./notifications.ts";
import { settlementProcessor } from "./settlement.ts";
import { releasePending, sweepIntake } from "./sweeper.ts";

export interface WorkerOptions {
  redisUrl: string;
  concurrency: number;
  /** How long a job's lock lasts; a worker that dies loses its jobs to others after this. */
  lockDurationMs: number;
  sweepIntervalMs: number;
  sweepAfterMs: number;
  releaseIntervalMs: number;
  /**
   * The notifications worker (SMS, push): its senders and concurrency. workerOptions() fills
   * it from the environment; absent → no notifications worker in this process (tests of
   * settlement alone, which look at the queued messages).
   */
  notifications?: { senders: Senders; concurrency?: number };
}

export interface RunningWorkers {
  settlement: Worker;
  /** Null when WorkerOptions.notifications was not given. */
  notifications: Worker | null;
  /** Customer files from the cabinet, one at a time per process (each is a long run of batches). */
  imports: Worker;
  /** Stop taking jobs, finish those in hand, stop the sweeps. */
  close(): Promise<void>;
}

function every(ms: number, name: string, task: () => Promise<unknown>): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  let lastError = 0;
  const timer = setInterval(() => {
    if (running) return;
    running = task()
      .catch((e) => {
        if (Date.now() - lastError > 30_000) log.warn(`${name} failed; will retry`, errorFields(e));
        lastError = Date.now();
      })
      .finally(() => {
        running = null;
      });
  }, ms);
  return async () => {
    clearInterval(timer);
    await running;
  };
}

export function workerOptions(config: Config, redisUrl: string): WorkerOptions {
  return {
    redisUrl,
    concurrency: config.workerConcurrency,
    lockDurationMs: config.workerLockMs,
    sweepIntervalMs: config.sweepIntervalMs,
    sweepAfterMs: config.sweepAfterMs,
    releaseIntervalMs: config.releaseIntervalMs,
    // SMS.ru / VAPID settings from the environment (throws ConfigError when malformed).
    notifications: { senders: sendersFromConfig(notifyConfig()), concurrency: 8 },
  };
}

export function startWorkers(sql: Sql, queues: Queues, opts: WorkerOptions): RunningWorkers {
  const connection = workerConnection(opts.redisUrl);
  connection.on("error", () => {}); // reported by the worker's own error event
  const settlement = new Worker(QueueName.settlement, settlementProcessor(sql, queues), {
    connection,
    prefix: queuePrefix(queues.base, QueueName.settlement),
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    stalledInterval: Math.max(1000, Math.floor(opts.lockDurationMs / 2)),
    maxStalledCount: 3,
  });
  let lastError = 0;
  settlement.on("error", (e) => {
    if (Date.now() - lastError > 10_000) log.warn("settlement worker: Redis error", errorFields(e));
    lastError = Date.now();
  });
  settlement.on("failed", (job, e) => {
    log.warn("settlement job failed", { jobId: job?.id, attempts: job?.attemptsMade, ...errorFields(e) });
  });
  const imports = new Worker(QueueName.imports, importsProcessor(sql), {
    connection,
    prefix: queuePrefix(queues.base, QueueName.imports),
    concurrency: 1,
    lockDuration: opts.lockDurationMs,
    stalledInterval: Math.max(1000, Math.floor(opts.lockDurationMs / 2)),
    maxStalledCount: 3,
  });
  let lastImportError = 0;
  imports.on("error", (e) => {
    if (Date.now() - lastImportError > 10_000) log.warn("imports worker: Redis error", errorFields(e));
    lastImportError = Date.now();
  });
  imports.on("failed", (job, e) => {
    log.warn("import job failed", { jobId: job?.id, attempts: job?.attemptsMade, ...errorFields(e) });
  });
  const notifications = opts.notifications ? startNotifications(sql, queues, opts, opts.notifications) : null;
  const stopSweep = every(opts.sweepIntervalMs, "intake sweep", async () => {
    const n = await sweepIntake(sql, queues, { olderThanMs: opts.sweepAfterMs });
    if (n > 0) log.info("intake sweep queued stored documents", { documents: n });
  });
  const stopRelease = every(opts.releaseIntervalMs, "pending release", async () => {
    const n = await releasePending(sql);
    if (n > 0) log.info("pending points released", { entries: n });
  });
  return {
    settlement,
    notifications: notifications?.worker ?? null,
    imports,
    async close() {
      await Promise.all([stopSweep(), stopRelease()]);
      await Promise.all([settlement.close(), imports.close(), notifications?.worker.close()]);
      connection.disconnect();
      notifications?.connection.disconnect();
    },
  };
}

function startNotifications(sql: Sql, queues: Queues, opts: WorkerOptions, n: NonNullable<WorkerOptions["notifications"]>) {
  const connection = workerConnection(opts.redisUrl);
  connection.on("error", () => {}); // reported by the worker's own error event
  const worker = new Worker(QueueName.notifications, notificationsProcessor(sql, n.senders), {
    connection,
    prefix: queuePrefix(queues.base, QueueName.notifications),
    concurrency: n.concurrency ?? 8,
    lockDuration: opts.lockDurationMs,
    stalledInterval: Math.max(1000, Math.floor(opts.lockDurationMs / 2)),
    maxStalledCount: 3,
  });
  let lastError = 0;
  worker.on("error", (e) => {
    if (Date.now() - lastError > 10_000) log.warn("notifications worker: Redis error", errorFields(e));
    lastError = Date.now();
  });
  worker.on("failed", (job, e) => {
    log.warn("notification job failed", failureFields(job, e));
  });
  log.info("notifications worker started", {
    sms: n.senders.sms ? "SMS.ru" : "off (logged only)",
    push: n.senders.push ? "Web Push" : "off",
  });
  return { worker, connection };
}
