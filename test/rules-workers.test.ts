import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { sleep } from "./support/runtime.ts";
import { localTime } from "../src/loyalty/localtime.ts";
import { jobId } from "../src/queue/queues.ts";
import { type RunningWorkers, startWorkers, type WorkerOptions } from "../workers/run.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { type TestQueues, testQueues } from "./support/redis.ts";
import { sale, waitFor } from "./support/sales.ts";

// The scheduled rules on real BullMQ workers: two worker sets share one scheduler and one
// database; every due lot burns once, every birthday is given once, each message queued once.
let t: TestContext;
let q: TestQueues;
let workers: RunningWorkers[] = [];
let shop: TestTenant;

const DAY = 86_400_000;
const opts = (q: TestQueues): WorkerOptions => ({
  redisUrl: q.url,
  concurrency: 4,
  lockDurationMs: 5000,
  sweepIntervalMs: 200,
  sweepAfterMs: 500,
  releaseIntervalMs: 200,
  rulesIntervalMs: 150,
});

beforeAll(async () => {
  q = await testQueues();
  t = await testContext({ queues: q.queues });
  shop = await t.createTenant();
  const r = await t.admin("PUT", `/tenants/${shop.slug}/program`, { earnPercent: 10, pointsLifetimeDays: 30, birthdayPoints: 150 });
  expect(r.status).toBe(200);
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await q.close();
  await t.close();
});

function mskDaysAgo(days: number): string {
  const at = new Date(Date.now() - days * DAY);
  const l = localTime(at, "Europe/Moscow");
  return `${l.date} ${String(Math.floor(l.minutes / 60)).padStart(2, "0")}:${String(l.minutes % 60).padStart(2, "0")}:00`;
}

describe("rules on the workers", () => {
  test("due lots burn exactly once and birthdays are given once across two workers; messages are queued", async () => {
    const today = localTime(new Date(), "Europe/Moscow").date;
    const customers: string[] = [];
    for (let i = 0; i < 6; i++) {
      const phone = `+7918${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
      const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, statusCheck: "IGNORE", birthDate: `1985-${today.slice(5)} 00:00:00` });
      customers.push(c.body.id);
      // Two sales each, delivered late: both lots are past their 30 days.
      for (const days of [40, 35]) {
        const s = sale({ customerId: c.body.id, lines: [{ id: "g", price: 1000, quantity: 1 }], moment: mskDaysAgo(days) });
        expect((await t.pos(shop.apiToken, "POST", "/retaildemand", s.body)).status).toBe(201);
      }
    }
    workers = [startWorkers(t.db.sql, q.queues, opts(q)), startWorkers(t.db.sql, q.queues, opts(q))];
    await waitFor("every lot burned", async () => {
      const [r] = await t.db.sql<{ n: number }[]>`select count(*)::int as n from ledger_entry where tenant_id = ${shop.id} and kind = 'expiry'`;
      return r!.n === 12;
    });
    await waitFor("every birthday given", async () => {
      const [r] = await t.db.sql<{ n: number }[]>`select count(*)::int as n from ledger_entry where tenant_id = ${shop.id} and kind = 'birthday'`;
      return r!.n === 6;
    });
    // More passes run; nothing is done twice.
    await sleep(600);
    const rows = await t.db.sql<{ kind: string; n: number; keys: number }[]>`
      select kind, count(*)::int as n, count(distinct idempotency_key)::int as keys from ledger_entry
      where tenant_id = ${shop.id} and kind in ('expiry', 'birthday') group by kind order by kind`;
    expect([...rows]).toEqual([
      { kind: "birthday", n: 6, keys: 6 },
      { kind: "expiry", n: 12, keys: 12 },
    ]);
    for (const id of customers) {
      const v = await t.admin("GET", `/tenants/${shop.slug}/customers/${id}`);
      expect(v.body.balance).toBe(150);
    }
    const lots = await t.db.sql<{ id: string }[]>`select id from points_lot where tenant_id = ${shop.id} and burned_at is not null`;
    expect(lots.length).toBe(12);
    for (const lot of lots) {
      const job = await waitFor(`message for lot ${lot.id}`, () => q.queues.notifications.getJob(jobId.pointsMessage(`expiry-${lot.id}`)));
      expect((job.data as { text: string }).text).toMatch(/^100 баллов сгорели, баланс -?\d+$/);
    }
    const schedulers = await q.queues.rules.getJobSchedulers();
    expect(schedulers.map((s) => s.key ?? s.id)).toEqual(["rules"]);
  });
});
