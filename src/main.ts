// The Bun entry: `bun run start` (API and workers in one process tree) and
// `bun run api` (API only). Everything runtime-specific lives here.
import { createApp } from "./app.ts";
import { provideAdminToken, provideDatabase, connectDatabase, StartupError } from "./boot.ts";
import { ConfigError, loadConfig } from "./config.ts";
import type { AppDeps } from "./deps.ts";
import { errorFields, log, setLogLevel } from "./log.ts";
import { TenantDirectory } from "./loyalty/tenants.ts";

async function main(): Promise<void> {
  const config = loadConfig();
  setLogLevel(config.logLevel);
  const adminToken = await provideAdminToken(config);
  const db = await provideDatabase(config);
  const sql = await connectDatabase(db.url, { max: config.dbPoolSize, applicationName: "loyalty-api", migrate: true });
  const deps: AppDeps = {
    config: { ...config, adminToken },
    sql,
    tenants: new TenantDirectory(sql, config.cacheTtlSeconds * 1000),
  };
  const app = createApp(deps);
  const server = Bun.serve({ port: config.port, hostname: process.env.HOST ?? "0.0.0.0", fetch: app.fetch });
  log.info("API listening", {
    url: `http://localhost:${server.port}`,
    swagger: `http://localhost:${server.port}/swagger`,
    database: db.embedded ? "embedded" : "DATABASE_URL",
  });
  if (!config.adminToken) {
    log.info(`ADMIN_TOKEN is not set: using the generated token in ${config.dataDir}/admin-token`, { adminToken });
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    await server.stop();
    await sql.end({ timeout: 5 });
    await db.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((e) => {
  if (e instanceof ConfigError || e instanceof StartupError) {
    console.error(`Cannot start: ${e.message}`);
  } else {
    log.error("startup failed", errorFields(e));
  }
  process.exit(1);
});
