// Environment, read once and validated, so a bad setting stops the process with one
// clear line instead of failing later inside a request.

export interface Config {
  port: number;
  /** Empty when the embedded Postgres should be started. */
  databaseUrl: string;
  /** Empty when a local Redis should be used or started. */
  redisUrl: string;
  /** Seed nodes of a Redis Cluster ("host:port,host:port"); when set, REDIS_URL is not used. */
  redisClusterNodes: string;
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
  /** Documents settled in one transaction by a batch job. */
  settleBatchSize: number;
  /** Most concurrent sales and returns the API stores in one transaction (1: each alone). */
  intakeGroupMax: number;
  workerLockMs: number;
  sweepIntervalMs: number;
  /** A stored document older than this with no settlement is queued again by the sweeper. */
  sweepAfterMs: number;
  releaseIntervalMs: number;
  /** How often the program rules run (burning, reminders, birthdays, daily levels). */
  rulesIntervalMs: number;
  /** The address customers reach (card links in SMS and Wallet passes), no trailing slash. */
  publicUrl: string;
  /** How often settled documents are checked for a points message that was never queued, and how old they must be. */
  messageSweepIntervalMs: number;
  messageSweepAfterMs: number;
  /** How often workers read the SMS.ru balance for /metrics. */
  smsBalanceIntervalMs: number;
  /** Request limits, timeouts and public rate limits (README "Limits and timeouts"). */
  limits: Limits;
  /** The МойСклад app catalog (Vendor API); null when not configured (vendor routes answer 404). */
  moysklad: MoyskladConfig | null;
}

export interface Limits {
  /** Largest request body per route family, bytes (checked before anything parses it). */
  bodyBytes: { pos: number; admin: number; web: number; imports: number; other: number };
  /** Deepest nesting of arrays and objects a JSON body may have. */
  jsonDepth: number;
  /** An interactive (POS, web card) call not answered by then gets 503. */
  requestDeadlineMs: number;
  /**
   * An admin API call (`/admin/v1/…`) or cabinet page not answered by then gets 503;
   * uploads and streamed CSV exports have none (they may run long).
   */
  adminDeadlineMs: number;
  /** Postgres statement_timeout / lock_timeout of the API's pool and of the workers' pool. */
  apiStatementTimeoutMs: number;
  apiLockTimeoutMs: number;
  workerStatementTimeoutMs: number;
  workerLockTimeoutMs: number;
  /** Admin views and Bull Board give up on Redis after this. */
  redisCommandTimeoutMs: number;
  /** Public web-card endpoints: requests per minute per client address, and per card. */
  webPerIpPerMinute: number;
  webPerCardPerMinute: number;
  /** Take the client address from X-Forwarded-For (only behind a proxy that sets it). */
  trustProxy: boolean;
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

function publicUrlVar(raw: string | undefined, port: number): string {
  const v = (raw ?? "").trim() || `http://localhost:${port}`;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ConfigError(`PUBLIC_URL must be the address customers reach, such as https://loyalty.example.ru`);
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.search || url.hash || url.username) {
    throw new ConfigError(`PUBLIC_URL must be a plain http(s) address without query or credentials, got "${v}"`);
  }
  return url.toString().replace(/\/+$/, "");
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

function moyskladVars(env: Record<string, string | undefined>, publicUrl: string): MoyskladConfig | null {
  const given = MOYSKLAD_REQUIRED.filter((n) => n !== "PUBLIC_URL" && env[n]);
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
    publicUrl,
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
  const redisClusterNodes = (env.REDIS_CLUSTER_NODES ?? "").trim();
  if (redisClusterNodes && !redisClusterNodes.split(",").every((n) => /^[A-Za-z0-9.\-]+:\d{1,5}$/.test(n.trim()))) {
    throw new ConfigError(`REDIS_CLUSTER_NODES must list host:port pairs separated by commas, e.g. "10.0.0.1:7000,10.0.0.2:7000"`);
  }
  const adminToken = env.ADMIN_TOKEN ?? "";
  if (adminToken && adminToken.length < 16) {
    throw new ConfigError(`ADMIN_TOKEN must be at least 16 characters long`);
  }
  const logLevel = (env.LOG_LEVEL ?? "info") as Config["logLevel"];
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of debug, info, warn, error`);
  }
  const port = intVar(env, "PORT", 3000, 0, 65535);
  const publicUrl = publicUrlVar(env.PUBLIC_URL, port);
  return {
    port,
    databaseUrl,
    redisUrl,
    redisClusterNodes,
    adminToken,
    dataDir: env.DATA_DIR || ".data",
    dbPoolSize: intVar(env, "DB_POOL_SIZE", 20, 1, 500),
    cacheTtlSeconds: intVar(env, "CACHE_TTL_SECONDS", 10, 0, 3600),
    logLevel,
    queuePrefix: queuePrefixVar(env.QUEUE_PREFIX),
    workerConcurrency: intVar(env, "WORKER_CONCURRENCY", 16, 1, 500),
    settleBatchSize: intVar(env, "SETTLE_BATCH_SIZE", 200, 1, 5000),
    intakeGroupMax: intVar(env, "INTAKE_GROUP_MAX", 64, 1, 1000),
    workerLockMs: intVar(env, "WORKER_LOCK_MS", 30_000, 1000, 600_000),
    sweepIntervalMs: intVar(env, "SWEEP_INTERVAL_MS", 5000, 100, 600_000),
    sweepAfterMs: intVar(env, "SWEEP_AFTER_MS", 10_000, 0, 3_600_000),
    releaseIntervalMs: intVar(env, "RELEASE_INTERVAL_MS", 30_000, 100, 3_600_000),
    rulesIntervalMs: intVar(env, "RULES_INTERVAL_MS", 60_000, 100, 86_400_000),
    publicUrl,
    messageSweepIntervalMs: intVar(env, "MESSAGE_SWEEP_INTERVAL_MS", 60_000, 100, 3_600_000),
    messageSweepAfterMs: intVar(env, "MESSAGE_SWEEP_AFTER_MS", 60_000, 0, 3_600_000),
    smsBalanceIntervalMs: intVar(env, "SMS_BALANCE_INTERVAL_MS", 300_000, 1000, 86_400_000),
    limits: loadLimits(env),
    moysklad: moyskladVars(env, publicUrl),
  };
}

const KB = 1024;

function loadLimits(env: Record<string, string | undefined>): Limits {
  const trust = env.TRUST_PROXY ?? "";
  if (!["", "0", "1", "true", "false"].includes(trust)) throw new ConfigError(`TRUST_PROXY must be 1 or 0`);
  return {
    bodyBytes: {
      pos: intVar(env, "BODY_LIMIT_POS_KB", 2048, 1, 1024 * KB) * KB,
      admin: intVar(env, "BODY_LIMIT_ADMIN_KB", 1024, 1, 1024 * KB) * KB,
      web: intVar(env, "BODY_LIMIT_WEB_KB", 16, 1, 1024 * KB) * KB,
      imports: intVar(env, "BODY_LIMIT_IMPORTS_KB", 64 * KB, 1, 1024 * KB) * KB,
      other: 64 * KB,
    },
    jsonDepth: intVar(env, "JSON_MAX_DEPTH", 32, 4, 1000),
    requestDeadlineMs: intVar(env, "REQUEST_DEADLINE_MS", 5000, 100, 120_000),
    adminDeadlineMs: intVar(env, "ADMIN_DEADLINE_MS", 15_000, 100, 600_000),
    apiStatementTimeoutMs: intVar(env, "DB_STATEMENT_TIMEOUT_MS", 3000, 100, 600_000),
    apiLockTimeoutMs: intVar(env, "DB_LOCK_TIMEOUT_MS", 1000, 50, 600_000),
    workerStatementTimeoutMs: intVar(env, "WORKER_STATEMENT_TIMEOUT_MS", 60_000, 100, 3_600_000),
    workerLockTimeoutMs: intVar(env, "WORKER_LOCK_TIMEOUT_MS", 10_000, 50, 3_600_000),
    redisCommandTimeoutMs: intVar(env, "REDIS_COMMAND_TIMEOUT_MS", 2000, 100, 60_000),
    webPerIpPerMinute: intVar(env, "WEB_RATE_PER_IP_PER_MINUTE", 60, 1, 1_000_000),
    webPerCardPerMinute: intVar(env, "WEB_RATE_PER_CARD_PER_MINUTE", 10, 1, 1_000_000),
    trustProxy: trust === "1" || trust === "true",
  };
}
