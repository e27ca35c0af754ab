// The entry on Bun and Deno: `bun run start` / `deno task start` (API and workers in one
// process) and `bun run api` / `deno task api` (API only; run workers apart with
// `bun run worker` / `deno task worker`). Listening is the one runtime-specific step
// (src/runtime/serve.ts).
import { startWorkers, workerOptions } from "../workers/run.ts";
import { createApp } from "./app.ts";
import { withClientAddress } from "./request-guard.ts";
import { announceAdminToken, connectDatabase, provideAdminToken, provideDatabase, provideRedis, StartupError } from "./boot.ts";
import { ConfigError, loadConfig } from "./config.ts";
import type { AppDeps } from "./deps.ts";
import { errorFields, log, setLogLevel } from "./log.ts";
import { TenantDirectory } from "./loyalty/tenants.ts";
import { Queues } from "./queue/queues.ts";
import { onStopSignal, serve } from "./runtime/serve.ts";

/**
 * Bun's own ceiling on a body. Past it Bun answers 413 with an empty body before our code
 * sees the request; below it, each route family's smaller limit is checked by the app
 * (request-guard.ts) from Content-Length, without reading the body, and answered with
 * errors[]. Bodies are streamed, so the ceiling costs no memory; it is set high so that
 * nearly every oversized request gets the explained answer.
 */
const RUNTIME_BODY_CEILING = 1024 * 1024 * 1024;

async function main(): Promise<void> {
  const withWorkers = !process.argv.includes("--api");
  const config = loadConfig();
  setLogLevel(config.logLevel);
  const admin = await provideAdminToken(config);
  const adminToken = admin.token;
  const db = await provideDatabase(config);
  const redis = await provideRedis(config).catch(async (e) => {
    await db.stop();
    throw e;
  });
  const { limits } = config;
  const sql = await connectDatabase(db.url, {
    max: config.dbPoolSize,
    applicationName: "loyalty-api",
    migrate: true,
    genericPlans: true,
    statementTimeoutMs: limits.apiStatementTimeoutMs,
    lockTimeoutMs: limits.apiLockTimeoutMs,
  });
  const workerSql = withWorkers
    ? await connectDatabase(db.url, {
        max: config.workerConcurrency + 4,
        applicationName: "loyalty-worker",
        migrate: false,
        statementTimeoutMs: limits.workerStatementTimeoutMs,
        lockTimeoutMs: limits.workerLockTimeoutMs,
      })
    : null;
  const queues = new Queues(redis.url, config.queuePrefix, { commandTimeoutMs: limits.redisCommandTimeoutMs });
  const deps: AppDeps = {
    config: { ...config, adminToken },
    sql,
    tenants: new TenantDirectory(sql, config.cacheTtlSeconds * 1000),
    queues,
    readiness: { redis: () => queues.ping() },
  };
  const app = createApp(deps);
  const server = serve({
    port: config.port,
    hostname: process.env.HOST ?? "0.0.0.0",
    maxBodyBytes: RUNTIME_BODY_CEILING,
    fetch: (request, clientAddress) => app.fetch(withClientAddress(request, clientAddress)),
  });
  const workers = withWorkers
    ? startWorkers(workerSql!, queues, workerOptions(config, redis.url))
    : null;
  log.info("API listening", {
    runtime: server.runtime,
    url: `http://localhost:${server.port}`,
    swagger: `http://localhost:${server.port}/swagger`,
    queues: `http://localhost:${server.port}/admin/queues`,
    database: db.embedded ? "embedded" : "DATABASE_URL",
    redis: redis.local ? redis.url : config.redisClusterNodes ? "REDIS_CLUSTER_NODES" : "REDIS_URL",
    workers: withWorkers ? config.workerConcurrency : 0,
  });
  announceAdminToken(admin, process.stdout);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    await server.stop();
    await workers?.close();
    await queues.close();
    await sql.end({ timeout: 5 });
    await workerSql?.end({ timeout: 5 });
    await redis.stop();
    await db.stop();
    process.exit(0);
  };
  onStopSignal((signal) => void shutdown(signal));
}

main().catch((e) => {
  if (e instanceof ConfigError || e instanceof StartupError) {
    console.error(`Cannot start: ${e.message}`);
  } else {
    log.error("startup failed", errorFields(e));
  }
  process.exit(1);
});
