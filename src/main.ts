// The entry on Bun and Deno: `bun run start` / `deno task start` (API and workers in one
// process) and `bun run api` / `deno task api` (API only; run workers apart with
// `bun run worker` / `deno task worker`). Listening is the one runtime-specific step
// (src/runtime/serve.ts).
import { startWorkers, workerOptions } from "../workers/run.ts";
import { createApp } from "./app.ts";
import { connectDatabase, provideAdminToken, provideDatabase, provideRedis, StartupError } from "./boot.ts";
import { ConfigError, loadConfig } from "./config.ts";
import type { AppDeps } from "./deps.ts";
import { errorFields, log, setLogLevel } from "./log.ts";
import { TenantDirectory } from "./loyalty/tenants.ts";
import { Queues } from "./queue/queues.ts";
import { onStopSignal, serve } from "./runtime/serve.ts";

async function main(): Promise<void> {
  const withWorkers = !process.argv.includes("--api");
  const config = loadConfig();
  setLogLevel(config.logLevel);
  const adminToken = await provideAdminToken(config);
  const db = await provideDatabase(config);
  const redis = await provideRedis(config).catch(async (e) => {
    await db.stop();
    throw e;
  });
  const sql = await connectDatabase(db.url, { max: config.dbPoolSize, applicationName: "loyalty-api", migrate: true, genericPlans: true });
  const workerSql = withWorkers
    ? await connectDatabase(db.url, { max: config.workerConcurrency + 4, applicationName: "loyalty-worker", migrate: false })
    : null;
  const queues = new Queues(redis.url, config.queuePrefix);
  const deps: AppDeps = {
    config: { ...config, adminToken },
    sql,
    tenants: new TenantDirectory(sql, config.cacheTtlSeconds * 1000),
    queues,
    readiness: { redis: () => queues.ping() },
  };
  const app = createApp(deps);
  const server = serve({ port: config.port, hostname: process.env.HOST ?? "0.0.0.0", fetch: app.fetch });
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
  if (!config.adminToken) {
    // The token itself stays out of the log (logs travel further than the data folder).
    log.info(`ADMIN_TOKEN is not set: using the generated token kept in ${config.dataDir}/admin-token`);
  }

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
