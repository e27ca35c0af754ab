import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { Queues } from "../src/queue/queues.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { spawnService, type Spawned } from "./support/process.ts";
import { deleteKeys, redisUrl, uniquePrefix } from "./support/redis.ts";
import { sale, waitFor } from "./support/sales.ts";

// Real worker processes (`bun workers/main.ts`), killed and stopped the hard and the soft way.
let t: TestContext;
let queues: Queues;
let url: string;
let prefix: string;
let shop: TestTenant;
const customers: string[] = [];

beforeAll(async () => {
  url = await redisUrl();
  prefix = uniquePrefix();
  queues = new Queues(url, prefix);
  t = await testContext({ queues });
  shop = await t.createTenant();
  for (let i = 0; i < 20; i++) {
    const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: `+7918000${String(i).padStart(4, "0")}`, statusCheck: "IGNORE" });
    customers.push(c.body.id);
  }
});
afterAll(async () => {
  await queues.close();
  await deleteKeys(url, prefix);
  await t.close();
});

function worker(extra: Record<string, string> = {}): Spawned {
  return spawnService(["workers/main.ts"], {
    DATABASE_URL: t.db.url,
    REDIS_URL: url,
    QUEUE_PREFIX: prefix,
    WORKER_CONCURRENCY: "8",
    // Small batches, so that a worker stopped mid-way has work left for the next.
    SETTLE_BATCH_SIZE: "10",
    WORKER_LOCK_MS: "2000",
    SWEEP_INTERVAL_MS: "500",
    SWEEP_AFTER_MS: "5000",
    ...extra,
  });
}

/** Posts n sales of 100.00 each (5 points earned), round-robin over the customers. */
async function postSales(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, k) =>
        t.pos(shop.apiToken, "POST", "/retaildemand", sale({ customerId: customers[(i + k) % customers.length], lines: [{ id: "p", price: 100, quantity: 1 }] }).body),
      ),
    );
    for (const r of batch) {
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
  }
  return ids;
}

async function settledCount(ids: string[]): Promise<number> {
  const [r] = await t.db.sql`select count(*)::int as n from document where id = any(${ids}::uuid[]) and state = 'settled'`;
  return r!.n;
}

async function expectExactLedger(ids: string[]) {
  // Every sale has exactly one accrual of 5 points; balances agree with the ledger.
  const perDoc = await t.db.sql`
    select d.id, count(e.id)::int as entries, coalesce(sum(e.points), 0)::int as points
    from document d left join ledger_entry e on e.tenant_id = d.tenant_id and e.document_id = d.id
    where d.id = any(${ids}::uuid[]) group by d.id`;
  expect(perDoc.length).toBe(ids.length);
  expect(perDoc.filter((r) => r.entries !== 1 || r.points !== 5)).toEqual([]);
  const mismatched = await t.db.sql`
    select c.id from customer c
    where c.tenant_id = ${shop.id}
      and c.balance <> (select coalesce(sum(points), 0) from ledger_entry e where e.tenant_id = c.tenant_id and e.customer_id = c.id)`;
  expect([...mismatched]).toEqual([]);
}

describe("worker processes", () => {
  test("a worker killed with SIGKILL mid-stream: a restarted one finishes, nothing doubled or missing", async () => {
    const ids = await postSales(1500);
    const first = worker();
    await waitFor("some settled", async () => (await settledCount(ids)) >= 100, 30_000);
    first.child.kill("SIGKILL");
    await first.exited;
    const atKill = await settledCount(ids);
    expect(atKill).toBeLessThan(ids.length);
    const second = worker();
    try {
      await waitFor("all settled", async () => (await settledCount(ids)) === ids.length, 60_000);
    } finally {
      second.child.kill("SIGTERM");
      await second.exited;
    }
    await expectExactLedger(ids);
    expect(await queues.settlement.getFailedCount()).toBe(0);
  });

  test("SIGTERM: the worker stops taking jobs, finishes those in hand, closes and exits 0", async () => {
    const ids = await postSales(1000);
    const w = worker();
    await waitFor("some settled", async () => (await settledCount(ids)) >= 50, 30_000);
    w.child.kill("SIGTERM");
    expect(await w.exited).toBe(0);
    expect(w.output()).toContain("worker stopped");
    // Nothing was left locked in the middle: no job is active, and every completed job's
    // document is settled.
    expect(await queues.settlement.getActiveCount()).toBe(0);
    const settledAtStop = await settledCount(ids);
    expect(settledAtStop).toBeLessThan(ids.length);
    const next = worker();
    try {
      await waitFor("all settled", async () => (await settledCount(ids)) === ids.length, 60_000);
    } finally {
      next.child.kill("SIGTERM");
      await next.exited;
    }
    await expectExactLedger(ids);
  });
});
