// Starts the workers of one process: the settlement worker and the sweeps. Runtime-neutral;
// workers/main.ts (and src/main.ts for `npm start`) call it.
import { Worker } from "bullmq";
import type { Config } from "../src/config.ts";
import type { Sql } from "../src/db/client.ts";
import { errorFields, log } from "../src/log.ts";
import { QueueName, queuePrefix, type Queues, workerConnection } from "../src/queue/queues.ts";
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
}

export interface RunningWorkers {
  settlement: Worker;
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
    async close() {
      await Promise.all([stopSweep(), stopRelease()]);
      await settlement.close();
      connection.disconnect();
    },
  };
}
