// One BullMQ worker of one queue, built the same way for every queue, and replaced when it
// stops taking jobs. A worker relies on ioredis to come back after Redis does; after a
// Redis Cluster failover (the master holding the queue killed, its replica promoted) a
// worker was seen here holding a "ready" blocking connection and never taking another job
// while its queue filled (BullMQ's maintainers advise closing such a worker and making a
// new one). The watchdog does that: jobs waiting, none taken for `stuckAfterMs`, nothing
// in hand → a new worker on a new connection; the old one is closed without waiting on it.
import { type Job, type Queue, Worker } from "bullmq";
import { errorFields, log } from "../src/log.ts";
import { throttledErrors, type ThrottledLog } from "../src/log-throttle.ts";
import { type QueueName, queuePrefix, type RedisClient, workerConnection } from "../src/queue/queues.ts";

export interface QueueWorkerSpec<D, R> {
  /** The producers' side of the same queue: how many jobs wait (for the watchdog). */
  queue: Queue<D>;
  name: QueueName;
  base: string;
  redisUrl: string;
  processor: (job: Job<D, R>) => Promise<R>;
  concurrency: number;
  lockDurationMs: number;
  /** Stalled-job checks (jobs of a dead worker go back to waiting); default: none beyond BullMQ's. */
  stalledChecks?: boolean;
  /** Redis errors and failed jobs, one line per cause per interval. */
  errors: ThrottledLog;
  onFailed?: (job: Job<D, R> | undefined, e: Error) => void;
  /** Jobs waiting and none taken this long → the worker is replaced. */
  stuckAfterMs?: number;
}

const DEFAULT_STUCK_AFTER_MS = 15_000;
/** How long a replaced worker may take to close before it is left to the garbage collector. */
const ABANDON_AFTER_MS = 5_000;

export class SupervisedWorker<D, R> {
  private worker!: Worker<D, R, string>;
  private connection!: RedisClient;
  /** Last sign of life: a job taken or finished, or the queue seen drained. */
  private lastAlive = Date.now();
  private inHand = 0;
  private closing = false;
  private readonly watchdog: ReturnType<typeof setInterval>;
  /** How many times the worker was replaced (tests and the log read it). */
  replacements = 0;

  constructor(private readonly spec: QueueWorkerSpec<D, R>) {
    this.start();
    const stuckAfter = spec.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS;
    this.watchdog = setInterval(() => void this.check(stuckAfter), Math.max(1000, Math.floor(stuckAfter / 3)));
  }

  private start(): void {
    const s = this.spec;
    this.connection = workerConnection(s.redisUrl);
    this.connection.on("error", () => {}); // reported by the worker's own error event
    this.inHand = 0;
    this.lastAlive = Date.now();
    const worker = new Worker<D, R, string>(s.name, s.processor, {
      connection: this.connection,
      prefix: queuePrefix(s.base, s.name),
      concurrency: s.concurrency,
      lockDuration: s.lockDurationMs,
      ...(s.stalledChecks === false ? {} : { stalledInterval: Math.max(1000, Math.floor(s.lockDurationMs / 2)), maxStalledCount: 3 }),
    });
    const alive = () => {
      this.lastAlive = Date.now();
    };
    worker.on("active", () => {
      this.inHand++;
      alive();
    });
    worker.on("completed", () => {
      this.inHand = Math.max(0, this.inHand - 1);
      alive();
    });
    worker.on("failed", (job, e) => {
      if (job) this.inHand = Math.max(0, this.inHand - 1);
      alive();
      s.onFailed?.(job, e);
    });
    worker.on("drained", alive);
    worker.on("error", throttledErrors(s.errors, `${s.name} worker: Redis error`));
    this.worker = worker;
  }

  private async check(stuckAfterMs: number): Promise<void> {
    if (this.closing || this.worker.isPaused() || this.inHand > 0) return;
    if (Date.now() - this.lastAlive < stuckAfterMs) return;
    let waiting: number;
    try {
      const c = await this.spec.queue.getJobCounts("waiting", "prioritized");
      waiting = (c.waiting ?? 0) + (c.prioritized ?? 0);
      // A delayed job past its time counts too: a stuck worker does not promote them either.
      const [next] = await this.spec.queue.getJobs(["delayed"], 0, 0, true);
      if (next && next.timestamp + (next.opts.delay ?? 0) < Date.now() - stuckAfterMs) waiting++;
    } catch {
      return; // Redis itself is away: nothing a new worker could do better
    }
    if (waiting === 0) {
      this.lastAlive = Date.now();
      return;
    }
    if (this.closing || Date.now() - this.lastAlive < stuckAfterMs) return;
    log.warn(`${this.spec.name} worker took no job for ${Math.round((Date.now() - this.lastAlive) / 1000)} s while ${waiting} waited: replaced`, {
      queue: this.spec.name,
    });
    this.replacements++;
    const old = { worker: this.worker, connection: this.connection };
    this.start();
    void abandon(old.worker, old.connection);
  }

  pause(): Promise<void> {
    return this.worker.pause();
  }

  resume(): void {
    this.worker.resume();
  }

  /** True once close() was called. */
  isClosing(): boolean {
    return this.closing;
  }

  isRunning(): boolean {
    return this.worker.isRunning();
  }

  /** Stop taking jobs and finish those in hand. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.watchdog);
    await this.worker.close();
    this.connection.disconnect();
  }
}

/** Closes a replaced worker; one that does not close in time is forced, then left. */
async function abandon(worker: Worker<any, any, string>, connection: RedisClient): Promise<void> {
  try {
    const closed = worker.close(true).then(() => true);
    const late = new Promise<false>((resolve) => setTimeout(resolve, ABANDON_AFTER_MS, false));
    if (!(await Promise.race([closed, late]))) log.warn(`${worker.name} worker did not close in time; left behind`);
  } catch (e) {
    log.warn(`${worker.name} worker: closing the replaced worker failed`, errorFields(e));
  } finally {
    connection.disconnect();
  }
}
