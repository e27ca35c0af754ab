// The real API process (`src/main.ts --api`) on a database and a queue prefix of its own,
// for tests that must see the service as a client and an operator do.
import { createTestDatabase, type TestDatabase } from "./db.ts";
import { freePort, type Spawned, spawnService, waitForHttp } from "./process.ts";
import { deleteKeys, redisUrl, uniquePrefix } from "./redis.ts";

export interface ApiServer {
  db: TestDatabase;
  redis: string;
  prefix: string;
  api: Spawned;
  /** http://127.0.0.1:<port> */
  base: string;
  /** SIGTERM, then the prefix's keys and the database go. */
  stop(): Promise<void>;
}

/** Started and answering /health; `env` adds or overrides settings (ADMIN_TOKEN among them). */
export async function startApiServer(env: Record<string, string>): Promise<ApiServer> {
  const db = await createTestDatabase({ migrate: false, max: 2 });
  const redis = await redisUrl();
  const prefix = uniquePrefix();
  const port = await freePort();
  const api = spawnService(["src/main.ts", "--api"], { DATABASE_URL: db.url, REDIS_URL: redis, QUEUE_PREFIX: prefix, PORT: String(port), ...env });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/health`, 30_000, api);
  return {
    db,
    redis,
    prefix,
    api,
    base,
    async stop() {
      api.child.kill("SIGTERM");
      await api.exited;
      await deleteKeys(redis, prefix).catch(() => {});
      await db.drop();
    },
  };
}
