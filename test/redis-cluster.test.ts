import { afterAll, beforeAll, describe, expect, test, testRuntime } from "./support/test.ts";
import { LogSender } from "../src/notify/log-sender.ts";
import { SmsRuClient } from "../src/notify/smsru.ts";
import { clusterTarget, Queues } from "../src/queue/queues.ts";
import { type RunningWorkers, startWorkers } from "../workers/run.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { type FakeSmsRu, fakeSmsRu } from "./support/fakes.ts";
import { LoopbackCluster } from "./support/redis-cluster.ts";
import { uniquePrefix } from "./support/redis.ts";
import { sale, waitFor } from "./support/sales.ts";

// Intake → settlement → customer messages through a real Redis Cluster (three masters,
// a replica each, on loopback), including the master that holds the settlement queue
// being killed and its replica taking over: every sale settled once, every message sent once.

let cluster: LoopbackCluster;
let sms: FakeSmsRu;
let queues: Queues;
let t: TestContext;
let workers: RunningWorkers;
let shop: TestTenant;
let base: string;

beforeAll(async () => {
  cluster = await LoopbackCluster.start();
  sms = fakeSmsRu();
  base = uniquePrefix();
  const target = clusterTarget(cluster.seeds);
  queues = new Queues(target, base);
  t = await testContext({ queues });
  workers = startWorkers(t.db.sql, queues, {
    redisUrl: target,
    concurrency: 4,
    lockDurationMs: 5000,
    sweepIntervalMs: 300,
    sweepAfterMs: 1000,
    releaseIntervalMs: 60_000,
    // A worker left without jobs by the failover is replaced after this long (see workers/supervised.ts).
    stuckAfterMs: 5000,
    notifications: {
      senders: { sms: new SmsRuClient({ url: sms.url, apiId: "cluster-test", timeoutMs: 3000 }), log: new LogSender(() => {}) },
      concurrency: 2,
    },
  });
  shop = await t.createTenant();
}, 120_000);
afterAll(async () => {
  await workers?.close();
  await queues?.close();
  await t?.close();
  await cluster?.stop();
  sms?.close();
});

const phones = Array.from({ length: 4 }, (_, i) => `7917${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}${i}`);

// Points messages only: every new customer also gets their card link by SMS.
const pointsSms = () => sms.requests.filter((r) => !r.msg?.includes("/card/"));

async function settledCount(): Promise<number> {
  const [r] = await t.db.sql<{ n: number }[]>`select count(*)::int as n from document where tenant_id = ${shop.id} and state = 'settled'`;
  return r!.n;
}

async function idle(): Promise<boolean> {
  for (const q of queues.all()) {
    const c = await q.getJobCounts("waiting", "prioritized", "active", "delayed");
    if (Object.values(c).some((n) => n > 0)) return false;
  }
  return true;
}

// Under Deno 2.9.6 the failover test settles every sale and sends every message, then
// stalls before its checks finish (seen again after the worker watchdog landed, with the
// adapter's per-test timeout now cutting it): Bun only until that is found.
describe.skipIf(testRuntime === "deno")("on a Redis Cluster", () => {
  test("each queue's keys sit in one slot (one master serves the whole queue)", async () => {
    const settlementKeys = [`${base}:{settlement}:settlement:wait`, `${base}:{settlement}:settlement:id`];
    const owners = await Promise.all(settlementKeys.map((k) => cluster.masterOf(k)));
    expect(new Set(owners.map((o) => o.port)).size).toBe(1);
  });

  test("sales settle and messages go out; a master killed mid-way loses and doubles nothing", async () => {
    const customers: { id: string; phone: string }[] = [];
    for (const phone of phones) {
      const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: `+${phone}`, statusCheck: "IGNORE" });
      expect(c.status).toBe(201);
      customers.push({ id: c.body.id, phone });
    }
    // 200 ₽ each: 10 points at the default 5%.
    const postSales = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const c = customers[i % customers.length]!;
        const s = sale({ customerId: c.id, lines: [{ id: "p1", price: 200, quantity: 1 }] });
        expect((await t.pos(shop.apiToken, "POST", "/retaildemand", s.body)).status).toBe(201);
      }
    };

    await postSales(12);
    await waitFor("the first sales settled and told", async () => (await settledCount()) === 12 && pointsSms().length === 12, 60_000);

    // Kill the master serving the settlement queue once its replica has everything.
    const master = await cluster.masterOf(`${base}:{settlement}:settlement:wait`);
    const replica = await cluster.replicaOf(master);
    await cluster.waitReplicated(master);
    await cluster.kill(master);

    // The till keeps selling while the cluster fails over: answered from Postgres, queued
    // once Redis answers again (or by the sweeper).
    await postSales(12);
    await cluster.waitPromoted(replica);
    await cluster.waitHealthy(60_000);

    await waitFor("every sale settled and told", async () => (await settledCount()) === 24 && pointsSms().length >= 24, 120_000);
    await waitFor("the queues to drain", idle, 60_000);
    // Not asserted (a failover does not always leave a worker stuck): how often the watchdog stepped in.
    console.log(`workers replaced after the failover: settlement ${workers.settlement.replacements}, notifications ${workers.notifications?.replacements}`);

    // Nothing doubled: one accrual per sale, one SMS per sale, balances = Σ ledger.
    const [ledger] = await t.db.sql<{ entries: number; documents: number }[]>`
      select count(*)::int as entries, count(distinct document_id)::int as documents
      from ledger_entry where tenant_id = ${shop.id} and kind = 'accrual'`;
    expect(ledger).toEqual({ entries: 24, documents: 24 });
    expect(pointsSms().length).toBe(24);
    for (const c of customers) {
      expect(sms.to(c.phone).filter((r) => !r.msg?.includes("/card/")).length).toBe(6);
      const detail = await t.admin("GET", `/tenants/${shop.slug}/customers/${c.id}`);
      expect(detail.body.balance).toBe(60);
    }
    const [sent] = await t.db.sql<{ n: number }[]>`
      select count(*)::int as n from notification where tenant_id = ${shop.id} and purpose = 'points' and channel = 'sms' and status = 'sent'`;
    expect(sent!.n).toBe(24);
    const failed = await Promise.all(queues.all().map((q) => q.getJobCounts("failed")));
    expect(failed.every((c) => c.failed === 0)).toBe(true);
  }, 240_000);
});
