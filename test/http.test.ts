import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { createSql } from "../src/db/client.ts";
import { TenantDirectory } from "../src/loyalty/tenants.ts";
import { MS, type TestContext, type TestTenant, testContext } from "./support/app.ts";

let t: TestContext;
let shop: TestTenant;
beforeAll(async () => {
  t = await testContext();
  shop = await t.createTenant();
});
afterAll(() => t.close());

function expectProtocolError(body: any) {
  expect(Array.isArray(body.errors)).toBe(true);
  for (const e of body.errors) {
    expect(typeof e.error).toBe("string");
    expect(Number.isInteger(e.code)).toBe(true);
    expect(typeof e.error_message).toBe("string");
  }
  const text = JSON.stringify(body);
  expect(text).not.toMatch(/\.ts:\d+|node_modules|at <anonymous>|Error:/);
}

describe("every failure has the protocol's errors[] body", () => {
  test("unknown route", async () => {
    const r = await t.pos(shop.apiToken, "GET", "/no/such/route");
    expect(r.status).toBe(404);
    expectProtocolError(r.body);
    expect(r.body.errors[0].code).toBe(40402);
  });

  test("unparseable JSON", async () => {
    const r = await t.pos(shop.apiToken, "POST", "/retaildemand/recalc", "{\"agent\": ");
    expect(r.status).toBe(400);
    expectProtocolError(r.body);
    expect(r.body.errors[0].code).toBe(40002);
  });

  test("no body at all", async () => {
    const r = await t.fetch(`${MS}/counterparty/detail`, { method: "POST", headers: { "Lognex-Discount-API-Auth-Token": shop.apiToken } });
    expect(r.status).toBe(400);
    expectProtocolError(r.body);
  });

  test("missing and unknown access key → 401", async () => {
    const none = await t.fetch(`${MS}/counterparty?search=1`);
    expect(none.status).toBe(401);
    expectProtocolError(none.body);
    expect(none.body.errors[0].parameter).toBe("Lognex-Discount-API-Auth-Token");
    const wrong = await t.pos("not-a-key", "POST", "/retaildemand/recalc", { whatever: 1 });
    expect(wrong.status).toBe(401);
  });

  test("Postgres unreachable → 503, and readiness says so", async () => {
    const deadSql = createSql("postgres://postgres@127.0.0.1:1/none", { max: 1 });
    const config = { ...loadConfig({}), adminToken: "x".repeat(20) };
    const app = createApp({ config, sql: deadSql, tenants: new TenantDirectory(deadSql, 0) });
    const res = await app.handle(
      new Request(`http://localhost${MS}/counterparty/detail`, {
        method: "POST",
        headers: { "content-type": "application/json", "Lognex-Discount-API-Auth-Token": "k" },
        body: "{}",
      }),
    );
    expect(res.status).toBe(503);
    const body = await res.json();
    expectProtocolError(body);
    expect(body.errors[0].code).toBe(50301);
    const ready = await app.handle(new Request("http://localhost/health/ready"));
    expect(ready.status).toBe(503);
    expect((await ready.json()).checks.postgres).toBe(false);
    expect((await app.handle(new Request("http://localhost/health"))).status).toBe(200);
    await deadSql.end({ timeout: 1 });
  });
});

describe("service routes", () => {
  test("health and readiness", async () => {
    expect((await t.fetch("/health")).body).toEqual({ status: "ok" });
    const ready = await t.fetch("/health/ready");
    expect(ready.status).toBe(200);
    expect(ready.body.checks.postgres).toBe(true);
  });

  test("OpenAPI lists every route with its schemas", async () => {
    const r = await t.fetch("/swagger/json");
    expect(r.status).toBe(200);
    const paths = r.body.paths;
    for (const [path, method] of [
      [`${MS}/counterparty`, "post"],
      [`${MS}/counterparty`, "get"],
      [`${MS}/counterparty/detail`, "post"],
      [`${MS}/retaildemand/recalc`, "post"],
      ["/admin/v1/tenants", "post"],
      ["/admin/v1/tenants/{slug}/program", "put"],
      ["/admin/v1/tenants/{slug}/customers/{id}/adjustments", "post"],
      ["/admin/v1/tenants/{slug}/customers/{id}/ledger", "get"],
    ] as const) {
      expect(paths[path]?.[method]).toBeDefined();
    }
    const recalc = paths[`${MS}/retaildemand/recalc`].post;
    const schema = JSON.stringify(recalc.requestBody);
    expect(schema).toContain("preferredBonusToSpend");
    expect(JSON.stringify(recalc.responses)).toContain("agentBonusBalanceAfter");
    const page = await t.fetch("/swagger");
    expect(page.status).toBe(200);
    expect(String(page.body)).toContain("swagger");
  });
});
