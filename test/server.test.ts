import { afterAll, beforeAll, expect, test } from "./support/test.ts";
import { createTestDatabase, type TestDatabase } from "./support/db.ts";
import { freePort, spawnService, waitForHttp } from "./support/process.ts";

const ADMIN = "server-test-admin-token-123";
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
});
afterAll(() => db.drop());

test("the real server process: migrates, serves the POS and the admin, stops on SIGTERM", async () => {
  const port = await freePort();
  const api = spawnService(["src/main.ts", "--api"], { DATABASE_URL: db.url, PORT: String(port), ADMIN_TOKEN: ADMIN });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/health`, 30_000, api);
    const tenant = await fetch(`${base}/admin/v1/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ slug: "real-server", name: "Настоящий" }),
    }).then((r) => r.json());
    const headers = { "Lognex-Discount-API-Auth-Token": tenant.apiToken, "content-type": "application/json" };
    const created = await fetch(`${base}/rest/integration/moysklad/v1/counterparty`, {
      method: "POST",
      headers,
      body: JSON.stringify({ phone: "+79301234567", statusCheck: "IGNORE" }),
    });
    expect(created.status).toBe(201);
    const found = await fetch(`${base}/rest/integration/moysklad/v1/counterparty?search=89301234567`, { headers }).then((r) => r.json());
    expect(found.rows).toHaveLength(1);
    const notFound = await fetch(`${base}/nowhere`);
    expect(notFound.status).toBe(404);
    expect((await notFound.json()).errors[0].code).toBe(40402);
    expect(api.output()).toContain("API listening");
  } finally {
    api.child.kill("SIGTERM");
  }
  expect(await api.exited).toBe(0);
});

test("a bad setting stops the start with one clear line, no stack trace", async () => {
  const bad = spawnService(["src/main.ts", "--api"], { DATABASE_URL: db.url, PORT: "not-a-port", ADMIN_TOKEN: ADMIN });
  expect(await bad.exited).toBe(1);
  expect(bad.output()).toContain("Cannot start: PORT must be an integer");
  expect(bad.output()).not.toContain("    at ");
});

test("an unreachable DATABASE_URL is explained, not dumped", async () => {
  const bad = spawnService(["src/main.ts", "--api"], {
    DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
    PORT: String(await freePort()),
    ADMIN_TOKEN: ADMIN,
  });
  expect(await bad.exited).toBe(1);
  expect(bad.output()).toContain("Cannot start: Postgres at");
  expect(bad.output()).not.toContain("    at ");
});
