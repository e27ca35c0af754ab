// The customer's side end to end, as customers and the till see it: a real server process
// (API and workers), the SMS stand-in, Debian's chromium at 360 px. The card's QR code is
// decoded from the rendered page and searched at the POS API; a friend registers through
// the invite link, buys, and both get their referral points.
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { sleep } from "./support/runtime.ts";
import jsQR from "jsqr";
import type { Browser, Page } from "playwright-core";
import { PNG } from "pngjs";
import { join } from "node:path";
import { browserAvailable, launchBrowser, SCREENSHOTS, watchedPage } from "./support/browser.ts";
import { MS } from "./support/app.ts";
import { createTestDatabase, type TestDatabase } from "./support/db.ts";
import { type FakeSmsRu, fakeSmsRu } from "./support/fakes.ts";
import { freePort, type Spawned, spawnService, waitForHttp } from "./support/process.ts";
import { deleteKeys, redisUrl, uniquePrefix } from "./support/redis.ts";
import { sale } from "./support/sales.ts";
import webpush from "web-push";
import { createECDH, randomBytes } from "node:crypto";

const ADMIN = "card-browser-admin-token-0123";
const PHONE_WIDTH = 360;

const run = browserAvailable("card-browser.test.ts");

describe.skipIf(!run)("the card and self-registration in chromium", () => {
  let db: TestDatabase;
  let sms: FakeSmsRu;
  let api: Spawned;
  let browser: Browser;
  let origin: string;
  let redis: string;
  const prefix = uniquePrefix();
  let shop: { slug: string; apiToken: string };

  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${origin}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, body: await r.json() };
  };
  const pos = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${origin}${MS}${path}`, {
      method,
      headers: { "Lognex-Discount-API-Auth-Token": shop.apiToken, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, body: await r.json() };
  };

  /** Waits for the worker (a real process) to do something; the test's own timeout bounds it. */
  async function eventually<T>(what: string, probe: () => Promise<T | null | undefined | false>): Promise<T> {
    for (;;) {
      const v = await probe();
      if (v) return v;
      if (api.child.exitCode !== null) throw new Error(`server exited while waiting for ${what}:\n${api.output()}`);
      await sleep(100);
    }
  }

  const smsTo = (phone: string, re: RegExp) =>
    eventually(`an SMS to ${phone} matching ${re}`, async () => sms.to(phone).map((r) => re.exec(r.msg ?? "")).find(Boolean) ?? null);

  async function phonePage(): Promise<ReturnType<typeof watchedPage>> {
    // Service workers stay off where the push button is not the subject: playwright's
    // request routing (which cuts off other hosts) and a registering worker trip over each other.
    return watchedPage(browser, origin, { viewport: { width: PHONE_WIDTH, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, serviceWorkers: "block" });
  }

  async function noSidewaysScroll(page: Page) {
    const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth }));
    expect(widths.view).toBe(PHONE_WIDTH);
    expect(widths.doc).toBeLessThanOrEqual(PHONE_WIDTH);
    expect(widths.body).toBeLessThanOrEqual(PHONE_WIDTH);
  }

  /** What the QR code on the page says, read from its pixels as a phone camera would. */
  async function decodeQr(page: Page): Promise<string> {
    const png = PNG.sync.read(await page.locator(".qr svg").screenshot());
    const found = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
    if (!found) throw new Error("no QR code found in the card's picture");
    return found.data;
  }

  beforeAll(async () => {
    db = await createTestDatabase({ max: 2 });
    sms = fakeSmsRu();
    redis = await redisUrl();
    const port = await freePort();
    const vapid = webpush.generateVAPIDKeys();
    origin = `http://127.0.0.1:${port}`;
    api = spawnService(["src/main.ts"], {
      DATABASE_URL: db.url,
      REDIS_URL: redis,
      QUEUE_PREFIX: prefix,
      ADMIN_TOKEN: ADMIN,
      PORT: String(port),
      PUBLIC_URL: origin,
      DB_POOL_SIZE: "4",
      WORKER_CONCURRENCY: "2",
      SMS_RU_URL: sms.url,
      SMS_RU_API_ID: "test-api-id-0001",
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: "mailto:ops@example.com",
    });
    await waitForHttp(`${origin}/health`, 60_000, api);
    const t = await admin("POST", "/tenants", { slug: `card-${process.pid}`, name: "Кофейня «Зерно»" });
    expect(t.status).toBe(201);
    shop = { slug: t.body.slug, apiToken: t.body.apiToken };
    const p = await admin("PUT", `/tenants/${shop.slug}/program`, { earnPercent: 10, referrerPoints: 200, referredPoints: 100 });
    expect(p.status).toBe(200);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    api?.child.kill("SIGTERM");
    await api?.exited;
    sms?.close();
    await deleteKeys(redis, prefix).catch(() => {});
    await db?.drop();
  });

  let inviterCardUrl = "";
  let inviterId = "";
  let inviteUrl = "";

  test("registered at the till, the customer gets the card link by SMS; the card at 360 px has a QR code the POS finds", async () => {
    const phone = "79035550101";
    const c = await pos("POST", "/counterparty", { phone: "+7 903 555-01-01", name: "Анна Петрова", statusCheck: "IGNORE" });
    expect(c.status).toBe(201);
    inviterId = c.body.id;
    const link = await smsTo(phone, /^Кофейня «Зерно»: ваша карта (http:\/\/\S+)$/);
    inviterCardUrl = link[1]!;
    expect(inviterCardUrl.startsWith(`${origin}/card/`)).toBe(true);
    const s = sale({ customerId: inviterId, lines: [{ id: "p1", price: 1250, quantity: 1 }], earn: 125, cash: 1250 });
    expect((await pos("POST", "/retaildemand", s.body)).status).toBe(201);
    await eventually("the sale to settle", async () => (await admin("GET", `/tenants/${shop.slug}/customers/${inviterId}`)).body.balance === 125);

    const w = await phonePage();
    await w.page.goto(inviterCardUrl);
    await expect(w.page.locator("h1").textContent()).resolves.toBe("Анна, ваша карта");
    await expect(w.page.locator("#balance").textContent()).resolves.toBe("125");
    await expect(w.page.locator("ul.history li").first().textContent()).resolves.toMatch(/^\+125 за покупку \d+ [а-я]+$/);
    await noSidewaysScroll(w.page);
    await w.shot("card-360");
    const payload = await decodeQr(w.page);
    expect(payload).toBe(inviterCardUrl);
    const found = await pos("GET", `/counterparty?search=${encodeURIComponent(payload)}`);
    expect(found.status).toBe(200);
    expect(found.body.rows.map((r: any) => r.id)).toEqual([inviterId]);
    // Service workers are blocked here: the page says push is unavailable and shows no
    // button that would do nothing when pressed.
    await w.page.waitForFunction(() => document.getElementById("push-status")!.textContent !== "");
    await expect(w.page.locator("#push-status").textContent()).resolves.toBe("Уведомления сейчас недоступны.");
    await expect(w.page.locator("#push-button").isVisible()).resolves.toBe(false);
    inviteUrl = await w.page.locator("#invite-link").inputValue();
    expect(inviteUrl).toMatch(new RegExp(`^${origin}/join/${shop.slug}\\?ref=[A-Za-z0-9]{10}$`));
    expect(w.offsite).toEqual([]);
    expect(w.broken).toEqual([]);
    await w.context.close();
  });

  /** A phone-sized context with service workers on and no request routing; requests are recorded. */
  async function pushContext() {
    const context = await browser.newContext({ locale: "ru-RU", viewport: { width: PHONE_WIDTH, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const requested: string[] = [];
    context.on("request", (r) => void requested.push(r.url()));
    await context.grantPermissions(["notifications"], { origin });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => void errors.push(e.message));
    return { context, page, requested, errors };
  }

  test("the push button: our service worker registers; without a push service the page says it did not work", async () => {
    const w = await pushContext();
    await w.page.goto(inviterCardUrl);
    await w.page.waitForSelector("#push-button:not([hidden])");
    expect(await w.page.evaluate(async () => (await navigator.serviceWorker.ready).active?.scriptURL)).toBe(`${origin}/card/sw.js`);
    // The browser's push service is not reachable from here: subscribe fails, and the page says so.
    await w.page.click("#push-button");
    await w.page.waitForFunction(() => !/Подключаем/.test(document.getElementById("push-status")!.textContent ?? "") && document.getElementById("push-status")!.textContent !== "");
    await expect(w.page.locator("#push-status").textContent()).resolves.toBe("Не получилось включить уведомления. Попробуйте ещё раз позже.");
    await expect(w.page.locator("#push-button").isEnabled()).resolves.toBe(true);
    expect(w.requested.filter((u) => !u.startsWith(origin))).toEqual([]);
    expect(w.errors).toEqual([]);
    await w.context.close();
  });

  test("the push button subscribes this browser at our server and says so", async () => {
    // The browser's own push service is outside (and unreachable here): its answer to
    // PushManager.subscribe is played by a fixed subscription; the rest is the page's code.
    const ecdh = createECDH("prime256v1");
    ecdh.generateKeys();
    const sub = { endpoint: "https://push.example.com/send/card-browser-1", expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: randomBytes(16).toString("base64url") } };
    const w = await pushContext();
    await w.context.addInitScript((json) => {
      PushManager.prototype.subscribe = async function () {
        return { toJSON: () => JSON.parse(json) } as unknown as PushSubscription;
      };
    }, JSON.stringify(sub));
    await w.page.goto(inviterCardUrl);
    await w.page.click("#push-button:not([hidden])");
    await w.page.waitForFunction(() => document.getElementById("push-button")!.textContent === "Уведомления включены");
    await expect(w.page.locator("#push-status").textContent()).resolves.toBe("Готово: сообщения о баллах будут приходить на это устройство.");
    const [row] = await db.sql<{ customer_id: string }[]>`select customer_id from push_subscription where endpoint = ${sub.endpoint}`;
    expect(row?.customer_id).toBe(inviterId);
    await noSidewaysScroll(w.page);
    await w.page.screenshot({ path: join(SCREENSHOTS, "card-push-on-360.png"), fullPage: true });
    expect(w.requested.filter((u) => !u.startsWith(origin))).toEqual([]);
    expect(w.errors).toEqual([]);
    await w.context.close();
  });

  test("a friend joins through the invite link (phone, SMS code, name, consents), buys, and both get their points", async () => {
    const friendPhone = "79035550202";
    // The merchant's own texts: the consent shown at the details step and the card SMS.
    const consentText = "Я согласен(на), чтобы ООО «Зерно» обрабатывало мои телефон и имя для программы лояльности.";
    const settings = await admin("PUT", `/tenants/${shop.slug}/card-settings`, { consentText, cardMessageTemplate: "Ваша карта кофейни: {url} — до встречи!" });
    expect(settings.status).toBe(200);
    const w = await phonePage();
    await w.page.goto(inviteUrl);
    await expect(w.page.locator("h1").textContent()).resolves.toBe("Получите карту покупателя");
    await expect(w.page.locator(".notice.ok").textContent()).resolves.toContain("Вас пригласил друг");
    await noSidewaysScroll(w.page);
    await w.shot("join-1-phone-360");
    await w.page.fill("#phone", "8 (903) 555-02-02");
    await w.page.click("button[type=submit]");
    await w.page.waitForSelector("#code");
    await noSidewaysScroll(w.page);
    await w.shot("join-2-code-360");
    const code = (await smsTo(friendPhone, /Код подтверждения: (\d{6})\./))[1]!;
    await w.page.fill("#code", code);
    await w.page.click("button[type=submit]");
    await w.page.waitForSelector("#name");
    await expect(w.page.locator(".consent").textContent()).resolves.toBe(consentText);
    await w.page.fill("#name", "Ольга");
    await w.page.fill("#birthDate", "1992-03-14");
    await w.page.check("#personalData");
    await noSidewaysScroll(w.page);
    await w.shot("join-3-details-360");
    await w.page.click("button[type=submit]");
    await w.page.waitForURL(/\/card\//);
    await expect(w.page.locator("h1").textContent()).resolves.toBe("Ольга, ваша карта");
    const friendCardUrl = w.page.url();
    await noSidewaysScroll(w.page);
    await w.shot("join-4-card-360");
    // The card link also came by SMS, with the same address.
    const link = await smsTo(friendPhone, /^Ваша карта кофейни: (http:\/\/\S+) — до встречи!$/);
    expect(link[1]).toBe(friendCardUrl);
    // Consent to personal data given, to advertising not: they are recorded apart.
    const [consents] = await db.sql<{ personal: boolean; advertising: boolean }[]>`
      select personal_data_consent_at is not null as personal, advertising_consent_at is not null as advertising
      from customer where phone = ${friendPhone}`;
    expect(consents).toEqual({ personal: true, advertising: false });
    expect(w.offsite).toEqual([]);
    expect(w.broken).toEqual([]);

    const friend = (await pos("GET", `/counterparty?search=${friendPhone}`)).body.rows[0];
    const s = sale({ customerId: friend.id, lines: [{ id: "p1", price: 500, quantity: 1 }], earn: 50, cash: 500 });
    expect((await pos("POST", "/retaildemand", s.body)).status).toBe(201);
    await eventually("the inviter's referral points", async () => (await admin("GET", `/tenants/${shop.slug}/customers/${inviterId}`)).body.balance === 325);
    expect((await admin("GET", `/tenants/${shop.slug}/customers/${friend.id}`)).body.balance).toBe(150);
    await w.page.reload();
    await expect(w.page.locator("#balance").textContent()).resolves.toBe("150");
    await expect(w.page.locator("ul.history").textContent()).resolves.toContain("+100 за покупку по приглашению");
    await w.context.close();

    const inviter = await phonePage();
    await inviter.page.goto(inviterCardUrl);
    await expect(inviter.page.locator("#balance").textContent()).resolves.toBe("325");
    await expect(inviter.page.locator("ul.history li").first().textContent()).resolves.toMatch(/^\+200 за приглашённого друга/);
    await inviter.shot("card-after-referral-360");
    await inviter.context.close();
  });

  test("a customer who already has a card and scans the poster gets that card after the code", async () => {
    const w = await phonePage();
    await w.page.goto(`${origin}/join/${shop.slug}`);
    await w.page.fill("#phone", "+7 903 555-01-01");
    await w.page.click("button[type=submit]");
    await w.page.waitForSelector("#code");
    const code = (await smsTo("79035550101", /Код подтверждения: (\d{6})\./))[1]!;
    await w.page.fill("#code", code);
    await w.page.click("button[type=submit]");
    await w.page.waitForURL(/\/card\//);
    expect(w.page.url()).toBe(inviterCardUrl);
    await expect(w.page.locator("h1").textContent()).resolves.toBe("Анна, ваша карта");
    const [n] = await db.sql<{ n: number }[]>`select count(*)::int as n from customer where phone = '79035550101'`;
    expect(n!.n).toBe(1);
    expect(w.offsite).toEqual([]);
    await w.context.close();
  });

  test("a full card at 360 px: card number, level and what is left, pending points, the next burn, the last 20 entries", async () => {
    const t = await admin("POST", "/tenants", { slug: `card-full-${process.pid}`, name: "Магазин «Всё для дома и сада» на Большой Семёновской" });
    expect(t.status).toBe(201);
    const full = { slug: t.body.slug as string, apiToken: t.body.apiToken as string };
    const p = await admin("PUT", `/tenants/${full.slug}/program`, {
      earnPercent: 10,
      accrualDelayDays: 14,
      tiers: [{ name: "Серебро", minPurchases: 5000, earnPercent: 12 }],
    });
    expect(p.status).toBe(200);
    const posFull = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${origin}${MS}${path}`, {
        method,
        headers: { "Lognex-Discount-API-Auth-Token": full.apiToken, "content-type": "application/json" },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: r.status, body: await r.json() };
    };
    const c = await posFull("POST", "/counterparty", { phone: "+7 903 555-03-03", name: "Константин Константинопольский", discountCardNumber: "2000000012345", statusCheck: "IGNORE" });
    expect(c.status).toBe(201);
    const id = c.body.id as string;
    const cardLink = (await smsTo("79035550303", /ваша карта (http:\/\/\S+)$/))[1]!;
    // 21 entries by hand (the oldest one must drop off the card), the first with a burn date.
    for (let i = 1; i <= 21; i++) {
      const a = await admin("POST", `/tenants/${full.slug}/customers/${id}/adjustments`, {
        points: i === 1 ? 300 : 1,
        reason: `запись ${i}`,
        ...(i === 1 ? { expiresAt: "2030-12-10T09:00:00Z" } : {}),
      });
      expect(a.status).toBe(201);
    }
    // A sale whose points wait 14 days: pending on the card.
    const s = sale({ customerId: id, lines: [{ id: "p1", price: 1200, quantity: 1 }], earn: 120, cash: 1200 });
    expect((await posFull("POST", "/retaildemand", s.body)).status).toBe(201);
    await eventually("the sale to settle as pending", async () => (await admin("GET", `/tenants/${full.slug}/customers/${id}`)).body.pendingBalance === 120);

    const w = await phonePage();
    await w.page.goto(cardLink);
    await expect(w.page.locator("h1").textContent()).resolves.toBe("Константин, ваша карта");
    await expect(w.page.locator("p", { hasText: "Номер карты:" }).textContent()).resolves.toBe("Номер карты: 2000000012345");
    await expect(w.page.locator("#balance").textContent()).resolves.toBe("320");
    await expect(w.page.locator("#pending").textContent()).resolves.toBe("120");
    await expect(w.page.locator("#level").textContent()).resolves.toBe("Уровень: Базовый — до уровня «Серебро» осталось 3\u00a0800 ₽");
    await expect(w.page.locator("#next-burn").textContent()).resolves.toBe("10 декабря сгорит 300 баллов");
    const lines = await w.page.locator("ul.history li").allTextContents();
    expect(lines).toHaveLength(20);
    expect(lines[0]).toMatch(/^\+120 за покупку \d+ [а-я]+ \(станут доступны \d+ [а-я]+\)$/);
    expect(lines.some((l) => l.startsWith("+300"))).toBe(false); // the 21st entry back is not shown
    expect(await decodeQr(w.page)).toBe(cardLink);
    await noSidewaysScroll(w.page);
    await w.shot("card-full-360");
    expect(w.offsite).toEqual([]);
    expect(w.broken).toEqual([]);
    await w.context.close();
  });

  test("an unknown card is a Russian 404 page", async () => {
    const w = await phonePage();
    const w404 = await watchedPage(browser, origin, { viewport: { width: PHONE_WIDTH, height: 740 }, allowStatuses: [404] });
    await w.context.close();
    const r = await w404.page.goto(`${origin}/card/AAAAAAAAAAAAAAAAAAAAAA`);
    expect(r?.status()).toBe(404);
    await expect(w404.page.locator("h1").textContent()).resolves.toBe("Карта не найдена");
    await noSidewaysScroll(w404.page);
    await w404.shot("card-unknown-360");
    expect(w404.broken).toEqual([]);
    await w404.context.close();
  });
});
