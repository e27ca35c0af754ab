// Queue names, key prefixes and connections. Every queue's keys share one hash tag
// (`<base>:{<name>}`), so each queue lives in one slot of a Redis Cluster.
import { type JobsOptions, Queue } from "bullmq";
import IORedis, { Cluster, type RedisOptions } from "ioredis";
import { errorFields, log } from "../log.ts";
import { throttledErrors, throttledLog } from "../log-throttle.ts";
import { SharedMetrics } from "../metrics/shared.ts";
import { within } from "../within.ts";

export const QueueName = {
  /** Completed sales and returns → ledger entries. */
  settlement: "settlement",
  /** Messages to customers (SMS, push). */
  notifications: "notifications",
  /** МойСклад app catalog upkeep: catalog refreshes, erasure after uninstall. */
  moysklad: "moysklad",
  /** The time-based program rules (burning, reminders, birthdays, levels): a job scheduler. */
  rules: "rules",
  /** Customer files uploaded in the cabinet → customers and opening balances. */
  imports: "imports",
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];
export const ALL_QUEUES: QueueName[] = [QueueName.settlement, QueueName.notifications, QueueName.moysklad, QueueName.rules, QueueName.imports];

export function queuePrefix(base: string, name: QueueName): string {
  return `${base}:{${name}}`;
}

/** The batch jobs that settle what the given tenants have stored (one per tenant for the current window). */
export function settleBatchJobs(tenantIds: string[], now = Date.now()) {
  const window = Math.floor(now / SETTLE_WINDOW_MS);
  const until = (window + 1) * SETTLE_WINDOW_MS;
  return [...new Set(tenantIds)].map((tenantId) => ({
    name: "batch",
    data: { tenantId, until } as SettlementJob,
    opts: {
      jobId: jobId.settleBatch(tenantId, window),
      delay: until + SETTLE_GRACE_MS - now,
      // Finished windows need not be kept: nobody adds to a window once it has passed.
      removeOnComplete: { age: 600, count: 1000 },
    },
  }));
}

/** Deterministic job ids: the same document or message is never queued twice. */
export const jobId = {
  settle: (documentId: string, round = 0) => (round === 0 ? `doc-${documentId}` : `doc-${documentId}-${round}`),
  settleBatch: (tenantId: string, window: number) => `batch-${tenantId}-${window}`,
  pointsMessage: (documentId: string) => `points-${documentId}`,
  pointsBatch: (messageJob: string) => `points-batch-${messageJob}`,
  codeMessage: (codeId: string) => `code-${codeId}`,
  cardMessage: (customerId: string) => `card-${customerId}`,
  walletUpdate: (customerId: string) => `wallet-${customerId}`,
  customerImport: (importId: string) => `import-${importId}`,
};

/** The file itself stays in Postgres; the job names its row. */
export interface ImportJob {
  tenantId: string;
  importId: string;
}

/** One document, settled alone: one that failed inside a batch (operators see it, retried with backoff). */
export interface SettleDocumentJob {
  tenantId: string;
  documentId: string;
  /** The document's settle_round when queued (0 for a new document). */
  round?: number;
}

/**
 * A tenant's stored documents, taken in batches until none is left. Intake adds one per
 * tenant per SETTLE_WINDOW_MS (the job id names the window), delayed until the window has
 * passed: every sale stored within the window is in Postgres when the job looks.
 */
export interface SettleBatchJob {
  tenantId: string;
  /** ms since epoch: the end of the window this job answers for. */
  until: number;
}

export type SettlementJob = SettleDocumentJob | SettleBatchJob;

export const isBatchJob = (job: SettlementJob): job is SettleBatchJob => "until" in job;

/** Sales of one tenant stored within one window share a batch job. */
export const SETTLE_WINDOW_MS = 200;
/** A batch job runs this long after its window ends (clocks of the API and the workers differ a little). */
const SETTLE_GRACE_MS = 100;

/** "+12 баллов, баланс 183" after a settled sale or return. */
export interface PointsMessageJob {
  type?: "points";
  tenantId: string;
  customerId: string;
  documentId: string;
  text: string;
}

/**
 * The messages of one settlement batch's plain sales, sent by one job. `messageJob` is the
 * id the documents carry (document.message_job), so the job can be queued again under
 * the same id if Redis lost it.
 */
export interface PointsBatchJob {
  type: "points-batch";
  tenantId: string;
  messageJob: string;
  messages: Omit<PointsMessageJob, "type" | "tenantId">[];
}

/** A confirmation code: the job names the code's row; the code itself never enters Redis. */
export interface CodeMessageJob {
  type: "code";
  tenantId: string;
  codeId: string;
}

/** The card link by SMS after registration (src/card/messages.ts). */
export interface CardMessageJob {
  type: "card";
  tenantId: string;
  customerId: string;
}

/** The customer's balance changed: refresh their Wallet passes (src/wallet/updates.ts). */
export interface WalletUpdateJob {
  type: "wallet";
  tenantId: string;
  customerId: string;
}

export type NotificationJob = PointsMessageJob | PointsBatchJob | CodeMessageJob | CardMessageJob | WalletUpdateJob;

/** Refresh one merchant's catalog groups; the daily run for all; the erasure sweep. */
export type MoyskladJob = { type: "refresh-catalog"; tenantId: string } | { type: "refresh-all-catalogs" } | { type: "erase-due" };

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

/** A Redis connection or a Redis Cluster client: BullMQ and our code take either. */
export type RedisClient = IORedis | Cluster;

const CLUSTER_SCHEME = "redis-cluster://";

/** "redis-cluster://h1:p1,h2:p2" — how a REDIS_CLUSTER_NODES setting travels as one target string. */
export function clusterTarget(nodes: string): string {
  return CLUSTER_SCHEME + nodes;
}

/** Seed nodes of a cluster target; null for a plain redis:// URL. */
export function clusterNodes(target: string): { host: string; port: number }[] | null {
  if (!target.startsWith(CLUSTER_SCHEME)) return null;
  return target
    .slice(CLUSTER_SCHEME.length)
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean)
    .map((n) => {
      const i = n.lastIndexOf(":");
      return { host: n.slice(0, i), port: Number(n.slice(i + 1)) };
    });
}

/**
 * One client for a target: a single Redis (redis:// URL) or a Redis Cluster (the seed
 * nodes; the client discovers the rest and follows failovers). Every queue's keys share
 * one hash tag, so BullMQ's multi-key scripts stay inside one slot.
 */
export function redisClient(target: string, opts: RedisOptions): RedisClient {
  const nodes = clusterNodes(target);
  if (!nodes) return new IORedis(target, opts);
  const { enableOfflineQueue, maxRetriesPerRequest, ...node } = opts;
  return new Cluster(nodes, {
    redisOptions: { ...node, maxRetriesPerRequest },
    enableOfflineQueue: enableOfflineQueue ?? true,
    // A master that dies is replaced by its replica within a few seconds: keep asking.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2000,
  });
}

/** A connection for workers: blocking commands wait as long as Redis needs. */
export function workerConnection(target: string, extra: RedisOptions = {}): RedisClient {
  return redisClient(target, { maxRetriesPerRequest: null, lazyConnect: false, ...extra });
}

/**
 * A connection for producers inside request handlers and for operators' views: commands
 * fail at once while Redis is away instead of queueing up, so a sale is still answered
 * (the sweeper queues it), and a Redis that accepts connections but does not answer
 * (paused, overloaded) fails each command after `commandTimeoutMs` instead of hanging it.
 */
export function producerConnection(target: string, commandTimeoutMs = 2000): RedisClient {
  return redisClient(target, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: commandTimeoutMs });
}


const REDIS_SLOW = "Redis did not answer in time";
const REDIS_RETRY_AFTER_MS = 2000;

/** The producers' side of the queues, shared by the API and the workers. */
export class Queues {
  readonly settlement: Queue<SettlementJob>;
  readonly notifications: Queue<NotificationJob>;
  readonly moysklad: Queue<MoyskladJob>;
  readonly rules: Queue;
  readonly imports: Queue<ImportJob>;
  /** Counters and the settlement-lag histogram every process adds to (see src/metrics/shared.ts). */
  readonly metrics: SharedMetrics;
  private readonly connection: RedisClient;

  private readonly addTimeoutMs: number;
  /** The window each tenant's batch job was last added for by this process. */
  private readonly askedForWindow = new Map<string, number>();
  /** One line per cause every 10 s, however many sales meet the same outage (per connection). */
  private readonly outageLog = throttledLog("warn", 10_000);
  /** How long an operator's view waits for Redis. */
  readonly commandTimeoutMs: number;

  constructor(
    redisUrl: string,
    readonly base: string,
    opts: { addTimeoutMs?: number; commandTimeoutMs?: number } = {},
  ) {
    this.addTimeoutMs = opts.addTimeoutMs ?? 500;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 2000;
    this.connection = producerConnection(redisUrl, this.commandTimeoutMs);
    this.connection.on("error", throttledErrors(this.outageLog, "queues: Redis error"));
    this.connection.on("ready", () => (this.skipRedisUntil = 0)); // reconnected: try at once
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
    this.moysklad = new Queue<MoyskladJob>(QueueName.moysklad, {
      connection: this.connection,
      prefix: queuePrefix(base, QueueName.moysklad),
      defaultJobOptions: { attempts: 5, backoff: { type: "exponential", delay: 60_000 }, removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 30 * 24 * 3600 } },
    });
    this.rules = new Queue(QueueName.rules, {
      connection: this.connection,
      prefix: queuePrefix(base, QueueName.rules),
      defaultJobOptions: { attempts: 3, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: { count: 100 }, removeOnFail: { count: 1000 } },
    });
    this.imports = new Queue<ImportJob>(QueueName.imports, {
      connection: this.connection,
      prefix: queuePrefix(base, QueueName.imports),
      defaultJobOptions: importJobOptions,
    });
    for (const q of [this.settlement, this.notifications, this.moysklad, this.rules, this.imports]) q.on("error", throttledErrors(this.outageLog, `queue ${q.name}: Redis error`));
    this.metrics = new SharedMetrics(this.connection, base);
  }

  all(): Queue[] {
    return [this.settlement, this.notifications, this.moysklad, this.rules, this.imports] as Queue[];
  }

  /** One scheduler for all workers (upserting it again changes nothing): a rules pass every `everyMs`. */
  async scheduleRules(everyMs: number): Promise<void> {
    await this.rules.upsertJobScheduler("rules", { every: everyMs }, { name: "rules" });
  }

  /**
   * Until then, sales do not try Redis at all: after one add timed out, each sale of an
   * outage would otherwise wait the full `addTimeoutMs` for the same answer.
   */
  private skipRedisUntil = 0;

  /**
   * An add made inside a request (a customer's card link, a Wallet refresh): bounded by
   * the add timeout, and not tried at all while Redis is known to be away — a request
   * never waits on Redis longer than that. Throws when nothing was queued.
   */
  async addWithinRequest<T>(add: () => Promise<T>): Promise<T> {
    if (Date.now() < this.skipRedisUntil) throw new Error("Redis is not answering; not tried");
    try {
      return await within(this.addTimeoutMs, add(), REDIS_SLOW);
    } catch (e) {
      this.skipRedisUntil = Date.now() + REDIS_RETRY_AFTER_MS;
      throw e;
    }
  }

  /**
   * Asks for the stored documents to be settled: one batch job per tenant for the current
   * window. True when queued; false when Redis is away (the documents stay for the sweeper).
   */
  async enqueueSettlement(documents: { tenantId: string; documentId: string }[]): Promise<boolean> {
    if (documents.length === 0) return true;
    if (Date.now() < this.skipRedisUntil) {
      this.outageLog("settlement not queued; the sweeper will retry", { documents: documents.length, err: "Redis did not answer moments ago" });
      return false;
    }
    // One add per tenant per window from this process: the job id would make the rest no-ops anyway.
    const now = Date.now();
    const window = Math.floor(now / SETTLE_WINDOW_MS);
    const tenants = [...new Set(documents.map((d) => d.tenantId))].filter((t) => this.askedForWindow.get(t) !== window);
    if (tenants.length === 0) return true;
    try {
      await within(this.addTimeoutMs, this.settlement.addBulk(settleBatchJobs(tenants, now)), REDIS_SLOW);
      for (const t of tenants) this.askedForWindow.set(t, window);
      if (this.askedForWindow.size > 10_000) this.askedForWindow.clear();
      return true;
    } catch (e) {
      this.skipRedisUntil = Date.now() + REDIS_RETRY_AFTER_MS;
      this.outageLog("settlement not queued; the sweeper will retry", { documents: documents.length, ...errorFields(e) });
      return false;
    }
  }

  /** The messages of a settled batch, in one call (job ids keep each single). */
  async enqueuePointsMessages(jobs: PointsMessageJob[]): Promise<void> {
    await this.notifications.addBulk(
      jobs.map((job) => ({
        name: "points",
        data: { ...job, type: "points" as const },
        opts: { jobId: jobId.pointsMessage(job.documentId), priority: NotificationPriority.points },
      })),
    );
  }

  async enqueuePointsBatch(job: Omit<PointsBatchJob, "type">): Promise<void> {
    await this.notifications.add("points-batch", { ...job, type: "points-batch" }, {
      jobId: jobId.pointsBatch(job.messageJob),
      priority: NotificationPriority.points,
    });
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

  /**
   * When the oldest job still waiting in a queue was added (ms since epoch), or null.
   * Plain jobs wait in a list (oldest at the tail); prioritized ones in a sorted set scored
   * priority × 2^32 + arrival counter, so the head of each priority band is its oldest.
   */
  async oldestWaitingAt(queue: Queue): Promise<number | null> {
    const [plain] = await queue.getJobs(["wait"], 0, 0, true);
    const times = plain ? [plain.timestamp] : [];
    const prioritized = queue.keys.prioritized!;
    const bands = queue.name === QueueName.notifications ? Object.values(NotificationPriority) : [];
    for (const p of bands) {
      const [id] = await this.connection.zrangebyscore(prioritized, p * 2 ** 32, (p + 1) * 2 ** 32 - 1, "LIMIT", 0, 1);
      const job = id ? await queue.getJob(id) : undefined;
      if (job) times.push(job.timestamp);
    }
    return times.length ? Math.min(...times) : null;
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
