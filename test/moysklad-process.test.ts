// The real server process with the МойСклад app configured from the environment: an install
// from the stand-in is answered, its catalog is read by the process's own worker (queued at
// install), and the settings page shows it. Also the client's retries and words.
import { afterAll, beforeAll, expect, test } from "./support/test.ts";
import { loadConfig } from "../src/config.ts";
import { MoyskladClient, MoyskladError } from "../src/moysklad/api-client.ts";
import { createTestDatabase, type TestDatabase } from "./support/db.ts";
import { moyskladFake, type MoyskladFake } from "./support/moysklad-fake.ts";
import { freePort, spawnService, waitForHttp } from "./support/process.ts";
import { deleteKeys, redisUrl, uniquePrefix } from "./support/redis.ts";
import { waitFor } from "./support/sales.ts";

const APP_ID = "3b6a1f2e-8c4d-4e5f-9a0b-1c2d3e4f5a6d";
const APP_UID = "loyalty-proc.vendor-test";
const SECRET = "proc-vendor-secret-0123456789abcdef";
const ACCOUNT = "2b1c2d3e-4f50-4617-8293-a4b5c6d7e8f1";
let db: TestDatabase;
let fake: MoyskladFake;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false, max: 2 });
  fake = moyskladFake({ appId: APP_ID, appUid: APP_UID, secret: SECRET });
});
afterAll(async () => {
  fake?.close();
  await db?.drop();
});

const env = (port: number) => ({
  MOYSKLAD_APP_ID: APP_ID,
  MOYSKLAD_APP_UID: APP_UID,
  MOYSKLAD_SECRET_KEY: SECRET,
  MOYSKLAD_VENDOR_API_URL: fake.vendorApiUrl,
  MOYSKLAD_JSON_API_URL: fake.jsonApiUrl,
  PUBLIC_URL: `http://127.0.0.1:${port}`,
  SECRETS_KEY: Buffer.alloc(32, 5).toString("base64"),
});

test("the real process: install answered, catalog read by its worker, settings page shown, SIGTERM stops it", async () => {
  const port = await freePort();
  const redis = await redisUrl();
  const prefix = uniquePrefix();
  fake.catalog(ACCOUNT, [{ id: "f3000000-0000-4000-8000-000000000001", name: "Выпечка" }], [{ id: "a3000000-0000-4000-8000-000000000001", name: "Круассан", type: "product", folderId: "f3000000-0000-4000-8000-000000000001" }]);
  const proc = spawnService(["src/main.ts"], {
    DATABASE_URL: db.url,
    REDIS_URL: redis,
    QUEUE_PREFIX: prefix,
    PORT: String(port),
    ADMIN_TOKEN: "proc-test-admin-token-123",
    DB_POOL_SIZE: "2",
    WORKER_CONCURRENCY: "1",
    ...env(port),
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${base}/health`, 30_000, proc);
    const r = await fake.lifecycle(base, "PUT", ACCOUNT, {
      appUid: APP_UID,
      accountName: "bakery",
      cause: "Install",
      access: [{ resource: "https://api.moysklad.ru/api/remap/1.2", scope: ["admin"], access_token: "proc-json-token" }],
    });
    expect(r).toEqual({ status: 200, text: '{"status":"SettingsRequired"}' });
    await waitFor("catalog read by the worker", async () => (await db.sql`select 1 from moysklad_folder`).length > 0, 30_000);
    const page = await fetch(`${base}/moysklad/settings?contextKey=${fake.contextKey(ACCOUNT, true)}&appId=${APP_ID}&appUid=${APP_UID}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("Выпечка");
    expect(html).not.toContain("Группы ещё не загружены");
    expect((await fetch(`${base}/moysklad/descriptor.xml`)).status).toBe(200);
  } finally {
    proc.child.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    await deleteKeys(redis, prefix).catch(() => {});
  }
}, 90_000);

test("our client retries 5xx and 429, then gets through; refusals are not retried and come back in words", async () => {
  const cfg = loadConfig({ ...env(1), MOYSKLAD_VENDOR_API_URL: fake.vendorApiUrl }).moysklad!;
  const client = new MoyskladClient(cfg, { backoffMs: 10 });
  const before = fake.requests.length;
  fake.failNext("/context/retry-key", 503, 1);
  fake.failNext("/context/retry-key", 429, 1);
  await expect(client.employeeByContextKey("retry-key")).rejects.toMatchObject({ status: 404 });
  const tries = fake.requests.slice(before).filter((x) => x.path.endsWith("/context/retry-key"));
  expect(tries.map((x) => x.refused)).toEqual(["failNext 503", "failNext 429", "unknown key"]);

  fake.failNext("/context/down", 502, 5);
  const e = await client.employeeByContextKey("down").catch((x) => x);
  expect(e).toBeInstanceOf(MoyskladError);
  expect(e.words).toContain("МойСклад временно недоступен");

  const wrongKey = new MoyskladClient({ ...cfg, secretKey: "not-the-app-secret-at-all-000" }, { backoffMs: 10 });
  const auth = await wrongKey.employeeByContextKey(fake.contextKey(ACCOUNT, true)).catch((x) => x);
  expect(auth.status).toBe(401);
  expect(auth.words).toContain("MOYSKLAD_SECRET_KEY");
  // Refusals (4xx but 429) are not retried.
  expect(fake.requests.filter((x) => x.refused?.startsWith("jwt")).length).toBe(1);
});
