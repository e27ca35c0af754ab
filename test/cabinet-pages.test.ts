// The cabinet in a real browser against the real server process (API and workers): the
// overview with its charts, finding a customer by phone, adjusting points, their level and
// a new card link, importing a file while the bar moves to 100 %, erasing a customer; plus
// documents and certificates.
// Then the merchant's way in: МойСклад (a loopback stand-in) shows our settings page in its
// frame, and the cabinet is used from there with the session alone — no password, no
// cookies. Screenshots go to test-artifacts/screenshots/cabinet-*.png.
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import type { Browser, Frame } from "playwright-core";
import { randomUUID } from "node:crypto";
import { MerchantSessions } from "../src/merchant/session.ts";
import { join } from "node:path";
import { browserAvailable, launchBrowser, SCREENSHOTS, watchedPage, type Watched } from "./support/browser.ts";
import { MS } from "./support/app.ts";
import { createTestDatabase, type TestDatabase } from "./support/db.ts";
import { moyskladFake, type MoyskladFake } from "./support/moysklad-fake.ts";
import { freePort, spawnService, type Spawned, waitForHttp } from "./support/process.ts";
import { deleteKeys, redisUrl, uniquePrefix } from "./support/redis.ts";
import { sale, saleReturn, waitFor } from "./support/sales.ts";

const ADMIN = "cabinet-browser-admin-token-0123456789";
const run = browserAvailable("cabinet-pages.test.ts");

// The МойСклад app of this deployment, and the account that installs it.
const APP_ID = "3b6a1f2e-8c4d-4e5f-9a0b-1c2d3e4f5a6b";
const APP_UID = "loyalty-cabinet.vendor-test";
const APP_SECRET = "cabinet-vendor-secret-0123456789abcdef";
const SECRETS_KEY = Buffer.alloc(32, 3);
const ACCOUNT = "1c2d3e4f-5061-4728-9394-a5b6c7d8e9f0";
let fake: MoyskladFake;

let db: TestDatabase;
let server: Spawned;
let origin: string;
let prefix: string;
let browser: Browser;
let w: Watched;
let slug: string;
let posKey: string;

const admin = async (method: string, path: string, body?: unknown) => {
  const r = await fetch(`${origin}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: r.status === 204 ? null : await r.json() };
};
const pos = async (method: string, path: string, body?: unknown) => {
  const r = await fetch(`${origin}${MS}${path}`, {
    method,
    headers: { "Lognex-Discount-API-Auth-Token": posKey, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json() };
};

/** "YYYY-MM-DD HH:mm:ss" some days ago, as the POS writes a sale's moment. */
const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 19).replace("T", " ");

describe.skipIf(!run)("the cabinet in a browser", () => {
  beforeAll(async () => {
    db = await createTestDatabase({ max: 2 });
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    prefix = uniquePrefix();
    fake = moyskladFake({ appId: APP_ID, appUid: APP_UID, secret: APP_SECRET });
    fake.catalog(ACCOUNT, [{ id: "f0000000-0000-4000-8000-0000000000b1", name: "Выпечка" }], []);
    server = spawnService(["src/main.ts"], {
      DATABASE_URL: db.url,
      REDIS_URL: await redisUrl(),
      QUEUE_PREFIX: prefix,
      ADMIN_TOKEN: ADMIN,
      PORT: String(port),
      DB_POOL_SIZE: "4",
      WORKER_CONCURRENCY: "2",
      MOYSKLAD_APP_ID: APP_ID,
      MOYSKLAD_APP_UID: APP_UID,
      MOYSKLAD_SECRET_KEY: APP_SECRET,
      MOYSKLAD_VENDOR_API_URL: fake.vendorApiUrl,
      MOYSKLAD_JSON_API_URL: fake.jsonApiUrl,
      PUBLIC_URL: origin,
      SECRETS_KEY: SECRETS_KEY.toString("base64"),
    });
    await waitForHttp(`${origin}/health`, 30_000, server);

    slug = `cab-${process.pid}`;
    const shop = await admin("POST", "/tenants", { slug, name: "Кофейня «Зёрна»" });
    posKey = shop.body.apiToken;
    // A month of trade: members and anonymous buyers, so every chart has something to draw.
    const people = [];
    for (const [i, name] of ["Мария Иванова", "Пётр Смирнов", "Анна Кузнецова", "Олег Попов"].entries()) {
      const c = await pos("POST", "/counterparty", { name, phone: `+7 916 555-00-0${i + 1}`, discountCardNumber: `CARD-${i + 1}`, statusCheck: "IGNORE" });
      people.push(c.body.id as string);
    }
    const ids: string[] = [];
    for (let d = 27; d >= 0; d -= 1) {
      const n = 1 + (d % 3);
      for (let k = 0; k < n; k++) {
        const who = (d + k) % 5 === 4 ? null : people[(d + k) % 4]!;
        const price = 150 + ((d * 37 + k * 91) % 900);
        const r = await pos("POST", "/retaildemand", sale({ customerId: who, lines: [{ id: "coffee", price, quantity: 1 }], cash: price, moment: daysAgo(d) }).body);
        expect(r.status).toBe(201);
        ids.push(r.body.id);
      }
    }
    // A return with no link to its sale: flagged for a person.
    const flagged = await pos("POST", "/retailsalesreturn", saleReturn({ saleId: null, lines: [{ id: "coffee", price: 200, quantity: 1 }] }).body);
    expect(flagged.status).toBe(201);
    await waitFor(
      "sales settled",
      async () => (await db.sql`select count(*)::int as n from document where state = 'settled'`)[0]!.n === ids.length,
      60_000,
    );
    browser = await launchBrowser();
    w = await watchedPage(browser, origin, { httpCredentials: { username: "оператор", password: ADMIN }, viewport: { width: 1280, height: 900 } });
  }, 120_000);

  afterAll(async () => {
    await w?.context.close();
    await browser?.close();
    server?.child.kill("SIGTERM");
    await server?.exited;
    await db?.drop();
    await deleteKeys(await redisUrl(), prefix).catch(() => {});
    fake?.close();
  });

  test("without the admin password the cabinet asks for it and shows nothing", async () => {
    const r = await fetch(`${origin}/cabinet/${slug}`);
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Basic realm="Loyalty cabinet"/);
    expect(await r.text()).not.toContain("Мария");
    const wrong = await fetch(`${origin}/cabinet/${slug}`, { headers: { authorization: `Basic ${Buffer.from("x:wrong-password-123456").toString("base64")}` } });
    expect(wrong.status).toBe(401);
    // A form posted from another site is refused even with the password.
    const cross = await fetch(`${origin}/cabinet/${slug}/customers/00000000-0000-4000-8000-000000000000/erase`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`x:${ADMIN}`).toString("base64")}`, origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" },
      body: "confirm=yes",
    });
    expect(cross.status).toBe(403);
  });

  test("the overview shows the period's totals, four charts and the top customers", async () => {
    const { page } = w;
    await page.goto(`${origin}/cabinet/${slug}`);
    await page.waitForSelector("#chart-sales canvas");
    for (const id of ["chart-sales", "chart-share", "chart-points", "chart-customers"]) {
      expect(await page.locator(`#${id} canvas`).count()).toBeGreaterThan(0);
    }
    expect(await page.textContent("h1")).toBe("Обзор");
    const top = await page.locator("#top tbody tr").allTextContents();
    expect(top.length).toBe(4);
    expect(top.join(" ")).toContain("Мария Иванова");
    await w.shot("cabinet-overview");
    expect(w.offsite).toEqual([]);
    expect(w.broken).toEqual([]);
  }, 60_000);

  test("a customer is found by phone typed in another notation, and points are adjusted with a reason", async () => {
    const { page } = w;
    await page.goto(`${origin}/cabinet/${slug}/customers`);
    await page.fill("#q", "8 (916) 555-00-02");
    await page.waitForFunction(() => document.querySelectorAll("#results tbody tr").length === 1);
    expect(await page.textContent("#results")).toContain("Пётр Смирнов");
    await w.shot("cabinet-customer-search");
    await page.click("#results a");
    await page.waitForSelector("#balance");
    const before = Number((await page.textContent("#balance"))!.replace(/\s/g, ""));
    await page.fill("#points", "250");
    await page.fill("#reason", "Компенсация за задержку заказа");
    await page.click("button:has-text('Провести')");
    await page.waitForSelector(".notice.ok");
    expect(await page.textContent(".notice.ok")).toContain("Баллы изменены");
    expect(Number((await page.textContent("#balance"))!.replace(/\s/g, ""))).toBe(before + 250);
    expect(await page.textContent("#ledger")).toContain("Компенсация за задержку заказа");
    // Too much taken away: the page says why, and nothing changes.
    await page.fill("#points", String(-(before + 1000)));
    await page.fill("#reason", "ошибка");
    await page.click("button:has-text('Провести')");
    await page.waitForSelector(".notice.error");
    expect(await page.textContent(".notice.error")).toContain("Недостаточно баллов");
    expect(Number((await page.textContent("#balance"))!.replace(/\s/g, ""))).toBe(before + 250);
    await w.shot("cabinet-customer-adjusted");
    expect(w.broken.filter((b) => !b.startsWith("400 "))).toEqual([]);
  }, 60_000);

  test("a customer's page shows their level and the way to the next; a new card link kills the old one and says so", async () => {
    const { page } = w;
    expect(
      (await admin("PUT", `/tenants/${slug}/program`, { tiers: [{ name: "Серебро", minPurchases: 1000, earnPercent: 7 }, { name: "Золото", minPurchases: 5000, earnPercent: 10 }] })).status,
    ).toBe(200);
    try {
      const id = (await pos("POST", "/counterparty", { name: "Ольга Уровнева", phone: "+7 916 555-00-07", statusCheck: "IGNORE" })).body.id as string;
      const bought = await pos("POST", "/retaildemand", sale({ customerId: id, lines: [{ id: "coffee", price: 1500, quantity: 1 }], cash: 1500, moment: daysAgo(1) }).body);
      expect(bought.status).toBe(201);
      await waitFor("her sale settled", async () => (await db.sql`select state from document where id = ${bought.body.id}`)[0]!.state === "settled", 60_000);
      const old = (await admin("GET", `/tenants/${slug}/customers/${id}`)).body.qrToken as string;
      expect((await fetch(`${origin}/card/${old}`)).status).toBe(200);

      await page.goto(`${origin}/cabinet/${slug}/customers?q=${encodeURIComponent("8 916 555 00 07")}`);
      await page.click("#results a");
      await page.waitForSelector("#level");
      const level = (await page.textContent("#level"))!.replace(/\s+/g, " ");
      expect(level).toContain("Уровень: Серебро");
      expect(level).toContain("Начисляется 7 % от покупки баллами.");
      expect(level).toContain("До уровня «Золото» осталось купить на 3 500,00 ₽.");

      await page.click("button:has-text('Выдать новую ссылку')");
      await page.waitForSelector("#card-link-issued");
      const notice = (await page.textContent("#card-link-issued"))!.replace(/\s+/g, " ");
      expect(notice).toContain("Старая ссылка и старый QR-код больше не открывают карту");
      expect(notice).toContain("По SMS новая ссылка не отправлялась");
      const fresh = await page.inputValue("#card-link");
      expect(fresh).toMatch(new RegExp(`^${origin}/card/[A-Za-z0-9_-]+$`));
      expect(fresh).not.toContain(old);
      await w.shot("cabinet-customer-level");
      expect((await fetch(`${origin}/card/${old}`)).status).toBe(404);
      expect((await fetch(fresh)).status).toBe(200);
      expect(w.broken.filter((b) => !b.startsWith("400 "))).toEqual([]);
      expect(w.offsite).toEqual([]);
    } finally {
      // The other tests count points at the program's single rate.
      await admin("PUT", `/tenants/${slug}/program`, { tiers: [] });
    }
  }, 120_000);

  test("an uploaded file is imported while the bar moves to 100 %, with the bad row listed", async () => {
    const { page } = w;
    await page.goto(`${origin}/cabinet/${slug}/import`);
    const rows = ["телефон;имя;карта;дата рождения;баланс"];
    // Three chunks of the job: the bar has steps to take.
    for (let i = 0; i < 5_000; i++) rows.push(i === 999 ? "12;Ошибка Телефона;;;5" : `8 917 ${String(i).padStart(7, "0")};Клиент ${i};;01.02.1990;${i % 300}`);
    await page.setInputFiles("#file", { name: "старая программа.csv", mimeType: "text/csv", buffer: Buffer.from(rows.join("\r\n"), "utf8") });
    await page.click("button:has-text('Загрузить')");
    await page.waitForSelector("#progress");
    await page.waitForFunction(
      () => document.querySelector("#percent")?.textContent === "100 %" && !document.querySelector("#progress")?.hasAttribute("hx-get"),
      undefined,
      { timeout: 300_000, polling: 100 },
    );
    await w.shot("cabinet-import-done");
    expect((await page.textContent("#progress"))!.replace(/\s/g, " ")).toContain("Новых покупателей: 4 999.");
    expect(await page.textContent("#progress table")).toContain("1001");
    const width = await page.locator(".progress > div").getAttribute("style");
    expect(width).toContain("100%");
    // The errors file downloads from the page.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Скачать все ошибки (CSV)")]);
    const text = await (await download.createReadStream()).toArray();
    expect(Buffer.concat(text).toString("utf8")).toContain("1001;");
  }, 360_000);

  test("erasing a customer on request: data gone, customer no longer found, balance and ledger kept", async () => {
    const { page } = w;
    await page.goto(`${origin}/cabinet/${slug}/customers?q=${encodeURIComponent("+79165550003")}`);
    await page.click("#results a");
    await page.waitForSelector("#balance");
    const balance = await page.textContent("#balance");
    await page.check("#confirm");
    await page.click("button:has-text('Удалить данные')");
    await page.waitForSelector(".notice.warn");
    expect(await page.textContent(".notice.warn")).toContain("Персональные данные удалены");
    expect(await page.textContent("h1")).toBe("Данные удалены");
    expect(await page.textContent("#balance")).toBe(balance);
    expect(await page.locator("#phone").count()).toBe(0);
    await w.shot("cabinet-customer-erased");
    for (const q of ["+79165550003", "Анна", "CARD-3"]) {
      await page.goto(`${origin}/cabinet/${slug}/customers?q=${encodeURIComponent(q)}`);
      expect(await page.textContent("#results")).toContain("никого не нашлось");
    }
    const found = await admin("GET", `/tenants/${slug}/customers?search=${encodeURIComponent("+79165550003")}`);
    expect(found.body.rows).toEqual([]);
  }, 60_000);

  test("documents by state and certificates: issue, history, block", async () => {
    const { page } = w;
    await page.goto(`${origin}/cabinet/${slug}/documents`);
    expect(await page.locator("#documents tbody tr").count()).toBeGreaterThan(10);
    await w.shot("cabinet-documents");
    await page.click("text=Требуют внимания");
    await page.waitForURL(/filter=attention/);
    expect(await page.locator("#documents tbody tr").count()).toBe(1);
    expect(await page.textContent("#documents")).toContain("Возврат без ссылки на продажу");
    await w.shot("cabinet-documents-attention");
    await page.goto(`${origin}/cabinet/${slug}/certificates`);
    await page.fill("#name", "GC-1001");
    await page.fill("#amount", "1500.50");
    await page.click("button:has-text('Выпустить')");
    await page.waitForSelector(".notice.ok");
    expect((await page.textContent("main"))!.replace(/\s/g, " ")).toContain("1 500,50 ₽");
    await page.fill("#reason", "утерян");
    await page.click("button:has-text('Заблокировать')");
    await page.waitForSelector(".notice.ok");
    expect(await page.textContent("main")).toContain("Заблокирован");
    await w.shot("cabinet-certificate");
    expect(w.offsite).toEqual([]);
  }, 60_000);

  test("a promotion made on the Акции page doubles what the till offers, named on the receipt; ending it stops it", async () => {
    const { page } = w;
    await page.goto(`${origin}/cabinet/${slug}/promotions`);
    expect(await page.textContent("main")).toContain("Акций пока нет");
    // A bad value is refused in words and the form keeps what was typed.
    await page.fill("#name", "Двойные баллы");
    await page.fill("#startsAt", "2020-01-01T00:00");
    await page.fill("#endsAt", "2099-01-01T00:00");
    await page.selectOption("#effect", "multiplier");
    await page.fill("#value", "ноль");
    await page.click("button:has-text('Создать акцию')");
    await page.waitForSelector(".notice.error");
    expect(await page.inputValue("#name")).toBe("Двойные баллы");
    await page.fill("#value", "2");
    await page.click("button:has-text('Создать акцию')");
    await page.waitForSelector(".notice.ok");
    expect(await page.textContent("main")).toContain("баллы ×2");
    expect(await page.textContent("main")).toContain("идёт");
    await w.shot("cabinet-promotions");
    const customer = (await pos("POST", "/counterparty", { phone: "+79165550099", statusCheck: "IGNORE" })).body.id;
    const quote = await pos("POST", "/retaildemand/recalc", {
      agent: { meta: { id: customer } },
      positions: [{ assortment: { meta: { id: "any" } }, quantity: 1, price: 1000 }],
    });
    expect(quote.body.bonusProgram.bonusValueToEarn).toBe(100); // 5 % × 2
    expect(quote.body.bonusProgram.receiptExtraInfo).toContain("Акция: Двойные баллы");
    await page.click("button:has-text('Завершить')");
    await page.waitForSelector(".notice.ok");
    expect(await page.textContent("main")).toContain("завершена");
    const after = await pos("POST", "/retaildemand/recalc", {
      agent: { meta: { id: customer } },
      positions: [{ assortment: { meta: { id: "any" } }, quantity: 1, price: 1000 }],
    });
    expect(after.body.bonusProgram.bonusValueToEarn).toBe(50);
    expect(w.offsite).toEqual([]);
  }, 60_000);

  // ── From inside МойСклад ──────────────────────────────────────────────────────────
  // МойСклад's page around ours: our page in an iframe of another site, grown to the
  // height our page posts (as the Vendor API's main iframe does). The browser context has
  // no password: only the session our settings page starts can open anything.
  const inMoysklad = async (m: Watched, src: string): Promise<Frame> => {
    await m.page.setContent(
      `<!doctype html><html lang="ru"><body style="margin:0;background:#eef0f3">
        <div style="background:#20364f;color:#fff;font:15px sans-serif;padding:12px 16px">МойСклад · Приложения · Программа лояльности</div>
        <iframe name="app" src="${src}" style="display:block;width:100%;height:768px;border:0"></iframe>
        <script>addEventListener("message", (e) => { if (e.data && e.data.height) document.querySelector("iframe").style.height = e.data.height + "px"; });</script>
      </body></html>`,
    );
    return m.page.frame({ name: "app" })!;
  };
  const settingsUrl = (admin: boolean) => `${origin}/moysklad/settings?contextKey=${fake.contextKey(ACCOUNT, admin)}&appId=${APP_ID}&appUid=${APP_UID}`;

  /** Every address a page of ours can go to, and every form it can send, carries the session. */
  async function sessionEverywhere(f: Frame) {
    const bare = await f.evaluate(() => {
      const out: string[] = [];
      for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>("a[href]"))) {
        const u = new URL(a.href);
        if (u.origin === location.origin && !u.pathname.startsWith("/assets/") && !u.searchParams.get("session")) out.push(`link ${u.pathname}${u.search}`);
      }
      for (const e of Array.from(document.querySelectorAll("[hx-get]"))) {
        if (!new URL(e.getAttribute("hx-get")!, location.href).searchParams.get("session")) out.push(`htmx ${e.getAttribute("hx-get")}`);
      }
      for (const form of Array.from(document.querySelectorAll("form"))) if (!form.querySelector('input[name="session"]')?.getAttribute("value")) out.push(`form ${form.getAttribute("action")}`);
      return out;
    });
    expect({ page: new URL(f.url()).pathname, bare }).toEqual({ page: new URL(f.url()).pathname, bare: [] });
  }

  let ms: Watched;
  let app: Frame;
  let msSlug: string;
  let msPos: string;
  let msCustomer: string;

  test("МойСклад shows the settings page in its frame; the admin saves the program in Vladivostok time and opens the cabinet from it", async () => {
    const installed = await fake.lifecycle(origin, "PUT", ACCOUNT, {
      appUid: APP_UID,
      accountName: "bulka",
      cause: "Install",
      access: [{ resource: "https://api.moysklad.ru/api/remap/1.2", scope: ["custom"], access_token: "json-token-bulka" }],
      subscription: { tariffId: randomUUID(), trial: true, notForResale: false, partner: false },
    });
    expect(installed.status).toBe(200);
    msSlug = "bulka";
    ms = await watchedPage(browser, origin, { viewport: { width: 1280, height: 900 } });
    app = await inMoysklad(ms, settingsUrl(true));
    await app.getByText("Настройки программы лояльности").waitFor();
    await app.locator('select[name="p.timezone"]').selectOption("Asia/Vladivostok");
    await app.getByRole("button", { name: "Сохранить и подключить" }).click();
    await app.getByText("Программа подключена к Кассе МойСклад").waitFor();
    await sessionEverywhere(app);
    await ms.shot("cabinet-iframe-settings");
    // The long page scrolled to its middle: the save bar is in sight at the bottom of the
    // window, over the fields; at the end it sits after the last field, covering nothing.
    // The page opened by itself (the session's address): inside the stand-in's frame, which
    // grows to the page's height, the frame never scrolls, so sticky cannot act there.
    const own = await watchedPage(browser, origin, { viewport: { width: 1280, height: 900 } });
    await own.page.goto(`${origin}/moysklad/settings?session=${await app.locator('input[name="session"]').first().inputValue()}`);
    const bar = own.page.locator("#save-bar");
    await own.page.evaluate(() => window.scrollTo(0, (document.documentElement.scrollHeight - innerHeight) / 2));
    const mid = (await bar.boundingBox())!;
    expect(mid.y).toBeGreaterThan(0);
    expect(mid.y + mid.height).toBeLessThanOrEqual(900 + 1);
    expect(await own.page.evaluate(() => scrollY)).toBeGreaterThan(1000);
    await own.page.screenshot({ path: join(SCREENSHOTS, "cabinet-settings-middle.png") });
    await own.page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    const last = (await own.page.locator("form fieldset").last().boundingBox())!;
    expect((await bar.boundingBox())!.y).toBeGreaterThanOrEqual(last.y + last.height);
    await own.page.screenshot({ path: join(SCREENSHOTS, "cabinet-settings-end.png") });
    expect(own.broken).toEqual([]);
    await own.context.close();

    // A week of trade through the till МойСклад was just connected to.
    const till = fake.accounts.get(ACCOUNT)!.loyalty!;
    const pos = async (method: string, path: string, body: unknown) => {
      const r = await fetch(`${till.url}${path}`, { method, headers: { "Lognex-Discount-API-Auth-Token": till.token, "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as any };
    };
    msPos = till.token;
    const people: string[] = [];
    for (const [i, name] of ["Ирина Булочкина", "Семён Багетов", "Алла Круассанова"].entries()) {
      people.push((await pos("POST", "counterparty", { name, phone: `+7 924 700-00-0${i + 1}`, statusCheck: "IGNORE" })).body.id);
    }
    msCustomer = people[1]!;
    const sales: string[] = [];
    for (let d = 6; d >= 0; d -= 1) {
      for (const who of [people[d % 3]!, d % 2 ? null : people[(d + 1) % 3]!]) {
        const price = 120 + d * 45;
        const r = await pos("POST", "retaildemand", sale({ customerId: who, lines: [{ id: "bread", price, quantity: 1 }], cash: price, moment: daysAgo(d) }).body);
        expect(r.status).toBe(201);
        sales.push(r.body.id);
      }
    }
    await waitFor("bakery sales settled", async () => (await db.sql`select count(*)::int as n from document where id = any(${sales}) and state = 'settled'`)[0]!.n === sales.length, 60_000);

    await app.getByRole("link", { name: "Открыть кабинет" }).click();
    await app.waitForURL(new RegExp(`/cabinet/${msSlug}\\?session=`));
    await app.waitForSelector("#chart-sales canvas");
    expect(await app.textContent("h1")).toBe("Обзор");
    expect(await app.textContent("form.period")).toContain("Asia/Vladivostok");
    expect(await app.locator("#top tbody tr").count()).toBe(3);
    await sessionEverywhere(app);
    await ms.shot("cabinet-iframe-overview");
  }, 120_000);

  test("inside the frame, with the session only: pages, search, a form, an import with its bar, a download, and back to the settings", async () => {
    await app.getByRole("link", { name: "Покупатели", exact: true }).click();
    await app.waitForSelector("#q");
    await app.fill("#q", "8 924 700 00 02");
    await app.waitForFunction(() => document.querySelectorAll("#results tbody tr").length === 1);
    expect(await app.textContent("#results")).toContain("Семён Багетов");
    await sessionEverywhere(app); // the rows htmx brought in, too
    await app.click("#results a");
    await app.waitForSelector("#balance");
    const before = Number((await app.textContent("#balance"))!.replace(/\s/g, ""));
    await app.fill("#points", "150");
    await app.fill("#reason", "Подарок ко дню рождения");
    await app.click("button:has-text('Провести')");
    await app.waitForSelector(".notice.ok");
    expect(Number((await app.textContent("#balance"))!.replace(/\s/g, ""))).toBe(before + 150);
    expect(app.url()).toContain("session=");
    await sessionEverywhere(app);
    await ms.shot("cabinet-iframe-customer");

    await app.getByRole("link", { name: "Документы" }).click();
    await app.waitForSelector("#documents");
    await app.getByRole("link", { name: "Проведены", exact: true }).click();
    await app.waitForURL(/filter=settled/);
    expect(await app.locator("#documents tbody tr").count()).toBe(14); // a week, two receipts a day
    await sessionEverywhere(app);

    await app.getByRole("link", { name: "Сертификаты" }).click();
    await app.fill("#name", "BULKA-500");
    await app.fill("#amount", "500");
    await app.fill("#expire", "2027-12-31");
    await app.click("button:has-text('Выпустить')");
    await app.waitForSelector(".notice.ok");
    // The last day is the shop's: 23:59 in Vladivostok.
    const [card] = await db.sql`select expire_at from gift_card where name = 'BULKA-500'`;
    expect((card!.expire_at as Date).toISOString()).toBe("2027-12-31T13:59:59.000Z");
    await sessionEverywhere(app);

    await app.getByRole("link", { name: "Импорт и экспорт" }).click();
    await app.setInputFiles("#file", { name: "старая касса.csv", mimeType: "text/csv", buffer: Buffer.from("телефон;имя;баланс\r\n+7 924 700-00-09;Зоя Пряникова;300\r\nне телефон;Ошибка;5\r\n", "utf8") });
    await app.click("button:has-text('Загрузить')");
    await app.waitForSelector("#progress");
    await app.waitForFunction(() => document.querySelector("#percent")?.textContent === "100 %" && !document.querySelector("#progress")?.hasAttribute("hx-get"), undefined, { timeout: 120_000, polling: 100 });
    expect((await app.textContent("#progress"))!.replace(/\s/g, " ")).toContain("Новых покупателей: 1.");
    await sessionEverywhere(app);
    await ms.shot("cabinet-iframe-import");
    const [errors] = await Promise.all([ms.page.waitForEvent("download"), app.click("text=Скачать все ошибки (CSV)")]);
    expect(Buffer.concat(await (await errors.createReadStream()).toArray()).toString("utf8")).toContain("3;");
    await app.getByRole("link", { name: "← Импорт и экспорт" }).click();
    const [download] = await Promise.all([ms.page.waitForEvent("download"), app.getByRole("link", { name: "Покупатели", exact: true }).last().click()]);
    const csv = Buffer.concat(await (await download.createReadStream()).toArray()).toString("utf8");
    for (const name of ["Ирина Булочкина", "Семён Багетов", "Алла Круассанова", "Зоя Пряникова"]) expect(csv).toContain(name);

    // A cake paid 5,000 ₽ in points, more than Семён had: the till gave the discount, we
    // posted what he had, the rest waits. The admin decides it here: «Провести», confirmed.
    const till = fake.accounts.get(ACCOUNT)!.loyalty!;
    const cake = sale({ customerId: msCustomer, lines: [{ id: "cake", price: 9000, quantity: 1, discountedPrice: 4000 }], cash: 4000, spend: 5000, moment: daysAgo(0) });
    const sold = await fetch(`${till.url}retaildemand`, { method: "POST", headers: { "Lognex-Discount-API-Auth-Token": till.token, "content-type": "application/json" }, body: JSON.stringify(cake.body) });
    expect(sold.status).toBe(201);
    const cakeId = ((await sold.json()) as { id: string }).id;
    await waitFor("the cake settled", async () => (await db.sql`select state from document where id = ${cakeId}`)[0]?.state === "settled", 60_000);
    const [{ held_spend_points: held }] = (await db.sql`select held_spend_points from document where id = ${cakeId}`) as unknown as [{ held_spend_points: number }];
    expect(held).toBeGreaterThan(4000);
    await app.getByRole("link", { name: "Документы", exact: true }).click();
    await app.getByRole("link", { name: "Решить" }).first().click();
    await app.getByText("Почему:").first().waitFor();
    await app.fill("#note", "кассир подтвердил");
    await app.getByRole("button", { name: "Провести", exact: true }).click();
    await app.getByRole("button", { name: "Да, провести" }).waitFor();
    await sessionEverywhere(app);
    await ms.shot("cabinet-iframe-hold-confirm");
    // Nothing is written until confirmed.
    expect((await db.sql`select hold_decision from document where id = ${cakeId}`)[0]!.hold_decision).toBeNull();
    await Promise.all([app.waitForURL(/done=hold-approved/), app.getByRole("button", { name: "Да, провести" }).click()]);
    await app.getByText("Проведено").first().waitFor();
    await sessionEverywhere(app);
    // The frame's new page painted (two animation frames) before the picture is taken.
    await app.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
    expect(await app.textContent("main")).toContain("Проведено");
    await ms.shot("cabinet-iframe-hold-decided");
    const approved = await db.sql`select points from ledger_entry where idempotency_key = ${`sale:${cakeId}:spend-approved`}`;
    expect(approved.map((e) => Number(e.points))).toEqual([-held]);
    const [sums] = await db.sql`
      select c.balance::int as balance, (select coalesce(sum(points), 0)::int from ledger_entry e where e.customer_id = c.id and e.released_at is not null) as ledger
      from customer c where c.id = ${msCustomer}`;
    expect(sums!.balance).toBe(sums!.ledger);

    await app.getByRole("link", { name: "Настройки программы" }).click();
    await app.getByText("Настройки программы лояльности").waitFor();
    expect(await app.locator('select[name="p.timezone"]').inputValue()).toBe("Asia/Vladivostok");
    await sessionEverywhere(app);
    expect(ms.offsite).toEqual([]);
    expect(ms.broken).toEqual([]);
    await ms.context.close();
  }, 180_000);

  test("an employee without admin rights looks through the cabinet but changes nothing, even by posting the form", async () => {
    const viewer = await watchedPage(browser, origin, { viewport: { width: 1280, height: 900 } });
    const f = await inMoysklad(viewer, settingsUrl(false));
    await f.getByText("Вы можете только смотреть настройки").waitFor();
    await f.getByRole("link", { name: "Открыть кабинет" }).click();
    await f.waitForSelector("#chart-sales canvas");
    await f.getByText("Вы можете только смотреть: менять данные может администратор аккаунта МойСклад.").waitFor();
    await f.getByRole("link", { name: "Покупатели", exact: true }).click();
    await f.fill("#q", "Семён");
    await f.waitForFunction(() => document.querySelectorAll("#results tbody tr").length === 1);
    await f.click("#results a");
    await f.waitForSelector("#balance");
    expect(await f.locator("#points").count()).toBe(0);
    expect(await f.locator("form[method=post]").count()).toBe(0);
    await sessionEverywhere(f);
    await viewer.shot("cabinet-iframe-viewer");
    await f.getByRole("link", { name: "Сертификаты" }).click();
    await f.waitForSelector("h1");
    expect(await f.locator("#amount").count()).toBe(0);
    expect(viewer.broken).toEqual([]);

    const session = new URL(f.url()).searchParams.get("session")!;
    const balance = async () => (await db.sql`select balance from customer where id = ${msCustomer}`)[0]!.balance as number;
    const before = await balance();
    const r = await fetch(`${origin}/cabinet/${msSlug}/customers/${msCustomer}/adjust`, { method: "POST", body: new URLSearchParams({ session, points: "5000", reason: "себе", key: randomUUID() }) });
    expect(r.status).toBe(403);
    expect(await r.text()).toContain("Ничего не изменено: менять данные может только администратор аккаунта МойСклад.");
    expect(await balance()).toBe(before);
    await viewer.context.close();
  }, 60_000);

  test("a forged, expired or missing session gets a page in words, never a password prompt; a session opens only its own shop", async () => {
    const [tenant] = await db.sql`select id from tenant where slug = ${msSlug}`;
    const claims = { tenantId: tenant!.id as string, accountId: ACCOUNT, userId: randomUUID(), role: "admin" as const };
    const forged = await new MerchantSessions(Buffer.alloc(32, 9)).issue(claims);
    const expired = await new MerchantSessions(SECRETS_KEY).issue(claims, -10);
    const w2 = await watchedPage(browser, origin, { viewport: { width: 1000, height: 700 }, allowStatuses: [401] });
    let f = await inMoysklad(w2, `${origin}/cabinet/${msSlug}/customers?session=${forged}`);
    await f.getByText("Сеанс истёк или недействителен. Откройте приложение в МойСклад заново.").waitFor();
    expect(await f.textContent("body")).not.toContain("Багетов");
    await w2.shot("cabinet-iframe-forged-session");
    // A cabinet address that lost its session, opened in the frame: told what to do.
    f = await inMoysklad(w2, `${origin}/cabinet/${msSlug}`);
    await f.getByText("Нет сеанса. Откройте приложение в МойСклад заново.").waitFor();
    await w2.context.close();

    for (const [what, url, status, words] of [
      ["forged", `/cabinet/${msSlug}?session=${forged}`, 401, "Сеанс истёк или недействителен"],
      ["expired", `/cabinet/${msSlug}/import?session=${expired}`, 401, "Сеанс истёк или недействителен"],
      ["another shop", `/cabinet/${slug}?session=${await new MerchantSessions(SECRETS_KEY).issue(claims)}`, 403, "другого магазина"],
      ["settings, expired", `/moysklad/settings?session=${expired}`, 401, "Сеанс истёк или недействителен"],
    ] as const) {
      const r = await fetch(`${origin}${url}`);
      expect({ what, status: r.status, prompt: r.headers.get("www-authenticate") }).toEqual({ what, status, prompt: null });
      expect(await r.text()).toContain(words);
    }
  }, 60_000);
});
