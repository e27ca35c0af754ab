// Turns configuration into running dependencies: the database (embedded when no
// DATABASE_URL), migrations, the admin token. Runtime-neutral; the entry files call it.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Config } from "./config.ts";
import { createSql, type Sql } from "./db/client.ts";
import { migrate } from "./db/migrate.ts";
import { log } from "./log.ts";
import { clusterTarget } from "./queue/queues.ts";

export class StartupError extends Error {}

export interface Database {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** DATABASE_URL when set; otherwise a private Postgres under `<dataDir>/postgres`. */
export async function provideDatabase(config: Config): Promise<Database> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: false, stop: async () => {} };
  const { startEmbeddedPostgres } = await import("./runtime/embedded-postgres.ts");
  const dataDir = resolve(config.dataDir, "postgres");
  log.info("DATABASE_URL is not set: starting the embedded Postgres", { dataDir });
  try {
    const pg = await startEmbeddedPostgres({ dataDir, log: (msg) => log.info(msg) });
    return { url: pg.url, embedded: true, stop: () => pg.stop() };
  } catch (e) {
    throw new StartupError((e as Error).message);
  }
}

export interface Redis {
  url: string;
  local: boolean;
  stop(): Promise<void>;
}

/**
 * REDIS_CLUSTER_NODES (a Redis Cluster) or REDIS_URL when set; otherwise a Redis on
 * 127.0.0.1:6379, or one started from redis-server. `url` is what src/queue/queues.ts
 * connects to (a cluster travels as "redis-cluster://h1:p1,h2:p2").
 */
export async function provideRedis(config: Config): Promise<Redis> {
  if (config.redisClusterNodes) return { url: clusterTarget(config.redisClusterNodes), local: false, stop: async () => {} };
  if (config.redisUrl) return { url: config.redisUrl, local: false, stop: async () => {} };
  const { ensureLocalRedis } = await import("./runtime/local-redis.ts");
  try {
    const redis = await ensureLocalRedis({ dataDir: resolve(config.dataDir, "redis"), log: (msg) => log.info(msg) });
    return { url: redis.url, local: true, stop: () => redis.stop() };
  } catch (e) {
    throw new StartupError((e as Error).message);
  }
}

/** Connects and applies pending migrations; a clear message when Postgres does not answer. */
export async function connectDatabase(
  url: string,
  opts: { max: number; applicationName: string; migrate: boolean; genericPlans?: boolean },
): Promise<Sql> {
  const sql = createSql(url, { max: opts.max, applicationName: opts.applicationName, genericPlans: opts.genericPlans });
  try {
    await sql`select 1`;
  } catch (e) {
    await sql.end({ timeout: 1 }).catch(() => {});
    const where = url.replace(/\/\/[^@/]*@/, "//***@");
    throw new StartupError(
      `Postgres at ${where} does not answer (${(e as Error).message}). Start it, or fix DATABASE_URL, or unset DATABASE_URL to use the embedded one.`,
    );
  }
  if (opts.migrate) {
    const { applied } = await migrate(sql);
    if (applied.length) log.info("migrations applied", { applied });
  }
  return sql;
}

/**
 * ADMIN_TOKEN when set; otherwise one generated on first start and kept in
 * `<dataDir>/admin-token`, so a newcomer can use the admin API at once.
 */
export async function provideAdminToken(config: Config): Promise<string> {
  if (config.adminToken) return config.adminToken;
  const file = join(resolve(config.dataDir), "admin-token");
  try {
    const saved = (await readFile(file, "utf8")).trim();
    if (saved.length >= 16) return saved;
  } catch {
    // first start
  }
  await mkdir(resolve(config.dataDir), { recursive: true });
  const token = randomBytes(24).toString("base64url");
  await writeFile(file, token + "\n", { mode: 0o600 });
  return token;
}
