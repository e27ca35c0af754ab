// The cabinet in a real browser against the real server process (API and workers): the
// overview with its charts, finding a customer by phone, adjusting points, importing a
// file while the bar moves to 100 %, erasing a customer; plus documents and certificates.
// Screenshots go to test-artifacts/screenshots/cabinet-*.png.
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import type { Browser } from "playwright-core";
import { browserAvailable, launchBrowser, watchedPage, type Watched } from "./support/browser.ts";
import { MS } from "./support/app.ts";
import { createTestDatabase, type TestDatabase } from "./support/db.ts";
import { freePort, spawnService, type Spawned, waitForHttp } from "./support/process.ts";
import { deleteKeys, redisUrl, uniquePrefix } from "./support/redis.ts";
import { sale, saleReturn, waitFor } from "./support/sales.ts";

const ADMIN = "cabinet-browser-admin-token-0123456789";
const run = browserAvailable("cabinet-pages.test.ts");

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
    server = spawnService(["src/main.ts"], {
      DATABASE_URL: db.url,
      REDIS_URL: await redisUrl(),
      QUEUE_PREFIX: prefix,
      ADMIN_TOKEN: ADMIN,
      PORT: String(port),
      DB_POOL_SIZE: "4",
      WORKER_CONCURRENCY: "2",
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
});
