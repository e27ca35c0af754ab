// Hostile input, as an attacker or a broken client would send it, against the real server
// process (body limits are checked on the wire: Content-Length, chunked bodies, Bun's own
// ceiling) and, where an outside service needs a stand-in (DNS), against the in-process
// app. Every answer is a 4xx/5xx with the errors[] body and no internals. Recalc latency
// while hostile requests run is measured and printed, never asserted (bench/ is for speed).
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { announceAdminToken, provideAdminToken } from "../src/boot.ts";
import { loadConfig } from "../src/config.ts";
import { setLogLevel } from "../src/log.ts";
import { jsonDeeperThan } from "../src/request-guard.ts";
import { prefixEnd, searchText } from "../src/loyalty/customers.ts";
import webpush from "web-push";
import { SendError } from "../src/notify/types.ts";
import { WebPushClient } from "../src/notify/webpush.ts";
import { internalTarget, isPublicAddress } from "../src/web/push-endpoint.ts";
import { ADMIN_TOKEN as ADMIN_TOKEN_IN_PROCESS, MS, type TestContext, testContext } from "./support/app.ts";
import type { TestDatabase } from "./support/db.ts";
import { browserKeys } from "./support/fakes.ts";
import { startApiServer, type ApiServer } from "./support/api-server.ts";
import { freePort, type Spawned, spawnService, waitForHttp } from "./support/process.ts";
import { sale, saleReturn } from "./support/sales.ts";

const ADMIN = "hostile-test-admin-token-0123";

let db: TestDatabase;
let api: Spawned;
let base: string;
let redis: string;
let prefix: string;
let shop: { slug: string; apiToken: string };
let customerId: string;

interface Reply {
  status: number;
  body: any;
  text: string;
}

async function call(method: string, path: string, init: { headers?: Record<string, string>; body?: BodyInit; ip?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.ip) headers["x-forwarded-for"] = init.ip;
  const r = await fetch(base + path, { method, headers, body: init.body });
  const text = await r.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    // left null: the assertion below says so
  }
  return { status: r.status, body, text };
}

const json = (v: unknown) => JSON.stringify(v);
const asPos = (extra: Record<string, string> = {}) => ({ "Lognex-Discount-API-Auth-Token": shop.apiToken, "content-type": "application/json", ...extra });
const asAdmin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };

/** The one shape every failure has: errors[] with Russian words, no stack, no internals. */
function refused(r: Reply, status: number, code?: number): any {
  expect({ status: r.status, text: r.text.slice(0, 300) }).toMatchObject({ status });
  expect(Array.isArray(r.body?.errors)).toBe(true);
  const e = r.body.errors[0];
  expect(typeof e.error_message).toBe("string");
  expect(e.error_message.length).toBeGreaterThan(5);
  if (code !== undefined) expect(e.code).toBe(code);
  expect(r.text).not.toMatch(/\bat .+\.ts:\d+|RangeError|TypeError|stack|postgres|ioredis/i);
  return e;
}

const nested = (depth: number, open = "[", close = "]") => open.repeat(depth) + close.repeat(depth);

let server: ApiServer;

beforeAll(async () => {
  server = await startApiServer({
    ADMIN_TOKEN: ADMIN,
      DB_POOL_SIZE: "4",
      TRUST_PROXY: "1", // so each test can speak as its own client address
  });
  ({ db, redis, prefix, api, base } = server);
  const t = await call("POST", "/admin/v1/tenants", { headers: asAdmin, body: json({ slug: `hostile-${process.pid}`, name: "Враждебный" }) });
  shop = { slug: `hostile-${process.pid}`, apiToken: t.body.apiToken };
  const c = await call("POST", `${MS}/counterparty`, { headers: asPos(), body: json({ phone: "+79161234567", statusCheck: "IGNORE" }) });
  customerId = c.body.id;
});

afterAll(() => server?.stop());

describe("bodies: size and depth are refused before anything parses them", () => {
  test("100,000 nested arrays to the public web card → 413 (16 KB there); 5,000 → 400; the server answers at once after", async () => {
    const path = `/web/v1/${shop.slug}/cards/x/push-subscriptions`;
    const headers = { "content-type": "application/json" };
    refused(await call("POST", path, { headers, body: nested(100_000), ip: "198.51.100.1" }), 413, 41301);
    const e = refused(await call("POST", path, { headers, body: nested(5000), ip: "198.51.100.1" }), 400, 40002);
    expect(e.error_message).toContain("вложенность");
    expect((await call("GET", "/health")).status).toBe(200);
  });

  test("deep nesting on the POS (arrays, objects, inside a valid-looking sale) → 400", async () => {
    refused(await call("POST", `${MS}/retaildemand/recalc`, { headers: asPos(), body: nested(20_000) }), 400, 40002);
    refused(await call("POST", `${MS}/retaildemand`, { headers: asPos(), body: `{"a":`.repeat(5000) + "1" + "}".repeat(5000) }), 400, 40002);
    const s = sale({ customerId, lines: [{ id: "p", price: 10, quantity: 1 }] }).body as any;
    s.positions[0].extra = JSON.parse(nested(40));
    refused(await call("POST", `${MS}/retaildemand`, { headers: asPos(), body: json(s) }), 400, 40002);
  });

  test("brackets inside strings do not count as nesting", async () => {
    const r = await call("GET", `${MS}/counterparty?search=${encodeURIComponent("[".repeat(150))}`, { headers: asPos() });
    expect(r.status).toBe(200);
    expect(jsonDeeperThan(new TextEncoder().encode(json({ name: "[[[[{{{{".repeat(100) })), 3)).toBe(false);
    expect(jsonDeeperThan(new TextEncoder().encode(json({ s: 'a\\"[[[[' })), 1)).toBe(false);
    expect(jsonDeeperThan(new TextEncoder().encode("[[[[]]]]"), 3)).toBe(true);
  });

  test("over each family's limit → 413 with errors[] (declared and chunked)", async () => {
    const big = (n: number) => json({ pad: "x".repeat(n) });
    const e = refused(await call("POST", `${MS}/retaildemand`, { headers: asPos(), body: big(3 * 1024 * 1024) }), 413, 41301);
    expect(e.error_message).toContain("2 МБ");
    refused(await call("POST", `/web/v1/${shop.slug}/cards/x/push-subscriptions`, { headers: { "content-type": "application/json" }, body: big(20_000), ip: "198.51.100.2" }), 413);
    refused(await call("PUT", `/admin/v1/tenants/${shop.slug}/program`, { headers: asAdmin, body: big(1100 * 1024) }), 413);
    // Unauthenticated does not matter: the size is refused before the key is looked at.
    refused(await call("POST", `${MS}/retaildemand`, { headers: { "content-type": "application/json" }, body: big(3 * 1024 * 1024) }), 413);
    // A chunked body has no Content-Length: counted while it streams in.
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 64) c.enqueue(chunk);
        else c.close();
      },
    });
    refused(await call("POST", `${MS}/retaildemand`, { headers: asPos(), body: stream }), 413);
  });

  test("four 120 MB bodies at once (declared, streamed) → 413 errors[] each, none of them read", async () => {
    const chunk = new Uint8Array(1024 * 1024);
    const send = async () => {
      let n = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (n++ < 120) c.enqueue(chunk);
          else c.close();
        },
      });
      const r = await fetch(`${base}${MS}/retaildemand`, {
        method: "POST",
        headers: { ...asPos(), "content-length": String(120 * 1024 * 1024) },
        body,
        duplex: "half",
      } as RequestInit);
      const text = await r.text();
      return { status: r.status, body: JSON.parse(text), text };
    };
    for (const r of await Promise.all([send(), send(), send(), send()])) refused(r, 413, 41301);
    const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${api.child.pid}/status`, "utf8"))?.[1];
    console.log(`server RSS after four 120 MB bodies: ${rss ? Math.round(Number(rss) / 1024) : "?"} MB`);
  });

  test("imports have a larger limit: 3 MB passes the size check there (the route answers for itself)", async () => {
    const r = await call("POST", `/admin/v1/tenants/${shop.slug}/imports`, { headers: { ...asAdmin, "content-type": "text/csv" }, body: "a;b\n".repeat(800_000) });
    expect(r.status).not.toBe(413);
    expect(Array.isArray(r.body?.errors) || r.status < 300).toBe(true);
  });

  test("POS calls take JSON only: form-encoded, multipart and text → 415", async () => {
    for (const [type, body] of [
      ["application/x-www-form-urlencoded", "agent=1&positions=2"],
      ["multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n"],
      ["text/plain", "{}"],
    ] as const) {
      refused(await call("POST", `${MS}/retaildemand/recalc`, { headers: asPos({ "content-type": type }), body }), 415, 41501);
    }
  });

  test("broken JSON of many kinds → 400 errors[]", async () => {
    for (const body of ["{", "[1,2", '{"a":1}}', "\u0000", '"\\ud800"', "nul", "{\"positions\":[" + "1,".repeat(10_000) + "1]}", "1e999999"]) {
      const r = await call("POST", `${MS}/retaildemand/recalc`, { headers: asPos(), body });
      refused(r, 400);
    }
  });
});

describe("numbers at the edges of what the protocol allows", () => {
  const line = (price: number, quantity: number, id = "p") => ({ assortment: { meta: { id } }, price, quantity });
  const recalc = (positions: unknown[], extra: Record<string, unknown> = {}) =>
    call("POST", `${MS}/retaildemand/recalc`, { headers: asPos(), body: json({ agent: { meta: { id: customerId } }, positions, ...extra }) });

  test("recalc: 1,000,000 × 100,000,000 ₽ in range line by line, past the engine as a receipt → 400 in words", async () => {
    for (const positions of [[line(1e8, 1e6)], Array.from({ length: 1000 }, (_, i) => line(1e8, 1e6, `p${i}`)), [line(1e7, 1001), line(1, 1)]]) {
      const e = refused(await recalc(positions), 400, 40001);
      expect(e.parameter).toBe("positions");
      expect(e.error_message).toContain("Сумма чека больше 10000000000 ₽");
    }
    // Right at the limit the receipt is computed.
    expect((await recalc([line(1e7, 1000)])).status).toBe(200);
  });

  test("recalc: preferredBonusToSpend 1e16 → 400 naming it; a large one in range is just a wish", async () => {
    const body = [line(100, 1)];
    for (const preferredBonusToSpend of [1e16, 1e300, 2 ** 53]) {
      const e = refused(await recalc(body, { preferredBonusToSpend, bonusProgram: { transactionType: "SPENDING" } }), 400, 40001);
      expect(e.parameter).toBe("preferredBonusToSpend");
    }
    const r = await recalc(body, { preferredBonusToSpend: 1e12, bonusProgram: { transactionType: "SPENDING" } });
    expect(r.status).toBe(200);
  });

  test("sales and returns past every range are stored and flagged, never 500 and never refused", async () => {
    const stored = async (path: string, body: Record<string, unknown>) => {
      const r = await call("POST", `${MS}${path}`, { headers: asPos(), body: json(body) });
      expect({ path, status: r.status, text: r.text.slice(0, 200) }).toMatchObject({ path, status: 201 });
      const [row] = await db.sql`select flag_reason from document where id = ${r.body.id}`;
      return row!.flag_reason as string;
    };
    const base = () => sale({ customerId, lines: [{ id: "p", price: 100, quantity: 1 }] });
    const huge = base();
    (huge.body.positions as any[]).push({ assortment: { meta: { id: "q" } }, price: 1e8, quantity: 1e6 }, { assortment: { meta: { id: "r" } }, price: 1e300, quantity: 1e21 });
    huge.body.preferredBonusToSpend = 1e16;
    expect(await stored("/retaildemand", huge.body)).toContain("больше допустимого протоколом");
    for (const [field, value] of [["cashSum", 1e300], ["noCashSum", "9".repeat(400)], ["cashSum", 1e21]] as const) {
      const s = base();
      s.body[field] = value;
      expect(await stored("/retaildemand", s.body)).toBeTruthy();
    }
    // Points beyond any balance: stored, the spend held for an operator.
    for (const spend of [2 ** 31, 1e16, 1e300]) {
      const s = sale({ customerId, lines: [{ id: "p", price: 100, quantity: 1 }], spend });
      expect(await stored("/retaildemand", s.body)).toContain("неправдоподобно много баллов");
    }
    const ret = saleReturn({ saleId: huge.id, lines: [{ id: "q", price: 1e8, quantity: 1e6 }, { id: "r", price: 1e300, quantity: 1 }] });
    ret.body.noCashSum = 1e300;
    expect(await stored("/retailsalesreturn", ret.body)).toBeTruthy();
  });
});

describe("admin: query parameters and adjustments", () => {
  test("?limit=1.5 and friends → 400 naming the parameter", async () => {
    for (const q of ["limit=1.5", "limit=abc", "limit=0", "limit=1e30", "limit=-1", "limit="]) {
      const e = refused(await call("GET", `/admin/v1/queues/settlement/failed?${q}`, { headers: asAdmin }), 400, 40001);
      // Out of range, Elysia reports the number without its name: the message gives the range.
      if (["limit=1.5", "limit=abc", "limit="].includes(q)) expect(e.parameter).toBe("limit");
      else expect(e.error_message).toContain("не меньше 1 и не больше 1000");
    }
    refused(await call("GET", `/admin/v1/tenants/${shop.slug}/customers/${customerId}/ledger?before=1.5`, { headers: asAdmin }), 400);
    refused(await call("GET", `/admin/v1/tenants/${shop.slug}/documents?limit=2.5`, { headers: asAdmin }), 400);
    refused(await call("GET", `/admin/v1/tenants/${shop.slug}/giftcards?limit=9.9`, { headers: asAdmin }), 400);
    expect((await call("GET", `/admin/v1/queues/settlement/failed?limit=5`, { headers: asAdmin })).status).toBe(200);
  });

  test("an operator credits a negative balance partly; a debit says what really stands in the way", async () => {
    // −500 as the till can make it: points spent that a return then clawed back, simulated
    // by a sale spending points the customer had, then taken back by hand would be refused —
    // so the negative balance comes from the ledger directly, as a clawback would.
    await db.sql`insert into ledger_entry (tenant_id, customer_id, kind, points, available_at, released_at, idempotency_key, reason)
      select tenant_id, id, 'clawback', -500, now(), now(), 'test:clawback', 'test' from customer where id = ${customerId}`;
    await db.sql`update customer set balance = balance - 500 where id = ${customerId}`;
    const adj = (points: number, key?: string, id = customerId) =>
      call("POST", `/admin/v1/tenants/${shop.slug}/customers/${id}/adjustments`, {
        headers: { ...asAdmin, ...(key ? { "idempotency-key": key } : {}) },
        body: json({ points, reason: "исправление" }),
      });
    expect((await adj(100)).status).toBe(201);
    const debit = refused(await adj(-1), 409, 40901);
    expect(debit.error_message).toContain("баланс -400");
    expect(debit.error_message).not.toContain("Недостаточно");
    // An uppercase id is the same customer, and the same key repeated is the same entry.
    const upper = customerId.toUpperCase();
    const first = await adj(50, "upper-1", upper);
    expect(first.status).toBe(201);
    const again = await adj(50, "upper-1", upper);
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    const other = refused(await adj(60, "upper-1", upper), 409);
    expect(other.error_message).toContain("+50");
    const view = await call("GET", `/admin/v1/tenants/${shop.slug}/customers/${upper}`, { headers: asAdmin });
    expect(view.body.balance).toBe(-350);
    expect((await adj(351)).status).toBe(201);
    refused(await adj(-2), 409);
    expect((await adj(-1)).status).toBe(201);
  });

  test("bad ids and bodies on admin routes → 4xx errors[]", async () => {
    refused(await call("POST", `/admin/v1/tenants/${shop.slug}/customers/not-a-uuid/adjustments`, { headers: asAdmin, body: json({ points: 1, reason: "x" }) }), 400);
    refused(await call("POST", `/admin/v1/tenants/${shop.slug}/customers/${customerId}/adjustments`, { headers: asAdmin, body: json({ points: 1e16, reason: "x" }) }), 400);
    refused(await call("PUT", `/admin/v1/tenants/${shop.slug}/program`, { headers: asAdmin, body: json({ earnPercent: "NaN" }) }), 400);
    refused(await call("POST", `/admin/v1/tenants`, { headers: { ...asAdmin, "content-type": "application/x-www-form-urlencoded" }, body: "slug=a&name=b" }), 415);
  });
});

describe("POS: search, keys, odd text", () => {
  test("a search ending in U+FFFF, holding NUL or a lone surrogate → 200 (nothing found), not a vague 400", async () => {
    // Lone surrogates cannot be encoded as UTF-8: sent as the bytes a broken client would send.
    for (const s of ["Иван\uffff", "\uffff", "abc\u0000", "\u{10FFFF}", "89161234567\uffff", "%ED%A0%80x", "x%ED%BF%BF", "%FF%FE"]) {
      const q = s.includes("%") ? s : encodeURIComponent(s);
      const r = await call("GET", `${MS}/counterparty?search=${q}`, { headers: asPos() });
      expect({ s, status: r.status }).toEqual({ s, status: 200 });
      expect(Array.isArray(r.body.rows)).toBe(true);
    }
    const admin = await call("GET", `/admin/v1/tenants/${shop.slug}/customers?search=${encodeURIComponent("Ив\uffff")}`, { headers: asAdmin });
    expect(admin.status).toBe(200);
    expect(searchText("a\uffffb\ufffe\u0001c\ud800")).toBe("abc");
    expect(prefixEnd("ab")).toBe("ac");
    expect(prefixEnd("a\u{10FFFF}")).toBe("b");
    expect(prefixEnd("\ud7ff")).toBe("\ue000");
    expect(prefixEnd("\u{10FFFF}")).toBeNull();
  });

  test("missing, empty, huge and non-ASCII access keys → 401 errors[]", async () => {
    for (const key of ["", "x", "k".repeat(5000), "ключ"]) {
      refused(await call("POST", `${MS}/counterparty/detail`, { headers: { "content-type": "application/json", "Lognex-Discount-API-Auth-Token": encodeURIComponent(key) }, body: json({ meta: { id: customerId } }) }), 401);
    }
  });
});

describe("secrets", () => {
  test("a generated admin token is kept in its file and never written to the log", async () => {
    const dir = mkdtempSync(join(tmpdir(), "loyalty-token-"));
    const port = await freePort();
    const p = spawnService(["src/main.ts", "--api"], { DATABASE_URL: db.url, REDIS_URL: redis, QUEUE_PREFIX: prefix, PORT: String(port), ADMIN_TOKEN: "", DATA_DIR: dir, DB_POOL_SIZE: "1" });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health`, 30_000, p);
      const token = readFileSync(join(dir, "admin-token"), "utf8").trim();
      expect(token.length).toBeGreaterThanOrEqual(16);
      expect(p.output()).toContain("ADMIN_TOKEN is not set");
      expect(p.output()).not.toContain(token);
    } finally {
      p.child.kill("SIGTERM");
      await p.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the generated token goes to a terminal once, when made; never to a pipe, never to the log", async () => {
    const dir = mkdtempSync(join(tmpdir(), "loyalty-token-"));
    const logged: string[] = [];
    const out = console.log;
    console.log = (...args: unknown[]) => void logged.push(args.join(" "));
    setLogLevel("info");
    try {
      const config = { ...loadConfig({ DATA_DIR: dir }), adminToken: "" };
      const first = await provideAdminToken(config);
      const second = await provideAdminToken(config);
      expect(second).toMatchObject({ token: first.token, generated: false });
      const terminal = () => {
        const written: string[] = [];
        return { written, isTTY: true, write: (s: string) => written.push(s) };
      };
      const tty = terminal();
      announceAdminToken(first, tty);
      expect(tty.written.join("").split(first.token).length - 1).toBe(1);
      const pipe = { ...terminal(), isTTY: false };
      announceAdminToken(first, pipe);
      expect(pipe.written).toEqual([]);
      const restart = terminal();
      announceAdminToken(second, restart);
      expect(restart.written).toEqual([]);
      expect(logged.some((l) => l.includes("ADMIN_TOKEN is not set"))).toBe(true);
      expect(logged.join("\n")).not.toContain(first.token);
    } finally {
      console.log = out;
      setLogLevel("error");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("recalc while hostile requests run (measured, printed, not asserted)", () => {
  test("hostile load answers 4xx; recalc keeps answering 200", async () => {
    const recalcBody = json({ agent: { meta: { id: customerId } }, positions: [{ assortment: { meta: { id: "p1" } }, price: 100, quantity: 1 }] });
    const recalcOnce = async () => {
      const t0 = performance.now();
      const r = await call("POST", `${MS}/retaildemand/recalc`, { headers: asPos(), body: recalcBody });
      return { status: r.status, ms: performance.now() - t0 };
    };
    const measure = async (n: number) => {
      const out: { status: number; ms: number }[] = [];
      for (let i = 0; i < n; i++) out.push(await recalcOnce());
      return out;
    };
    const pct = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
    const quiet = await measure(100);

    let stop = false;
    const hostileStatuses: number[] = [];
    const hostile = async (i: number) => {
      const deep = nested(5000);
      const big = json({ pad: "x".repeat(2 * 1024 * 1024 + 10) });
      while (!stop) {
        const r =
          i % 2 === 0
            ? await call("POST", `/web/v1/${shop.slug}/cards/x/push-subscriptions`, { headers: { "content-type": "application/json" }, body: deep, ip: `203.0.113.${i}` })
            : await call("POST", `${MS}/retaildemand`, { headers: asPos(), body: big });
        hostileStatuses.push(r.status);
        if (r.body?.errors === undefined) throw new Error(`hostile request answered without errors[]: ${r.status}`);
      }
    };
    const attackers = [0, 1, 2, 3].map(hostile);
    const loaded = await measure(100);
    stop = true;
    await Promise.all(attackers);

    expect(quiet.every((r) => r.status === 200)).toBe(true);
    expect(loaded.every((r) => r.status === 200)).toBe(true);
    expect(hostileStatuses.length).toBeGreaterThan(0);
    expect(hostileStatuses.every((s) => s === 400 || s === 413 || s === 429)).toBe(true);
    const q = quiet.map((r) => r.ms);
    const l = loaded.map((r) => r.ms);
    console.log(
      `recalc, 100 sequential calls: quiet p50 ${pct(q, 0.5).toFixed(1)} ms p99 ${pct(q, 0.99).toFixed(1)} ms; ` +
        `with 4 hostile clients (${hostileStatuses.length} refused) p50 ${pct(l, 0.5).toFixed(1)} ms p99 ${pct(l, 0.99).toFixed(1)} ms`,
    );
  }, 60_000);
});

// In process: DNS is an outside service, and push-service names must resolve; a stand-in
// resolver answers what the real one would for these names.
describe("web card: who may subscribe, how often, to what", () => {
  let t: TestContext;
  let qr: string;
  const names: Record<string, string[]> = {
    "fcm.googleapis.com": ["142.250.74.42", "2a00:1450:4001:82b::200a"],
    "169.254.169.254.nip.io": ["169.254.169.254"],
    "10.0.0.1.nip.io": ["10.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
    "mixed.example.net": ["93.184.216.34", "192.168.1.10"],
    "v6local.example.net": ["fd12:3456::1"],
    "mapped.example.net": ["::ffff:127.0.0.1"],
  };
  beforeAll(async () => {
    t = await testContext(
      { resolveHost: async (host) => names[host] ?? [] },
      { WEB_RATE_PER_CARD_PER_MINUTE: "5", WEB_RATE_PER_IP_PER_MINUTE: "12", TRUST_PROXY: "1" },
    );
    const s = await t.createTenant();
    const c = await t.pos(s.apiToken, "POST", "/counterparty", { phone: "+79160000001", statusCheck: "IGNORE" });
    qr = (await t.admin("GET", `/tenants/${s.slug}/customers/${c.body.id}`)).body.qrToken;
    (t as any).slug = s.slug;
  });
  afterAll(() => t.close());

  const subscribe = async (endpoint: string, ip: string, card = qr) =>
    t.fetch(`/web/v1/${(t as any).slug}/cards/${card}/push-subscriptions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": ip },
      body: json({ endpoint, expirationTime: null, keys: await browserKeys() }),
    });

  test("push endpoints: https on 443 to public addresses only, resolved names included", async () => {
    const bad = [
      "https://localhost./x",
      "https://localhost/x",
      "https://169.254.169.254.nip.io/x",
      "https://10.0.0.1.nip.io/x",
      "https://fcm.googleapis.com:22/x",
      "https://fcm.googleapis.com:8443/x",
      "http://fcm.googleapis.com/x",
      "https://127.0.0.1/x",
      "https://[::1]/x",
      "https://user:pw@fcm.googleapis.com/x",
      "https://mixed.example.net/x",
      "https://v6local.example.net/x",
      "https://mapped.example.net/x",
      "ftp://fcm.googleapis.com/x",
    ];
    for (const [i, endpoint] of bad.entries()) {
      const r = await subscribe(endpoint, `192.0.2.${i + 1}`, qr);
      expect({ endpoint, status: r.status }).toEqual({ endpoint, status: r.status === 429 ? 429 : 400 });
      if (r.status === 400) expect(r.body.errors[0].parameter).toBe("endpoint");
    }
    expect(isPublicAddress("8.8.8.8")).toBe(true);
    for (const a of ["127.0.0.1", "10.1.1.1", "172.20.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "224.0.0.1", "not-an-ip"]) {
      expect({ a, ok: isPublicAddress(a) }).toEqual({ a, ok: false });
    }
  });

  test("the push sender asks again before each message: a name now leading inside is refused, nothing sent", async () => {
    const requested: string[] = [];
    const vapid = webpush.generateVAPIDKeys();
    const client = new WebPushClient({
      ...vapid,
      subject: "mailto:ops@example.com",
      fetch: (async (url: string) => {
        requested.push(url);
        return new Response(null, { status: 201 });
      }) as unknown as typeof fetch,
      refuseTarget: (url) => internalTarget(url.hostname, async (host) => names[host] ?? []),
    });
    // A name that does not resolve now is stored (a DNS hiccup must not stop a customer);
    // the sender asks again before each message.
    const s3 = await t.createTenant();
    const c3 = await t.pos(s3.apiToken, "POST", "/counterparty", { phone: "+79160000003", statusCheck: "IGNORE" });
    const card3 = (await t.admin("GET", `/tenants/${s3.slug}/customers/${c3.body.id}`)).body.qrToken;
    const stored = await t.fetch(`/web/v1/${s3.slug}/cards/${card3}/push-subscriptions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": "192.0.2.99" },
      body: json({ endpoint: "https://unknown.example.org/x", expirationTime: null, keys: await browserKeys() }),
    });
    expect(stored.status).toBe(201);

    const keys = await browserKeys();
    const target = (endpoint: string) => ({ endpoint, p256dh: keys.p256dh, auth: keys.auth });
    const payload = { title: "Магазин", body: "+1 балл", tag: "points" };
    const e = await client.send(target("https://169.254.169.254.nip.io/x"), payload).catch((x) => x);
    expect(e).toBeInstanceOf(SendError);
    expect(e.kind).toBe("recipient");
    expect(requested).toEqual([]);
    await client.send(target("https://fcm.googleapis.com/fcm/send/1"), payload);
    expect(requested).toEqual(["https://fcm.googleapis.com/fcm/send/1"]);
  });

  test("per card: a few subscriptions a minute, then 429 with errors[]", async () => {
    const s2 = await t.createTenant();
    const c = await t.pos(s2.apiToken, "POST", "/counterparty", { phone: "+79160000002", statusCheck: "IGNORE" });
    const card = (await t.admin("GET", `/tenants/${s2.slug}/customers/${c.body.id}`)).body.qrToken;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await t.fetch(`/web/v1/${s2.slug}/cards/${card}/push-subscriptions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": `198.18.0.${i}` }, // a new address each time
        body: json({ endpoint: `https://fcm.googleapis.com/fcm/send/${i}`, expirationTime: null, keys: await browserKeys() }),
      });
      statuses.push(r.status);
      if (r.status === 429) expect(r.body.errors[0].code).toBe(42901);
    }
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429, 429, 429]);
    const [row] = await t.db.sql`select count(*)::int as n from push_subscription where customer_id = ${c.body.id}`;
    expect(row!.n).toBe(5);
  });

  test("per client address: over the limit → 429, another address still served", async () => {
    const ip = "203.0.113.200";
    const statuses: number[] = [];
    for (let i = 0; i < 14; i++) {
      statuses.push((await t.fetch(`/web/v1/push/public-key`, { headers: { "x-forwarded-for": ip } })).status);
    }
    expect(statuses.slice(0, 12).every((s) => s === 503)).toBe(true); // push is not configured here: 503, counted all the same
    expect(statuses.slice(12)).toEqual([429, 429]);
    const limited = await t.fetch(`/web/v1/push/public-key`, { headers: { "x-forwarded-for": ip } });
    expect(limited.body.errors[0].error_message).toContain("Повторите через");
    expect((await t.fetch(`/web/v1/push/public-key`, { headers: { "x-forwarded-for": "203.0.113.201" } })).status).toBe(503);
  });

  test("retired subscriptions are pruned after their time", async () => {
    const { releasePending } = await import("../workers/sweeper.ts");
    const [{ tenant_id, id }] = (await t.db.sql`select tenant_id, id from customer where qr_token = ${qr}`) as unknown as [{ tenant_id: string; id: string }];
    await t.db.sql`insert into push_subscription (tenant_id, customer_id, endpoint, p256dh, auth, expired_at, failure)
      values (${tenant_id}, ${id}, 'https://fcm.googleapis.com/old', ${"p".repeat(87)}, ${"a".repeat(22)}, now() - interval '31 days', 'gone'),
             (${tenant_id}, ${id}, 'https://fcm.googleapis.com/recent', ${"p".repeat(87)}, ${"a".repeat(22)}, now() - interval '2 days', 'gone')`;
    await releasePending(t.db.sql);
    const left = await t.db.sql`select endpoint from push_subscription where customer_id = ${id} and expired_at is not null`;
    expect(left.map((r) => r.endpoint)).toEqual(["https://fcm.googleapis.com/recent"]);
  });
});

// Every route of the app, every junk body and query: 2xx, or 4xx/503 with errors[] — never
// a 500. (Number and date ranges inside sale, return and recalc bodies have their own tests.)
describe("every route against junk", () => {
  test("no 500 and no answer without errors[]", async () => {
    const t = await testContext();
    try {
      const s = await t.createTenant();
      const c = await t.pos(s.apiToken, "POST", "/counterparty", { phone: "+79161234000", statusCheck: "IGNORE" });
      const routes: [string, string][] = (t.app as any).routes.map((r: any) => [r.method, r.path]);
      const bodies: unknown[] = [
        undefined,
        "",
        "junk",
        {},
        [],
        null,
        1e308,
        { points: 1e16, reason: "x" },
        { name: "x".repeat(100_000) },
        { a: { b: { c: [1, 2, { d: -1e300 }] } } },
        { meta: { id: "ZZZ" }, agent: { meta: { id: c.body.id.toUpperCase() } } },
        { initialBalance: 1e20, name: "\uffff" },
        { slug: "\u0000", name: "x" },
        { search: "\u0000", endpoint: "https://169.254.169.254/latest" },
      ];
      const values: Record<string, string[]> = {
        slug: [s.slug, "nope", "\u0000x"],
        id: [c.body.id, c.body.id.toUpperCase(), "x".repeat(300)],
        name: ["settlement", "\u0000", "x"],
        "*": ["api/queues"],
      };
      const fill = (path: string, v: number) =>
        path.replace(/:(\w+)|\*/g, (_m: string, k?: string) => {
          const options = values[k ?? "*"] ?? ["x"];
          return encodeURIComponent(options[v % options.length]!);
        });
      const queries = ["", "?limit=1e400", "?search=%00", "?before=-5", "?status=zzz", "?customerId=zz", "?name=%EF%BF%BF", "?state=x&attention=maybe"];
      const bad: string[] = [];
      let sent = 0;
      for (const [method, path] of routes) {
        if (path.startsWith("/swagger") || path.startsWith("/assets")) continue;
        for (let v = 0; v < 3; v++) {
          for (const b of method === "GET" ? [undefined] : bodies) {
            for (const q of method === "GET" ? queries : [""]) {
              const p = fill(path, v) + q;
              const r = await t.fetch(p, {
                method,
                headers: { authorization: `Bearer ${ADMIN_TOKEN_IN_PROCESS}`, "Lognex-Discount-API-Auth-Token": s.apiToken, "content-type": "application/json" },
                body: b === undefined ? undefined : typeof b === "string" ? b : JSON.stringify(b),
              });
              sent++;
              // Pages answer in Russian words (HTML), the API and Bull Board's JSON with errors[].
              // A page's form answers a POST with 303 to one of our pages (post/redirect/get).
              const seeOther = r.status === 303 && (r.headers.get("location") ?? "").startsWith("/");
              const page = seeOther || (r.headers.get("content-type") ?? "").includes("text/html") || (path.startsWith("/admin/queues") && r.status < 400);
              if ((r.status >= 500 && r.status !== 503) || (r.status >= 300 && !r.body?.errors && !page)) {
                bad.push(`${method} ${p} ${JSON.stringify(b)?.slice(0, 60)} → ${r.status} ${JSON.stringify(r.body)?.slice(0, 120)}`);
              }
            }
          }
        }
      }
      expect(sent).toBeGreaterThan(500);
      expect(bad).toEqual([]);
    } finally {
      await t.close();
    }
  }, 120_000);
});
