// Queue names, key prefixes and connections. Every queue's keys share one hash tag
// (`<base>:{<name>}`), so each queue lives in one slot of a Redis Cluster.
import { type JobsOptions, Queue } from "bullmq";
import IORedis, { type RedisOptions } from "ioredis";
import { errorFields, log } from "../log.ts";
import { within } from "../within.ts";

export const QueueName = {
  /** Completed sales and returns → ledger entries. */
  settlement: "settlement",
  /** Messages to customers (SMS, push). */
  notifications: "notifications",
  /** Customer files uploaded in the cabinet → customers and opening balances. */
  imports: "imports",
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];
export const ALL_QUEUES: QueueName[] = [QueueName.settlement, QueueName.notifications, QueueName.imports];

export function queuePrefix(base: string, name: QueueName): string {
  return `${base}:{${name}}`;
}

/** Deterministic job ids: the same document or message is never queued twice. */
export const jobId = {
  settle: (documentId: string, round = 0) => (round === 0 ? `doc-${documentId}` : `doc-${documentId}-${round}`),
  pointsMessage: (documentId: string) => `points-${documentId}`,
  codeMessage: (codeId: string) => `code-${codeId}`,
  customerImport: (importId: string) => `import-${importId}`,
};

/** The file itself stays in Postgres; the job names its row. */
export interface ImportJob {
  tenantId: string;
  importId: string;
}

export interface SettlementJob {
  tenantId: string;
  documentId: string;
  /** The document's settle_round when queued (0 for a new document). */
  round?: number;
}

/** "+12 баллов, баланс 183" after a settled sale or return. */
export interface PointsMessageJob {
  type?: "points";
  tenantId: string;
  customerId: string;
  documentId: string;
  text: string;
}

/** A confirmation code: the job names the code's row; the code itself never enters Redis. */
export interface CodeMessageJob {
  type: "code";
  tenantId: string;
  codeId: string;
}

export type NotificationJob = PointsMessageJob | CodeMessageJob;

/** BullMQ priorities: lower goes first. A customer at the till waits for a code. */
export const NotificationPriority = { code: 1, points: 10 } as const;

const settlementJobOptions: JobsOptions = {
  attempts: 8,
  backoff: { type: "exponential", delay: 1000 },
  // Completed jobs are kept a while so a redelivered document is recognised by id;
  // failed ones stay for operators to read and retry.
  removeOnComplete: { age: 24 * 3600, count: 100_000 },
  removeOnFail: false,
};

const importJobOptions: JobsOptions = {
  attempts: 5,
  backoff: { type: "exponential", delay: 2000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
  removeOnFail: false,
};

const notificationJobOptions: JobsOptions = {
  attempts: 10,
  backoff: { type: "exponential", delay: 5000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 100_000 },
  removeOnFail: false,
};

/** A connection for workers: blocking commands wait as long as Redis needs. */
export function workerConnection(url: string, extra: RedisOptions = {}): IORedis {
  return new IORedis(url, { maxRetriesPerRequest: null, lazyConnect: false, ...extra });
}

/**
 * A connection for producers inside request handlers: commands fail at once while Redis
 * is away instead of queueing up, so a sale is still answered (the sweeper queues it).
 */
export function producerConnection(url: string): IORedis {
  return new IORedis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 });
}

function throttledErrorLog(what: string): (e: Error) => void {
  let last = 0;
  return (e) => {
    const now = Date.now();
    if (now - last < 10_000) return;
    last = now;
    log.warn(`${what}: Redis error`, errorFields(e));
  };
}

const REDIS_SLOW = "Redis did not answer in time";

/** The producers' side of the queues, shared by the API and the workers. */
export class Queues {
  readonly settlement: Queue<SettlementJob>;
  readonly notifications: Queue<NotificationJob>;
  readonly imports: Queue<ImportJob>;
  private readonly connection: IORedis;

  constructor(
    redisUrl: string,
    readonly base: string,
    private readonly addTimeoutMs = 500,
  ) {
    this.connection = producerConnection(redisUrl);
    this.connection.on("error", throttledErrorLog("queues"));
    this.settlement = new Queue<SettlementJob>(QueueName.settlement, {
      connection: this.connection,
      prefix: queuePrefix(base, QueueName.settlement),
      defaultJobOptions: settlementJobOptions,
    });
    this.notifications = new Queue<NotificationJob>(QueueName.notifications, {
      connection: this.connection,
      prefix: queuePrefix(base, QueueName.notifications),
      defaultJobOptions: notificationJobOptions,
    });
    this.imports = new Queue<ImportJob>(QueueName.imports, {
      connection: this.connection,
      prefix: queuePrefix(base, QueueName.imports),
      defaultJobOptions: importJobOptions,
    });
    for (const q of [this.settlement, this.notifications, this.imports]) q.on("error", throttledErrorLog(`queue ${q.name}`));
  }

  all(): Queue[] {
    return [this.settlement, this.notifications, this.imports] as Queue[];
  }

  /** True when queued; false when Redis is away (the document stays for the sweeper). */
  async enqueueSettlement(jobs: SettlementJob[]): Promise<boolean> {
    if (jobs.length === 0) return true;
    try {
      await within(
        this.addTimeoutMs,
        this.settlement.addBulk(
          jobs.map((data) => ({ name: "settle", data, opts: { jobId: jobId.settle(data.documentId, data.round ?? 0) } })),
        ),
        REDIS_SLOW,
      );
      return true;
    } catch (e) {
      log.warn("settlement not queued; the sweeper will retry", { documents: jobs.length, ...errorFields(e) });
      return false;
    }
  }

  async enqueuePointsMessage(job: PointsMessageJob): Promise<void> {
    await this.notifications.add("points", { ...job, type: "points" }, {
      jobId: jobId.pointsMessage(job.documentId),
      priority: NotificationPriority.points,
    });
  }

  /** Queues a code for sending; throws when Redis does not answer in time (the caller says so). */
  async enqueueCodeMessage(job: Omit<CodeMessageJob, "type">): Promise<void> {
    await within(
      this.addTimeoutMs * 2,
      this.notifications.add("code", { ...job, type: "code" }, { jobId: jobId.codeMessage(job.codeId), priority: NotificationPriority.code }),
      REDIS_SLOW,
    );
  }

  /** Queues a stored import; throws when Redis does not answer in time (the caller says so). */
  async enqueueImport(job: ImportJob): Promise<void> {
    await within(this.addTimeoutMs * 2, this.imports.add("import", job, { jobId: jobId.customerImport(job.importId) }), REDIS_SLOW);
  }

  async ping(): Promise<boolean> {
    return (await within(1000, this.connection.ping(), REDIS_SLOW)) === "PONG";
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.all().map((q) => q.close()));
    this.connection.disconnect();
  }
}
