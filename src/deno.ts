// The Deno entry: the same web-standard app, served by Deno.serve (API only — run the
// workers with Bun: `bun run worker`). Needs DATABASE_URL and REDIS_URL; migrations are
// applied as with Bun. Run from the project folder after `npm ci`:
//   deno run -A src/deno.ts
import { createApp } from "./app.ts";
import { connectDatabase, provideAdminToken, StartupError } from "./boot.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { errorFields, log, setLogLevel } from "./log.ts";
import { TenantDirectory } from "./loyalty/tenants.ts";
import { Queues } from "./queue/queues.ts";

declare const Deno: {
  env: { toObject(): Record<string, string> };
  serve(opts: { port: number; hostname?: string; onListen?: (a: { port: number }) => void }, handler: (r: Request) => Response | Promise<Response>): {
    shutdown(): Promise<void>;
  };
  addSignalListener(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  exit(code: number): never;
};

async function main(): Promise<void> {
  const config = loadConfig(Deno.env.toObject());
  setLogLevel(config.logLevel);
  if (!config.databaseUrl || !config.redisUrl) {
    throw new ConfigError("under Deno set DATABASE_URL and REDIS_URL (the embedded defaults start with Bun: npm start)");
  }
  const { token: adminToken } = await provideAdminToken(config);
  const sql = await connectDatabase(config.databaseUrl, {
    max: config.dbPoolSize,
    applicationName: "loyalty-api-deno",
    migrate: true,
    genericPlans: true,
    statementTimeoutMs: config.limits.apiStatementTimeoutMs,
    lockTimeoutMs: config.limits.apiLockTimeoutMs,
  });
  const queues = new Queues(config.redisUrl, config.queuePrefix, { commandTimeoutMs: config.limits.redisCommandTimeoutMs });
  const app = createApp({
    config: { ...config, adminToken },
    sql,
    tenants: new TenantDirectory(sql, config.cacheTtlSeconds * 1000),
    queues,
    readiness: { redis: () => queues.ping() },
  });
  const server = Deno.serve({ port: config.port, onListen: ({ port }) => log.info("API listening (Deno)", { port }) }, app.fetch);
  const stop = async () => {
    await server.shutdown();
    await queues.close();
    await sql.end({ timeout: 5 });
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", () => void stop());
  Deno.addSignalListener("SIGINT", () => void stop());
}

main().catch((e) => {
  if (e instanceof ConfigError || e instanceof StartupError) console.error(`Cannot start: ${e.message}`);
  else log.error("startup failed", errorFields(e));
  Deno.exit(1);
});
