import { afterAll, beforeAll, expect, test } from "./support/test.ts";
import { Queues } from "../src/queue/queues.ts";
import { startWorkers } from "../workers/run.ts";
import { type TestContext, testContext } from "./support/app.ts";
import { PrivateRedis, uniquePrefix } from "./support/redis.ts";
import { sale, waitFor } from "./support/sales.ts";

// A redis-server of this test's own, stopped and started again: the POS must not notice.
let redis: PrivateRedis;
let queues: Queues;
let t: TestContext;

beforeAll(async () => {
  redis = await PrivateRedis.start();
  queues = new Queues(redis.url, uniquePrefix());
  t = await testContext({ queues, readiness: { redis: () => queues.ping() } });
});
afterAll(async () => {
  await queues.close();
  await redis.stop();
  await t.close();
});

test("sales during a Redis outage are answered 201, stored, and settled once Redis is back", async () => {
  const shop = await t.createTenant();
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79171234567", statusCheck: "IGNORE" });
  const customerId = c.body.id;
  await t.admin("POST", `/tenants/${shop.slug}/customers/${customerId}/adjustments`, { points: 100, reason: "start" });

  await redis.down();
  expect((await t.fetch("/health/ready")).status).toBe(503);

  const ids: string[] = [];
  for (let i = 0; i < 10; i++) {
    const s = sale({ customerId, lines: [{ id: "p", price: 100, quantity: 1, discountedPrice: 99 }], spend: 1 });
    const r = await t.pos(shop.apiToken, "POST", "/retaildemand", s.body);
    expect(r.status).toBe(201);
    ids.push(r.body.id);
  }
  // Stored, spends already counted, nothing settled yet.
  const stored = await t.db.sql`select count(*)::int as n from document where id = any(${ids}::uuid[]) and state = 'received'`;
  expect(stored[0]!.n).toBe(10);
  const detail = await t.pos(shop.apiToken, "POST", "/counterparty/detail", { meta: { id: customerId } });
  expect(detail.body.bonusProgram.agentBonusBalance).toBe(90);

  await redis.up();
  await waitFor("redis ready", async () => (await t.fetch("/health/ready")).status === 200);
  const workers = startWorkers(t.db.sql, queues, {
    redisUrl: redis.url,
    concurrency: 4,
    lockDurationMs: 5000,
    sweepIntervalMs: 100,
    sweepAfterMs: 0,
    releaseIntervalMs: 1000,
  });
  try {
    await waitFor("all settled", async () => {
      const [r] = await t.db.sql`select count(*)::int as n from document where id = any(${ids}::uuid[]) and state = 'settled'`;
      return r!.n === 10;
    });
  } finally {
    await workers.close();
  }
  const entries = await t.db.sql`select count(*)::int as n from ledger_entry where document_id = any(${ids}::uuid[])`;
  expect(entries[0]!.n).toBe(10); // one spend each; points spent earn nothing by default
  const view = await t.admin("GET", `/tenants/${shop.slug}/customers/${customerId}`);
  expect(view.body.balance).toBe(90);
});

test("the sweeper queues stored documents whose jobs were lost: a batch job per tenant, a job of its own for one that failed in a batch", async () => {
  const { sweepIntake } = await import("../workers/sweeper.ts");
  const shop = await t.createTenant();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await t.pos(shop.apiToken, "POST", "/retaildemand", sale({ lines: [{ id: "p", price: 10, quantity: 1 }] }).body);
    ids.push(r.body.id);
  }
  const batchJobs = async () =>
    (await queues.settlement.getJobs(["waiting", "delayed", "prioritized"])).filter((j) => j.name === "batch" && j.data.tenantId === shop.id);
  // Intake asked for a batch (no worker runs here). Then Redis loses its data.
  expect((await batchJobs()).length).toBeGreaterThan(0);
  await queues.settlement.drain(true);
  expect(await batchJobs()).toEqual([]);
  // The sweep finds the three stored documents and asks for their tenant's batch again.
  expect(await sweepIntake(t.db.sql, queues, { olderThanMs: 0 })).toBe(3);
  expect((await batchJobs()).length).toBe(1);
  // A document that failed inside a batch is left to a job of its own.
  await t.db.sql`update document set settle_failed_at = now() where id = ${ids[1]!}`;
  await queues.settlement.drain(true);
  expect(await sweepIntake(t.db.sql, queues, { olderThanMs: 0 })).toBe(3);
  expect(await queues.settlement.getJob(`doc-${ids[1]}`)).toBeTruthy();
  expect((await batchJobs()).length).toBe(1);
});
