// Failing dependencies: Postgres connections that stall (a loopback proxy that stops
// passing bytes), a customer row locked by someone else, a Redis that stops answering
// (SIGSTOP), a Redis that lost its data. The POS gets 503 with errors[] in bounded time
// (elapsed times are printed, not asserted), readiness notices, and once the dependency
// is back every sale is stored once, every point moved once.
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { sleep } from "./support/runtime.ts";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { setLogLevel } from "../src/log.ts";
import { createSql, type Sql } from "../src/db/client.ts";
import { TenantDirectory } from "../src/loyalty/tenants.ts";
import { LogSender } from "../src/notify/log-sender.ts";
import { jobId, Queues } from "../src/queue/queues.ts";
import { startWorkers } from "../workers/run.ts";
import { sweepMessages } from "../workers/sweeper.ts";
import { ADMIN_TOKEN, MS, type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { PrivateRedis, uniquePrefix } from "./support/redis.ts";
import { sale, waitFor } from "./support/sales.ts";
import { PausableProxy } from "./support/tcp-proxy.ts";

let t: TestContext;
beforeAll(async () => {
  t = await testContext();
});
afterAll(() => t.close());

interface Reply {
  status: number;
  body: any;
  ms: number;
}

/** An app of the test's own over `sql` with short limits, as the API would run with them. */
function appOver(sql: Sql, env: Record<string, string>, extra: { queues?: Queues } = {}) {
  const config = { ...loadConfig(env), adminToken: ADMIN_TOKEN };
  const app = createApp({
    config,
    sql,
    tenants: new TenantDirectory(sql, 0),
    queues: extra.queues,
    readiness: extra.queues ? { redis: () => extra.queues!.ping() } : undefined,
  });
  const send = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const t0 = performance.now();
    const res = await app.handle(
      new Request(`http://loyalty.test${path}`, {
        method,
        headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {} // a CSV export
    return { status: res.status, body: parsed, ms: performance.now() - t0 };
  };
  const raw = (method: string, path: string, headers: Record<string, string> = {}) => app.handle(new Request(`http://loyalty.test${path}`, { method, headers }));
  return {
    pos: (key: string, method: string, path: string, body?: unknown) => send(method, `${MS}${path}`, body, { "Lognex-Discount-API-Auth-Token": key }),
    admin: (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      send(method, `/admin/v1${path}`, body, { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers }),
    get: (path: string, headers: Record<string, string> = {}) => send("GET", path, undefined, headers),
    raw,
  };
}

function unavailable(r: Reply): void {
  expect({ status: r.status, code: r.body?.errors?.[0]?.code }).toEqual({ status: 503, code: 50301 });
  expect(typeof r.body.errors[0].error_message).toBe("string");
}

async function customerWithPoints(shop: TestTenant, phone: string, points: number): Promise<string> {
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, statusCheck: "IGNORE" });
  expect(c.status).toBe(201);
  const a = await t.admin("POST", `/tenants/${shop.slug}/customers/${c.body.id}/adjustments`, { points, reason: "start" });
  expect(a.status).toBe(201);
  return c.body.id;
}

const spendingSale = (customerId: string) => sale({ customerId, lines: [{ id: "p", price: 100, quantity: 1, discountedPrice: 99 }], spend: 1 });

async function ledgerOf(customerId: string) {
  const [row] = await t.db.sql<{ entries: number; sum: number; balance: number }[]>`
    select (select count(*)::int from ledger_entry where customer_id = ${customerId}) as entries,
           (select coalesce(sum(points), 0)::int from ledger_entry where customer_id = ${customerId}) as sum,
           (select balance::int from customer where id = ${customerId}) as balance`;
  return row!;
}

const ms = (xs: number[]) => `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))} ms`;

describe("Postgres connections that stall", () => {
  let proxy: PausableProxy;
  let sql: Sql;

  beforeAll(async () => {
    const u = new URL(t.db.url);
    proxy = await PausableProxy.start(u.hostname, Number(u.port || 5432));
    u.host = `127.0.0.1:${proxy.port}`;
    sql = createSql(u.toString(), { max: 3, statementTimeoutMs: 1000, lockTimeoutMs: 500 });
  });
  afterAll(async () => {
    proxy.resume();
    await sql.end({ timeout: 1 }).catch(() => {});
    await proxy.close();
  });

  test("the POS gets 503 at the deadline, readiness says so, and redelivered sales land once", async () => {
    const api = appOver(sql, { REQUEST_DEADLINE_MS: "800", DB_STATEMENT_TIMEOUT_MS: "1000" });
    const shop = await t.createTenant();
    const customerId = await customerWithPoints(shop, "+79171110001", 100);
    // Every connection of the pool open and flowing.
    const warm = await Promise.all([1, 2, 3].map(() => api.pos(shop.apiToken, "POST", "/counterparty/detail", { meta: { id: customerId } })));
    expect(warm.map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await api.get("/health/ready")).status).toBe(200);

    proxy.pause();
    const sales = [1, 2, 3, 4].map(() => spendingSale(customerId));
    const lines: string[] = [];
    const stderr = console.error;
    console.error = (...args: unknown[]) => void lines.push(args.join(" "));
    setLogLevel("warn");
    let during: Reply[];
    try {
      during = await Promise.all([
        ...sales.map((s) => api.pos(shop.apiToken, "POST", "/retaildemand", s.body)),
        ...[1, 2, 3].map(() => api.pos(shop.apiToken, "POST", "/counterparty/detail", { meta: { id: customerId } })),
        api.pos(shop.apiToken, "POST", "/retaildemand/recalc", { agent: { meta: { id: customerId } }, positions: [{ assortment: { meta: { id: "p" } }, price: 10, quantity: 1 }] }),
      ]);
    } finally {
      console.error = stderr;
      setLogLevel("error");
    }
    for (const r of during) unavailable(r);
    // Eight calls missed their deadline: one line says so.
    expect(lines.filter((l) => l.includes("POS call missed its deadline")).length).toBe(1);
    const ready = await api.get("/health/ready");
    expect(ready.status).toBe(503);
    expect(ready.body.checks.postgres).toBe(false);
    expect(ready.body.checks.requests).toBe(false); // calls stuck past every deadline
    console.log(`stalled Postgres: ${during.length} POS calls answered 503 in ${ms(during.map((r) => r.ms))}; readiness in ${Math.round(ready.ms)} ms`);

    proxy.resume();
    await waitFor("ready again", async () => (await api.get("/health/ready")).status === 200);
    // The POS redelivers what got 503: each sale is stored once, whatever reached the database before.
    for (const s of sales) expect((await api.pos(shop.apiToken, "POST", "/retaildemand", s.body)).status).toBe(201);
    for (const s of sales) expect((await api.pos(shop.apiToken, "POST", "/retaildemand", s.body)).status).toBe(201);
    const [docs] = await t.db.sql`select count(*)::int as n from document where tenant_id = ${shop.id}`;
    expect(docs!.n).toBe(4);
    expect(await ledgerOf(customerId)).toEqual({ entries: 5, sum: 96, balance: 96 }); // the start + one spend per sale
  }, 60_000);

  test("admin API calls and cabinet pages get 503 at their own deadline; a CSV export is left to finish", async () => {
    expect(loadConfig({}).limits.adminDeadlineMs).toBe(15_000);
    expect(() => loadConfig({ ADMIN_DEADLINE_MS: "soon" })).toThrow(/ADMIN_DEADLINE_MS must be an integer/);
    const api = appOver(sql, { REQUEST_DEADLINE_MS: "800", ADMIN_DEADLINE_MS: "1200", DB_STATEMENT_TIMEOUT_MS: "1000" });
    const shop = await t.createTenant();
    const customerId = await customerWithPoints(shop, "+79171110005", 40);
    const warm = await Promise.all([1, 2, 3].map(() => api.admin("GET", `/tenants/${shop.slug}/customers/${customerId}`)));
    expect(warm.map((r) => r.status)).toEqual([200, 200, 200]);
    await waitFor("ready", async () => (await api.get("/health/ready")).status === 200);
    const basic = { authorization: `Basic ${btoa(`x:${ADMIN_TOKEN}`)}` };

    proxy.pause();
    const lines: string[] = [];
    const stderr = console.error;
    console.error = (...args: unknown[]) => void lines.push(args.join(" "));
    setLogLevel("warn");
    // Started first, while Postgres is stalled: it is still waiting when every other call got its 503.
    const exporting = api.admin("GET", `/tenants/${shop.slug}/customers.csv`);
    let calls: Reply[];
    let page: Response;
    try {
      [page, ...calls] = await Promise.all([
        api.raw("GET", `/cabinet/${shop.slug}/customers/${customerId}`, basic),
        api.admin("GET", `/tenants/${shop.slug}/customers/${customerId}`),
        api.admin("GET", `/tenants/${shop.slug}/customers/${customerId}/ledger`),
        api.admin("GET", `/tenants/${shop.slug}/stats`), // the cabinet's JSON API
        api.admin("POST", `/tenants/${shop.slug}/customers/${customerId}/adjustments`, { points: 5, reason: "во время сбоя" }, { "idempotency-key": "stall-1" }),
      ]);
    } finally {
      console.error = stderr;
      setLogLevel("error");
    }
    for (const r of calls) {
      unavailable(r);
      expect(r.body.errors[0].error_message).toMatch(/[а-я]/);
    }
    expect(page.status).toBe(503);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("Кабинет не ответил вовремя");
    expect(lines.filter((l) => l.includes("admin API call missed its deadline")).length).toBe(1);
    expect(lines.filter((l) => l.includes("cabinet page missed its deadline")).length).toBe(1);
    console.log(`stalled Postgres: ${calls.length} admin calls answered 503 in ${ms(calls.map((r) => r.ms))}`);

    proxy.resume();
    const exported = await exporting;
    expect(exported.status).toBe(200);
    await waitFor("ready again", async () => (await api.get("/health/ready")).status === 200);
    // The adjustment that got 503 is sent again under its key: it lands once.
    for (let i = 0; i < 2; i++) {
      const again = await api.admin("POST", `/tenants/${shop.slug}/customers/${customerId}/adjustments`, { points: 5, reason: "во время сбоя" }, { "idempotency-key": "stall-1" });
      expect(again.status).toBe(201);
    }
    expect(await ledgerOf(customerId)).toEqual({ entries: 2, sum: 45, balance: 45 });
  }, 60_000);
});

describe("a customer row locked elsewhere", () => {
  test("sale and adjustment answer 503 at the lock timeout, recalc still answers; after release each lands once", async () => {
    const sql = createSql(t.db.url, { max: 3, statementTimeoutMs: 2000, lockTimeoutMs: 300 });
    const api = appOver(sql, { REQUEST_DEADLINE_MS: "3000" });
    const shop = await t.createTenant();
    const customerId = await customerWithPoints(shop, "+79171110002", 50);
    const locker = createSql(t.db.url, { max: 1 });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = locker.begin(async (tx) => {
      await tx`select id from customer where id = ${customerId} for update`;
      locked();
      await held;
    });
    try {
      await isLocked;
      const s = spendingSale(customerId);
      const adjustment = () =>
        api.admin("POST", `/tenants/${shop.slug}/customers/${customerId}/adjustments`, { points: 7, reason: "возврат долга" }, { "idempotency-key": "lock-1" });
      const r1 = await api.pos(shop.apiToken, "POST", "/retaildemand", s.body);
      const r2 = await adjustment();
      unavailable(r1);
      unavailable(r2);
      const recalc = await api.pos(shop.apiToken, "POST", "/retaildemand/recalc", {
        agent: { meta: { id: customerId } },
        positions: [{ assortment: { meta: { id: "p" } }, price: 10, quantity: 1 }],
      });
      expect(recalc.status).toBe(200);
      console.log(`held row lock: sale 503 in ${Math.round(r1.ms)} ms, adjustment 503 in ${Math.round(r2.ms)} ms, recalc 200 in ${Math.round(recalc.ms)} ms`);
      release();
      await holder;
      expect((await api.pos(shop.apiToken, "POST", "/retaildemand", s.body)).status).toBe(201);
      expect((await api.pos(shop.apiToken, "POST", "/retaildemand", s.body)).status).toBe(201);
      expect((await adjustment()).status).toBe(201);
      expect((await adjustment()).status).toBe(201);
      expect(await ledgerOf(customerId)).toEqual({ entries: 3, sum: 56, balance: 56 });
    } finally {
      release();
      await holder.catch(() => {});
      await locker.end({ timeout: 1 });
      await sql.end({ timeout: 1 });
    }
  }, 60_000);
});

describe("Redis that stops answering, and Redis that lost its data", () => {
  let redis: PrivateRedis;
  let queues: Queues;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    queues = new Queues(redis.url, uniquePrefix(), { commandTimeoutMs: 500 });
  });
  afterAll(async () => {
    redis.resume();
    await queues.close();
    await redis.stop();
  });

  test("paused: sales answered 201, operators' views 503 in bounded time, one log line; resumed: settled once", async () => {
    const api = appOver(t.db.sql, {}, { queues });
    const shop = await t.createTenant();
    const customerId = await customerWithPoints(shop, "+79171110003", 100);
    expect((await api.admin("GET", "/queues")).status).toBe(200);

    const lines: string[] = [];
    const stderr = console.error;
    console.error = (...args: unknown[]) => void lines.push(args.join(" "));
    setLogLevel("warn"); // the test preload keeps service logs at "error"
    redis.pause();
    const sales = [1, 2, 3, 4, 5, 6].map(() => spendingSale(customerId));
    let answers: Reply[];
    try {
      answers = [];
      for (const s of sales) answers.push(await api.pos(shop.apiToken, "POST", "/retaildemand", s.body));
    } finally {
      console.error = stderr;
      setLogLevel("error");
    }
    expect(answers.map((r) => r.status)).toEqual([201, 201, 201, 201, 201, 201]);
    // One line for the outage, not one per sale.
    expect(lines.filter((l) => l.includes("settlement not queued")).length).toBe(1);

    const views = await Promise.all([
      api.admin("GET", "/queues"),
      api.admin("GET", "/queues/settlement/failed?limit=5"),
      api.get("/admin/queues/api/queues", { authorization: `Bearer ${ADMIN_TOKEN}` }),
    ]);
    for (const v of views) {
      unavailable(v);
      // The words name what did not answer: Redis, not the database.
      expect(v.body.errors[0].error_message).toContain("Redis");
    }
    const ready = await api.get("/health/ready");
    expect(ready.status).toBe(503);
    expect(ready.body.checks.redis).toBe(false);
    console.log(
      `paused Redis: sales 201 in ${ms(answers.map((r) => r.ms))}; queue views and Bull Board 503 in ${ms(views.map((v) => v.ms))}; readiness ${Math.round(ready.ms)} ms`,
    );

    redis.resume();
    const workers = startWorkers(t.db.sql, queues, { redisUrl: redis.url, concurrency: 4, lockDurationMs: 5000, sweepIntervalMs: 100, sweepAfterMs: 0, releaseIntervalMs: 60_000 });
    try {
      await waitFor("all settled", async () => {
        const [r] = await t.db.sql`select count(*)::int as n from document where id = any(${answers.map((a) => a.body.id)}::uuid[]) and state = 'settled'`;
        return r!.n === 6;
      });
    } finally {
      await workers.close();
    }
    expect(await ledgerOf(customerId)).toEqual({ entries: 7, sum: 94, balance: 94 });
  }, 60_000);

  test("messages of documents settled when Redis lost its data are queued again, once", async () => {
    const api = appOver(t.db.sql, {}, { queues });
    const shop = await t.createTenant();
    // A welcome gift on the first purchase sends that sale through the one-document path
    // (a message job of its own); the customer's next sale is a plain one (its batch's job).
    expect((await t.admin("PUT", `/tenants/${shop.slug}/program`, { welcomePoints: 10, welcomeOn: "firstPurchase" })).status).toBe(200);
    const customerId = await customerWithPoints(shop, "+79171110004", 100);
    const posted = await api.pos(shop.apiToken, "POST", "/retaildemand", spendingSale(customerId).body);
    expect(posted.status).toBe(201);
    const s = { id: posted.body.id as string }; // our document id: what job ids and notifications name
    const plain = { id: "", messageJob: "" };
    // Settled by a worker without a notifications worker: the message waits in Redis…
    const settling = startWorkers(t.db.sql, queues, { redisUrl: redis.url, concurrency: 1, lockDurationMs: 5000, sweepIntervalMs: 100, sweepAfterMs: 0, releaseIntervalMs: 60_000 });
    try {
      await waitFor("settled", async () => (await t.db.sql`select 1 from document where id = ${s.id} and state = 'settled'`).length === 1);
      await waitFor("message queued", async () => !!(await queues.notifications.getJob(jobId.pointsMessage(s.id))));
      // A second sale of this customer (who has bought before now) is a plain one: its
      // message travels in its batch's job, which the document names.
      const again = await api.pos(shop.apiToken, "POST", "/retaildemand", spendingSale(customerId).body);
      expect(again.status).toBe(201);
      plain.id = again.body.id;
      await waitFor("second settled", async () => (await t.db.sql`select 1 from document where id = ${plain.id} and state = 'settled'`).length === 1);
      const [d] = await t.db.sql<{ message_job: string }[]>`select message_job from document where id = ${plain.id}`;
      plain.messageJob = d!.message_job;
      expect(plain.messageJob).toBeTruthy();
      const batchJob = await waitFor("batch message queued", () => queues.notifications.getJob(jobId.pointsBatch(plain.messageJob)));
      expect(batchJob.data).toMatchObject({ type: "points-batch", messages: [{ customerId, documentId: plain.id }] });
    } finally {
      await settling.close();
    }
    // …and Redis loses everything.
    const flush = new (await import("ioredis")).default(redis.url);
    await flush.flushall();
    flush.disconnect();
    expect(await queues.notifications.getJob(jobId.pointsMessage(s.id))).toBeUndefined();
    expect(await queues.notifications.getJob(jobId.pointsBatch(plain.messageJob))).toBeUndefined();

    // (Documents of the test above lost their messages the same way: they are queued too.)
    expect(await sweepMessages(t.db.sql, queues, { olderThanMs: 0 })).toBeGreaterThanOrEqual(1);
    expect(await sweepMessages(t.db.sql, queues, { olderThanMs: 0 })).toBe(0); // the jobs are there: not again
    const job = await queues.notifications.getJob(jobId.pointsMessage(s.id));
    expect(job?.data).toMatchObject({ type: "points", customerId, documentId: s.id });
    // The plain sale's message goes back into its batch's job, under the same id.
    const batchJob = await queues.notifications.getJob(jobId.pointsBatch(plain.messageJob));
    expect(batchJob?.data).toMatchObject({ type: "points-batch", messageJob: plain.messageJob, messages: [{ customerId, documentId: plain.id }] });
    expect(await queues.notifications.getJob(jobId.pointsMessage(plain.id))).toBeUndefined();

    const logged: unknown[] = [];
    const sending = startWorkers(t.db.sql, queues, {
      redisUrl: redis.url,
      concurrency: 1,
      lockDurationMs: 5000,
      sweepIntervalMs: 60_000,
      sweepAfterMs: 0,
      releaseIntervalMs: 60_000,
      messageSweep: { intervalMs: 100, afterMs: 0 },
      notifications: { senders: { log: new LogSender((_, f) => void (f.customerId === customerId && logged.push(f.text))) }, concurrency: 1 },
    });
    try {
      await waitFor("messages sent", async () =>
        (await t.db.sql`select 1 from notification where ref in (${s.id}, ${plain.id}) and status = 'sent'`).length === 2);
      await sleep(500); // several message sweeps run meanwhile
    } finally {
      await sending.close();
    }
    const rows = await t.db.sql`select ref, channel from notification where ref in (${s.id}, ${plain.id}) order by ref = ${s.id}`;
    expect(rows.map((r) => r.channel)).toEqual(["log", "log"]);
    expect(logged).toHaveLength(2);
    expect(await sweepMessages(t.db.sql, queues, { olderThanMs: 0 })).toBe(0);
  }, 60_000);
});
