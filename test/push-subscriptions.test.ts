import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { Elysia } from "elysia";
import webpush from "web-push";
import { httpErrors } from "../src/http-errors.ts";
import { MAX_SUBSCRIPTIONS_PER_CUSTOMER, webCardController } from "../src/web/cards.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { browserKeys } from "./support/fakes.ts";

// The customer's web card: public endpoints through the real app on a fresh database.
let t: TestContext;
let shop: TestTenant;
const vapid = webpush.generateVAPIDKeys();
// The same controller with push configured (the app under test has no VAPID env).
let withPush: { handle(r: Request): Promise<Response> };

// DNS is an outside service: a stand-in that knows the public push services these tests use.
const dns = async (host: string) => (host.endsWith("googleapis.com") || host.endsWith("mozilla.com") ? ["142.250.74.42"] : []);

beforeAll(async () => {
  // Many subscriptions for one card in a few seconds: the per-card limit has its own test (hostile.test.ts).
  t = await testContext({ resolveHost: dns }, { WEB_RATE_PER_CARD_PER_MINUTE: "1000", WEB_RATE_PER_IP_PER_MINUTE: "1000" });
  shop = await t.createTenant();
  withPush = new Elysia().use(httpErrors).use(webCardController(t.deps, { vapidPublicKey: vapid.publicKey }));
});
afterAll(() => t.close());

let n = 0;
async function customerWithCard(): Promise<{ id: string; qr: string }> {
  const phone = `+7917${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, statusCheck: "IGNORE" });
  expect(c.status).toBe(201);
  const qr = `card-${process.pid}-${++n}-${Math.random().toString(36).slice(2)}`;
  await t.db.sql`update customer set qr_token = ${qr} where tenant_id = ${shop.id} and id = ${c.body.id}`;
  return { id: c.body.id, qr };
}

const path = (qr: string, slug = shop.slug) => `/web/v1/${slug}/cards/${encodeURIComponent(qr)}/push-subscriptions`;
const send = (method: string, p: string, body: unknown) =>
  t.fetch(p, { method, headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

async function subscription(endpoint = `https://fcm.googleapis.com/fcm/send/${crypto.randomUUID()}`) {
  return { endpoint, expirationTime: null, keys: await browserKeys() };
}

const rowsOf = (customerId: string) =>
  t.db.sql`select endpoint, p256dh, auth, expired_at, failure from push_subscription
           where tenant_id = ${shop.id} and customer_id = ${customerId} order by created_at`;

describe("web card: the VAPID public key", () => {
  test("503 with errors[] when push is not configured", async () => {
    const off = new Elysia().use(httpErrors).use(webCardController(t.deps, { vapidPublicKey: null }));
    const r = await off.handle(new Request("http://loyalty.test/web/v1/push/public-key"));
    expect(r.status).toBe(503);
    expect((await r.json()).errors[0]).toMatchObject({ code: 50301, error: "Уведомления не настроены" });
    // The app serves the route with the process's VAPID settings (none in tests, unless set).
    const app = await t.fetch("/web/v1/push/public-key");
    expect(app.status).toBe(process.env.VAPID_PUBLIC_KEY ? 200 : 503);
  });

  test("the key browsers subscribe with, when configured", async () => {
    const r = await withPush.handle(new Request("http://loyalty.test/web/v1/push/public-key"));
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ publicKey: vapid.publicKey });
  });
});

describe("web card: push subscriptions", () => {
  test("subscribe → 201; the same browser again → 200, same row; an expired one is re-activated", async () => {
    const c = await customerWithCard();
    const sub = await subscription();
    const first = await send("POST", path(c.qr), sub);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ endpoint: sub.endpoint });
    expect(first.body.id).toMatch(/^[0-9a-f-]{36}$/);

    const again = await send("POST", path(c.qr), sub);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(await rowsOf(c.id)).toHaveLength(1);

    await t.db.sql`update push_subscription set expired_at = now(), failure = 'HTTP 410' where tenant_id = ${shop.id} and id = ${first.body.id}`;
    const renewedKeys = await browserKeys();
    const back = await send("POST", path(c.qr), { ...sub, keys: renewedKeys });
    expect(back.status).toBe(200);
    const [row] = await rowsOf(c.id);
    expect(row).toMatchObject({ endpoint: sub.endpoint, p256dh: renewedKeys.p256dh, auth: renewedKeys.auth, expired_at: null, failure: null });
  });

  test("the same browser on another customer's card moves to that customer", async () => {
    const a = await customerWithCard();
    const b = await customerWithCard();
    const sub = await subscription();
    expect((await send("POST", path(a.qr), sub)).status).toBe(201);
    expect((await send("POST", path(b.qr), sub)).status).toBe(200);
    expect(await rowsOf(a.id)).toHaveLength(0);
    expect(await rowsOf(b.id)).toHaveLength(1);
  });

  test("unsubscribe → 204, and 204 again when already gone", async () => {
    const c = await customerWithCard();
    const keep = await subscription();
    const drop = await subscription();
    await send("POST", path(c.qr), keep);
    await send("POST", path(c.qr), drop);
    const r = await send("DELETE", path(c.qr), { endpoint: drop.endpoint });
    expect(r.status).toBe(204);
    expect((await rowsOf(c.id)).map((x) => x.endpoint)).toEqual([keep.endpoint]);
    expect((await send("DELETE", path(c.qr), { endpoint: drop.endpoint })).status).toBe(204);
  });

  test(`a customer keeps at most ${MAX_SUBSCRIPTIONS_PER_CUSTOMER} active browsers; older ones are retired`, async () => {
    const c = await customerWithCard();
    const endpoints: string[] = [];
    for (let i = 0; i < MAX_SUBSCRIPTIONS_PER_CUSTOMER + 2; i++) {
      const s = await subscription();
      endpoints.push(s.endpoint);
      expect((await send("POST", path(c.qr), s)).status).toBe(201);
    }
    const rows = await rowsOf(c.id);
    const active = rows.filter((r) => r.expired_at === null).map((r) => r.endpoint);
    expect(active).toHaveLength(MAX_SUBSCRIPTIONS_PER_CUSTOMER);
    expect(active).not.toContain(endpoints[0]);
    expect(active).not.toContain(endpoints[1]);
    expect(active).toContain(endpoints[endpoints.length - 1]);
  });

  test("unknown shop or card → 404 errors[]", async () => {
    const c = await customerWithCard();
    const sub = await subscription();
    const noShop = await send("POST", path(c.qr, "no-such-shop"), sub);
    expect(noShop.status).toBe(404);
    expect(noShop.body.errors[0]).toMatchObject({ code: 40403, parameter: "slug" });
    const noCard = await send("POST", path("no-such-card"), sub);
    expect(noCard.status).toBe(404);
    expect(noCard.body.errors[0]).toMatchObject({ code: 40401, parameter: "qrToken" });
    expect((await send("DELETE", path("no-such-card"), { endpoint: sub.endpoint })).status).toBe(404);
  });

  test("bad bodies → 400 errors[]", async () => {
    const c = await customerWithCard();
    const good = await subscription();
    const bad = async (body: unknown, parameter?: string) => {
      const r = await send("POST", path(c.qr), body);
      expect(r.status).toBe(400);
      expect(Array.isArray(r.body.errors)).toBe(true);
      expect(r.body.errors[0].code).toBeGreaterThanOrEqual(40001);
      if (parameter) expect(r.body.errors.map((e: any) => e.parameter)).toContain(parameter);
    };
    await bad({ endpoint: good.endpoint }, "keys");
    await bad({ ...good, keys: { p256dh: good.keys.p256dh } }, "keys.auth");
    await bad({ ...good, endpoint: 42 }, "endpoint");
    await bad("{not json");
    await bad({ ...good, endpoint: "http://updates.push.services.mozilla.com/wpush/v2/x" }, "endpoint"); // not https
    await bad({ ...good, endpoint: "https://127.0.0.1:8443/push/x" }, "endpoint"); // our own network
    await bad({ ...good, endpoint: "https://localhost/push/x" }, "endpoint");
    await bad({ ...good, keys: { ...good.keys, p256dh: "A".repeat(40) } }, "keys.p256dh"); // not a P-256 point
    await bad({ ...good, keys: { ...good.keys, auth: "A".repeat(40) } }, "keys.auth");
    const del = await send("DELETE", path(c.qr), {});
    expect(del.status).toBe(400);
    expect(del.body.errors[0].parameter).toBe("endpoint");
    expect(await rowsOf(c.id)).toHaveLength(0);
  });
});
