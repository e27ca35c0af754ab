// The Bun entry for `bun run worker`: settlement workers and sweeps, no HTTP. Run as many
// as you like against the same Postgres and Redis.
import { connectDatabase, provideDatabase, provideRedis, StartupError } from "../src/boot.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { errorFields, log, setLogLevel } from "../src/log.ts";
import { Queues } from "../src/queue/queues.ts";
import { startWorkers, workerOptions } from "./run.ts";
import { onStopSignal } from "../src/runtime/serve.ts";

async function main(): Promise<void> {
  const config = loadConfig();
  setLogLevel(config.logLevel);
  const db = await provideDatabase(config);
  const redis = await provideRedis(config);
  // Whichever process starts first applies pending migrations (under an advisory lock).
  const sql = await connectDatabase(db.url, {
    max: config.workerConcurrency + 4,
    applicationName: "loyalty-worker",
    migrate: true,
    statementTimeoutMs: config.limits.workerStatementTimeoutMs,
    lockTimeoutMs: config.limits.workerLockTimeoutMs,
  });
  const queues = new Queues(redis.url, config.queuePrefix, { commandTimeoutMs: config.limits.redisCommandTimeoutMs });
  const workers = startWorkers(sql, queues, workerOptions(config, redis.url));
  log.info("workers running", { concurrency: config.workerConcurrency, pid: process.pid });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("worker draining", { signal });
    await workers.close();
    await queues.close();
    await sql.end({ timeout: 5 });
    await redis.stop();
    await db.stop();
    log.info("worker stopped");
    process.exit(0);
  };
  onStopSignal((signal) => void shutdown(signal));
}

main().catch((e) => {
  if (e instanceof ConfigError || e instanceof StartupError) console.error(`Cannot start: ${e.message}`);
  else log.error("worker startup failed", errorFields(e));
  process.exit(1);
});
