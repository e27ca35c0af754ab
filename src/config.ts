// Environment, read once and validated, so a bad setting stops the process with one
// clear line instead of failing later inside a request.

export interface Config {
  port: number;
  /** Empty when the embedded Postgres should be started. */
  databaseUrl: string;
  /** Empty when a local Redis should be used or started. */
  redisUrl: string;
  adminToken: string;
  /** Where embedded services keep their data. */
  dataDir: string;
  /** Connections in this process's Postgres pool. */
  dbPoolSize: number;
  /** Seconds a tenant's key and program settings may be served from memory. */
  cacheTtlSeconds: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** Base of every queue's Redis key prefix (several deployments may share one Redis). */
  queuePrefix: string;
  workerConcurrency: number;
  workerLockMs: number;
  sweepIntervalMs: number;
  /** A stored document older than this with no settlement is queued again by the sweeper. */
  sweepAfterMs: number;
  releaseIntervalMs: number;
  /** How often the program rules run (burning, reminders, birthdays, daily levels). */
  rulesIntervalMs: number;
}

export class ConfigError extends Error {}

function intVar(env: Record<string, string | undefined>, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

function queuePrefixVar(raw: string | undefined): string {
  const v = raw || "loyalty";
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(v)) throw new ConfigError(`QUEUE_PREFIX may hold letters, digits, "_", "." and "-" only`);
  return v;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const databaseUrl = env.DATABASE_URL ?? "";
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(`DATABASE_URL must start with postgres:// or postgresql://`);
  }
  const redisUrl = env.REDIS_URL ?? "";
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError(`REDIS_URL must start with redis:// or rediss://`);
  }
  const adminToken = env.ADMIN_TOKEN ?? "";
  if (adminToken && adminToken.length < 16) {
    throw new ConfigError(`ADMIN_TOKEN must be at least 16 characters long`);
  }
  const logLevel = (env.LOG_LEVEL ?? "info") as Config["logLevel"];
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of debug, info, warn, error`);
  }
  return {
    port: intVar(env, "PORT", 3000, 0, 65535),
    databaseUrl,
    redisUrl,
    adminToken,
    dataDir: env.DATA_DIR || ".data",
    dbPoolSize: intVar(env, "DB_POOL_SIZE", 20, 1, 500),
    cacheTtlSeconds: intVar(env, "CACHE_TTL_SECONDS", 10, 0, 3600),
    logLevel,
    queuePrefix: queuePrefixVar(env.QUEUE_PREFIX),
    workerConcurrency: intVar(env, "WORKER_CONCURRENCY", 16, 1, 500),
    workerLockMs: intVar(env, "WORKER_LOCK_MS", 30_000, 1000, 600_000),
    sweepIntervalMs: intVar(env, "SWEEP_INTERVAL_MS", 5000, 100, 600_000),
    sweepAfterMs: intVar(env, "SWEEP_AFTER_MS", 10_000, 0, 3_600_000),
    releaseIntervalMs: intVar(env, "RELEASE_INTERVAL_MS", 30_000, 100, 3_600_000),
    rulesIntervalMs: intVar(env, "RULES_INTERVAL_MS", 60_000, 100, 86_400_000),
  };
}
