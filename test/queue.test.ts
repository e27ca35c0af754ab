import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { jobId } from "../src/queue/queues.ts";
import { type RunningWorkers, startWorkers } from "../workers/run.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { type TestQueues, testQueues } from "./support/redis.ts";
import { sale, saleReturn, waitFor } from "./support/sales.ts";
import { sleep } from "./support/runtime.ts";

// The whole path through BullMQ on the machine's real Redis: intake → settlement worker →
// notification job.
let t: TestContext;
let q: TestQueues;
let workers: RunningWorkers;
let shop: TestTenant;

beforeAll(async () => {
  q = await testQueues();
  t = await testContext({ queues: q.queues });
  workers = startWorkers(t.db.sql, q.queues, {
    redisUrl: q.url,
    concurrency: 8,
    lockDurationMs: 5000,
    sweepIntervalMs: 200,
    sweepAfterMs: 1000,
    releaseIntervalMs: 200,
  });
  shop = await t.createTenant();
});
afterAll(async () => {
  await workers.close();
  await q.close();
  await t.close();
});

async function customer(points = 0) {
  const phone = `+7916${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, statusCheck: "IGNORE" });
  if (points) await t.admin("POST", `/tenants/${shop.slug}/customers/${c.body.id}/adjustments`, { points, reason: "start" });
  return c.body.id as string;
}

/**
 * The queued message of a settled document: in its batch's job when the document names one
 * (a plain sale), else in a job of its own.
 */
async function queuedMessage(documentId: string) {
  const [d] = await t.db.sql<{ message_job: string | null }[]>`select message_job from document where id = ${documentId}`;
  if (d?.message_job) {
    const job = await q.queues.notifications.getJob(jobId.pointsBatch(d.message_job));
    if (!job || job.data.type !== "points-batch") return null;
    const message = job.data.messages.find((m) => m.documentId === documentId);
    return message ? { job, data: { tenantId: job.data.tenantId, ...message } } : null;
  }
  const job = await q.queues.notifications.getJob(jobId.pointsMessage(documentId));
  return job ? { job, data: job.data } : null;
}

const settled = (documentId: string) => async () => {
  const [d] = await t.db.sql`select state from document where id = ${documentId}`;
  return d?.state === "settled";
};

describe("settlement through the queue", () => {
  test("a sale is settled by the worker and the customer's message waits in the notifications queue", async () => {
    const id = await customer(171);
    const r = await t.pos(shop.apiToken, "POST", "/retaildemand", sale({ customerId: id, lines: [{ id: "p", price: 240, quantity: 1 }], cash: 240 }).body);
    expect(r.status).toBe(201);
    await waitFor("settlement", settled(r.body.id));
    const queued = await waitFor("message job", () => queuedMessage(r.body.id));
    expect(queued.data).toMatchObject({ tenantId: shop.id, customerId: id, text: "+12 баллов, баланс 183" });
    expect(await queued.job.getState()).toBe("prioritized");
    const view = await t.admin("GET", `/tenants/${shop.slug}/customers/${id}`);
    expect(view.body.balance).toBe(183);
  });

  test("the same sale delivered many times concurrently: one settlement, one message", async () => {
    const id = await customer(100);
    const s = sale({ customerId: id, lines: [{ id: "p", price: 100, quantity: 1, discountedPrice: 90 }], spend: 10 });
    const replies = await Promise.all(Array.from({ length: 25 }, () => t.pos(shop.apiToken, "POST", "/retaildemand", s.body)));
    expect(new Set(replies.map((r) => r.status))).toEqual(new Set([201]));
    const docId = replies[0]!.body.id;
    await waitFor("settlement", settled(docId));
    // Deliveries after settlement too.
    for (let i = 0; i < 5; i++) await t.pos(shop.apiToken, "POST", "/retaildemand", s.body);
    await sleep(300);
    const entries = await t.db.sql`select kind, points from ledger_entry where document_id = ${docId} order by kind`;
    expect([...entries]).toEqual([{ kind: "spend", points: -10 }]);
    const jobs = await q.queues.notifications.getJobs(["waiting", "prioritized", "active", "completed"]);
    const carrying = jobs.filter((j) =>
      j.data.type === "points-batch" ? j.data.messages.some((m) => m.documentId === docId) : j.data.type === "points" && j.data.documentId === docId,
    );
    expect(carrying).toHaveLength(1);
  });

  test("a return posted before its sale is settled once the sale arrives", async () => {
    const id = await customer(0);
    const s = sale({ customerId: id, lines: [{ id: "p", price: 300, quantity: 3 }] });
    const ret = await t.pos(shop.apiToken, "POST", "/retailsalesreturn", saleReturn({ saleId: s.id, lines: [{ id: "p", price: 300, quantity: 1 }] }).body);
    expect(ret.status).toBe(201);
    await waitFor("return waits", async () => {
      const [d] = await t.db.sql`select state from document where id = ${ret.body.id}`;
      return d?.state === "waiting";
    });
    const r = await t.pos(shop.apiToken, "POST", "/retaildemand", s.body);
    await waitFor("sale settled", settled(r.body.id));
    await waitFor("return settled", settled(ret.body.id));
    // earned 45 on 900.00; one of three returned → 15 taken back
    const view = await t.admin("GET", `/tenants/${shop.slug}/customers/${id}`);
    expect(view.body.balance).toBe(30);
  });

  test("operators see queue counts and documents that need attention", async () => {
    const queues = await t.admin("GET", "/queues");
    expect(queues.status).toBe(200);
    expect(queues.body.rows.map((r: any) => r.name).sort()).toEqual(["imports", "moysklad", "notifications", "rules", "settlement"]);
    await t.pos(shop.apiToken, "POST", "/retailsalesreturn", saleReturn({ saleId: null, lines: [{ id: "p", price: 1, quantity: 1 }] }).body);
    const docs = await t.admin("GET", `/tenants/${shop.slug}/documents?attention=true`);
    expect(docs.body.rows.some((d: any) => d.state === "flagged" && d.kind === "return")).toBe(true);
    const failed = await t.admin("GET", "/queues/settlement/failed");
    expect(failed.status).toBe(200);
    expect(failed.body.rows).toEqual([]);
    expect((await t.admin("GET", "/queues/nope/failed")).status).toBe(404);
  });

  test("a job that keeps failing stays visible as failed with its reason, and can be retried", async () => {
    // A settlement job for a tenant that does not exist fails inside Postgres (bad uuid).
    await q.queues.settlement.add("settle", { tenantId: "not-a-uuid", documentId: "nope" }, { jobId: "doc-broken", attempts: 2, backoff: { type: "fixed", delay: 10 } });
    const failed = await waitFor("failed job", async () => {
      const r = await t.admin("GET", "/queues/settlement/failed");
      return r.body.rows.find((j: any) => j.id === "doc-broken");
    });
    expect(failed.attemptsMade).toBe(2);
    expect(failed.failedReason).toContain("uuid");
    const retry = await t.admin("POST", "/queues/settlement/jobs/doc-broken/retry");
    expect(retry.status).toBe(200);
  });
});
