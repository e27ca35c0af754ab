import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { readFileSync } from "node:fs";
import { METRIC_NAMES } from "../src/metrics/metrics.ts";
import { LogSender } from "../src/notify/log-sender.ts";
import { SmsRuClient } from "../src/notify/smsru.ts";
import { type RunningWorkers, startWorkers } from "../workers/run.ts";
import { ADMIN_TOKEN, type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { type FakeSmsRu, fakeSmsRu } from "./support/fakes.ts";
import { type TestQueues, testQueues } from "./support/redis.ts";
import { sale, waitFor } from "./support/sales.ts";

// A sale goes through the real API, settlement and an SMS (to a loopback SMS.ru), then
// /metrics is scraped the way Prometheus does and every family is read back.

let t: TestContext;
let q: TestQueues;
let workers: RunningWorkers;
let shop: TestTenant;
let sms: FakeSmsRu;

beforeAll(async () => {
  sms = fakeSmsRu();
  sms.balanceRub = 1234.5;
  q = await testQueues();
  t = await testContext({ queues: q.queues });
  workers = startWorkers(t.db.sql, q.queues, {
    redisUrl: q.url,
    concurrency: 4,
    lockDurationMs: 5000,
    sweepIntervalMs: 200,
    sweepAfterMs: 1000,
    releaseIntervalMs: 200,
    smsBalanceIntervalMs: 60_000,
    notifications: {
      senders: { sms: new SmsRuClient({ url: sms.url, apiId: "test-api-id", timeoutMs: 3000 }), log: new LogSender(() => {}) },
      concurrency: 2,
    },
  });
  shop = await t.createTenant();
});
afterAll(async () => {
  await workers?.close();
  await q?.close();
  await t?.close();
  sms?.close();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, as a scraper reads it. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

async function scrape() {
  // Request timings are recorded once a response has gone out (a later turn of the event loop).
  await new Promise((r) => setTimeout(r, 20));
  const r = await t.fetch("/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toContain("text/plain");
  const parsed = parseExposition(r.body as string);
  const pick = (name: string, labels: Record<string, string> = {}) =>
    parsed.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  const one = (name: string, labels: Record<string, string> = {}) => {
    const found = pick(name, labels);
    if (found.length !== 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`);
    return found[0]!.value;
  };
  return { ...parsed, pick, one };
}

/** "2026-11-30 06:12:01": the POS sends Moscow time. */
const moscowNow = () => new Date(Date.now() + 3 * 3600_000).toISOString().slice(0, 19).replace("T", " ");

describe("GET /metrics", () => {
  test("needs the admin token", async () => {
    expect((await t.fetch("/metrics")).status).toBe(401);
    expect((await t.fetch("/metrics", { headers: { authorization: "Bearer wrong-token-0123456789" } })).status).toBe(401);
  });

  test("after a sale every family is there with the sale's figures", async () => {
    const phone = `7916${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
    const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: `+${phone}`, statusCheck: "IGNORE" });
    expect(c.status).toBe(201);
    await t.admin("POST", `/tenants/${shop.slug}/customers/${c.body.id}/adjustments`, { points: 50, reason: "start" });
    // 1000 ₽ receipt, 20 points spent (discount spread into the price), 5% of the money earned
    // only when not redeeming (default) → 0 earned; a second sale without spending earns 50.
    const spendSale = sale({ customerId: c.body.id, spend: 20, lines: [{ id: "p1", price: 1000, quantity: 1, discountedPrice: 980 }], moment: moscowNow() });
    const earnSale = sale({ customerId: c.body.id, lines: [{ id: "p2", price: 1000, quantity: 1 }], moment: moscowNow() });
    expect((await t.pos(shop.apiToken, "POST", "/retaildemand", spendSale.body)).status).toBe(201);
    expect((await t.pos(shop.apiToken, "POST", "/retaildemand", earnSale.body)).status).toBe(201);
    // Three POS errors: an unknown key twice, a body that is not JSON once.
    expect((await t.pos("no-such-key", "GET", "/counterparty?search=7916")).status).toBe(401);
    expect((await t.pos("no-such-key", "GET", "/counterparty?search=7917")).status).toBe(401);
    expect((await t.pos(shop.apiToken, "POST", "/retaildemand", "{not json")).status).toBe(400);

    await waitFor("both sales settled and their messages sent", async () => {
      const [r] = await t.db.sql<{ settled: number }[]>`
        select count(*)::int as settled from document where tenant_id = ${shop.id} and state = 'settled'`;
      // Two points messages, after the card link every new customer gets by SMS.
      return r!.settled === 2 && sms.to(phone).length === 3;
    });
    const m = await waitFor("the shared counters to catch up", async () => {
      const s = await scrape();
      return s.pick("loyalty_messages_total", { channel: "sms", outcome: "sent" })[0]?.value === 3 ? s : null;
    });

    // Every family we name is exported, with its type.
    for (const name of METRIC_NAMES) expect(m.types.has(name)).toBe(true);
    expect(m.types.get("loyalty_http_request_duration_seconds")).toBe("histogram");
    expect(m.types.get("loyalty_settlement_lag_seconds")).toBe("histogram");

    // Requests by route pattern (not the raw path) and status.
    expect(m.one("loyalty_http_request_duration_seconds_count", { route: "/rest/integration/moysklad/v1/retaildemand", method: "POST", status: "201" })).toBe(2);
    expect(m.one("loyalty_http_request_duration_seconds_count", { route: "/admin/v1/tenants/:slug/customers/:id/adjustments", status: "201" })).toBe(1);
    expect(m.one("loyalty_http_request_duration_seconds_sum", { route: "/rest/integration/moysklad/v1/retaildemand", status: "201" })).toBeGreaterThan(0);
    expect(m.pick("loyalty_http_request_duration_seconds_count").some((s) => s.labels.route!.includes(shop.slug))).toBe(false);

    // POS errors by code.
    expect(m.one("loyalty_pos_errors_total", { code: "40101", status: "401" })).toBe(2);
    expect(m.one("loyalty_pos_errors_total", { code: "40002", status: "400" })).toBe(1);

    // Queues: nothing waits or failed once both sales went through.
    for (const queue of ["settlement", "notifications"]) {
      expect(m.one("loyalty_queue_jobs", { queue, state: "failed" })).toBe(0);
      expect(m.one("loyalty_queue_jobs", { queue, state: "waiting" })).toBe(0);
      expect(m.one("loyalty_queue_oldest_waiting_seconds", { queue })).toBe(0);
    }
    expect(m.one("loyalty_unsettled_oldest_seconds")).toBe(0);

    // Settlement lag: two sales, each settled after its moment (within the day).
    expect(m.one("loyalty_settlement_lag_seconds_count")).toBe(2);
    expect(m.one("loyalty_settlement_lag_seconds_bucket", { le: "+Inf" })).toBe(2);
    expect(m.one("loyalty_settlement_lag_seconds_bucket", { le: "86400" })).toBe(2);
    expect(m.one("loyalty_settlement_lag_seconds_sum")).toBeGreaterThanOrEqual(0);

    // Ledger: the spend at intake and the accrual at settlement (the adjustment is an
    // operator's: it does not go through the sale path).
    expect(m.one("loyalty_ledger_entries_total", { kind: "spend" })).toBe(1);
    expect(m.one("loyalty_ledger_points_total", { kind: "spend" })).toBe(-20);
    expect(m.one("loyalty_ledger_entries_total", { kind: "accrual" })).toBe(1);
    expect(m.one("loyalty_ledger_points_total", { kind: "accrual" })).toBe(50);

    // Messages and the SMS.ru balance the workers read.
    expect(m.one("loyalty_messages_total", { channel: "sms", outcome: "sent" })).toBe(3); // card link + two points messages
    expect(m.one("loyalty_sms_balance_rubles", { provider: "smsru" })).toBe(1234.5);
    expect(m.one("loyalty_sms_balance_age_seconds", { provider: "smsru" })).toBeGreaterThanOrEqual(0);

    // Postgres: this test's pool shows up among the connections; the pool's size is known.
    const conns = m.pick("loyalty_pg_connections").reduce((n, s) => n + s.value, 0);
    expect(conns).toBeGreaterThan(0);
    expect(m.one("loyalty_pg_pool_max")).toBe(t.deps.config.dbPoolSize);
    expect(m.pick("loyalty_metrics_scrape_errors_total").every((s) => s.value === 0)).toBe(true);
  });

  test("a job waiting shows as depth and age", async () => {
    await workers.settlement.pause();
    try {
      await q.queues.settlement.add("settle", { tenantId: shop.id, documentId: "00000000-0000-4000-8000-000000000000" }, { jobId: "metrics-probe", timestamp: Date.now() - 90_000 });
      const m = await scrape();
      expect(m.one("loyalty_queue_jobs", { queue: "settlement", state: "waiting" })).toBe(1);
      expect(m.one("loyalty_queue_oldest_waiting_seconds", { queue: "settlement" })).toBeGreaterThanOrEqual(90);
    } finally {
      await q.queues.settlement.remove("metrics-probe");
      workers.settlement.resume();
    }
  });
});

describe("dashboard and alert rules", () => {
  const exported = new Set<string>(METRIC_NAMES);
  // A query may name a histogram's series (…_bucket, _sum, _count).
  const family = (series: string) => series.replace(/_(bucket|sum|count)$/, "");
  const namesIn = (expr: string) => [...expr.matchAll(/\bloyalty_[a-z_]+/g)].map((x) => x[0]);

  test("the Grafana dashboard loads and every panel queries a metric we export", () => {
    const dashboard = JSON.parse(readFileSync(new URL("../src/metrics/dashboard.json", import.meta.url), "utf8"));
    expect(typeof dashboard.title).toBe("string");
    expect(dashboard.panels.length).toBeGreaterThan(5);
    for (const panel of dashboard.panels) {
      if (panel.type === "row") continue;
      expect(panel.targets?.length ?? 0).toBeGreaterThan(0);
      for (const target of panel.targets) {
        const names = namesIn(target.expr);
        expect(names.length).toBeGreaterThan(0);
        for (const n of names) {
          if (!exported.has(family(n))) throw new Error(`panel "${panel.title}" queries ${n}, which /metrics does not export`);
        }
      }
    }
  });

  test("alert rules cover settlement lag, failed jobs, POS errors and the SMS balance, with exported metrics only", () => {
    const rules = readFileSync(new URL("../src/metrics/alerts.yml", import.meta.url), "utf8");
    const exprs = [...rules.matchAll(/^\s+expr: (.+)$/gm)].map((x) => x[1]!);
    expect(exprs.length).toBeGreaterThanOrEqual(4);
    for (const e of exprs) for (const n of namesIn(e)) expect(exported.has(family(n))).toBe(true);
    const all = exprs.join("\n");
    for (const needed of ["loyalty_settlement_lag_seconds", "loyalty_queue_jobs", "loyalty_pos_errors_total", "loyalty_sms_balance_rubles"]) {
      expect(all).toContain(needed);
    }
  });
});
