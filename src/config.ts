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
  /** The МойСклад app catalog (Vendor API); null when not configured (vendor routes answer 404). */
  moysklad: MoyskladConfig | null;
}

export interface MoyskladConfig {
  appId: string;
  /** `<app alias>.<vendor alias>`: the `sub` of our tokens to МойСклад. */
  appUid: string;
  /** The app's HS256 key from the developer cabinet. */
  secretKey: string;
  vendorApiUrl: string;
  jsonApiUrl: string;
  /** Our public address, no trailing slash (descriptor, Loyalty API URL). */
  publicUrl: string;
  /** 32 bytes: encrypts tokens at rest and signs merchant sessions. */
  secretsKey: Buffer;
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

const MOYSKLAD_REQUIRED = ["MOYSKLAD_APP_ID", "MOYSKLAD_APP_UID", "MOYSKLAD_SECRET_KEY", "PUBLIC_URL", "SECRETS_KEY"] as const;

function httpUrlVar(name: string, raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, "");
}

/** SECRETS_KEY: 32 bytes as 64 hex digits or base64 (`openssl rand -base64 32`). */
export function secretsKeyVar(raw: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, "hex") : Buffer.from(raw, "base64");
  if (key.length !== 32) throw new ConfigError(`SECRETS_KEY must be 32 bytes: 64 hex digits or base64 (openssl rand -base64 32)`);
  return key;
}

function moyskladVars(env: Record<string, string | undefined>): MoyskladConfig | null {
  const given = MOYSKLAD_REQUIRED.filter((n) => env[n]);
  if (given.length === 0) return null;
  const missing = MOYSKLAD_REQUIRED.filter((n) => !env[n]);
  if (missing.length) throw new ConfigError(`The МойСклад app needs ${missing.join(", ")} as well (or none of ${MOYSKLAD_REQUIRED.join(", ")})`);
  const appId = env.MOYSKLAD_APP_ID!;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(appId)) throw new ConfigError(`MOYSKLAD_APP_ID must be the app's UUID`);
  if (env.MOYSKLAD_SECRET_KEY!.length < 16) throw new ConfigError(`MOYSKLAD_SECRET_KEY must be at least 16 characters long`);
  return {
    appId: appId.toLowerCase(),
    appUid: env.MOYSKLAD_APP_UID!,
    secretKey: env.MOYSKLAD_SECRET_KEY!,
    vendorApiUrl: httpUrlVar("MOYSKLAD_VENDOR_API_URL", env.MOYSKLAD_VENDOR_API_URL || "https://apps-api.moysklad.ru/api/vendor/1.0"),
    jsonApiUrl: httpUrlVar("MOYSKLAD_JSON_API_URL", env.MOYSKLAD_JSON_API_URL || "https://api.moysklad.ru/api/remap/1.2"),
    publicUrl: httpUrlVar("PUBLIC_URL", env.PUBLIC_URL!),
    secretsKey: secretsKeyVar(env.SECRETS_KEY!),
  };
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
    moysklad: moyskladVars(env),
  };
}
