// Install from the МойСклад app catalog, end to end against a loopback stand-in of
// apps-api and the JSON API: lifecycle calls with their tokens checked, the settings page
// in headless Chromium, excluded goods by product group, the one-click connection, and the
// POS served (or told why not) through suspend, resume and uninstall.
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { randomUUID } from "node:crypto";
import { createApp } from "../src/app.ts";
import { type MoyskladConfig, loadConfig } from "../src/config.ts";
import type { AppDeps } from "../src/deps.ts";
import { TenantDirectory } from "../src/loyalty/tenants.ts";
import { MerchantSessions } from "../src/merchant/session.ts";
import { eraseDuePersonalData, findInstall, jsonToken } from "../src/moysklad/install.ts";
import { decryptSecret } from "../src/secrets.ts";
import { ADMIN_TOKEN } from "./support/app.ts";
import { browserAvailable, launchBrowser, watchedPage } from "./support/browser.ts";
import { createTestDatabase, type TestDatabase } from "./support/db.ts";
import { moyskladFake, type MoyskladFake, unsignedToken } from "./support/moysklad-fake.ts";
import { serveLoopback } from "./support/runtime.ts";

const APP_ID = "3b6a1f2e-8c4d-4e5f-9a0b-1c2d3e4f5a6b";
const APP_UID = "loyalty-test.vendor-test";
const SECRET = "test-vendor-secret-0123456789abcdef";
const SECRETS_KEY = Buffer.alloc(32, 7);

const ACCOUNT = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";
const FOLDER_DRINKS = "f0000000-0000-4000-8000-000000000001";
const FOLDER_TOBACCO = "f0000000-0000-4000-8000-000000000002";
const FOLDER_CIGARS = "f0000000-0000-4000-8000-000000000003"; // inside tobacco
const TEA = "a0000000-0000-4000-8000-000000000001";
const CIGARETTES = "a0000000-0000-4000-8000-000000000002";
const CIGAR = "a0000000-0000-4000-8000-000000000003";
const CIGAR_BOX = "a0000000-0000-4000-8000-000000000004"; // a variant of the cigar

let db: TestDatabase;
let fake: MoyskladFake;
let server: ReturnType<typeof serveLoopback>;
let origin: string;
let cfg: MoyskladConfig;
let deps: AppDeps;

const installBody = (token: string, cause = "Install") => ({
  appUid: APP_UID,
  accountName: "Чайная лавка shop1",
  cause,
  access: [{ resource: "https://api.moysklad.ru/api/remap/1.2", scope: ["custom"], access_token: token }],
  subscription: { tariffId: randomUUID(), trial: true, notForResale: false, partner: false },
});

const tenantCount = async () => (await db.sql`select count(*)::int as n from tenant`)[0]!.n as number;

async function pos(url: string, key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(new URL(path, url), {
    method,
    headers: { "Lognex-Discount-API-Auth-Token": key, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as any };
}

const position = (id: string, price: number, type = "product") => ({
  assortment: { meta: { href: `https://api.moysklad.ru/api/remap/1.2/entity/${type}/${id}`, id, type } },
  price,
  quantity: 1,
});

beforeAll(async () => {
  db = await createTestDatabase({ max: 4 });
  fake = moyskladFake({ appId: APP_ID, appUid: APP_UID, secret: SECRET });
  // Listening first: the app's config names its own address.
  let app: ReturnType<typeof createApp>;
  server = serveLoopback((request) => app.fetch(request));
  origin = server.url;
  cfg = {
    appId: APP_ID,
    appUid: APP_UID,
    secretKey: SECRET,
    vendorApiUrl: fake.vendorApiUrl,
    jsonApiUrl: fake.jsonApiUrl,
    publicUrl: origin,
    secretsKey: SECRETS_KEY,
  };
  deps = { config: { ...loadConfig({}), adminToken: ADMIN_TOKEN, databaseUrl: db.url, moysklad: cfg }, sql: db.sql, tenants: new TenantDirectory(db.sql, 0) };
  app = createApp(deps);
  fake.catalog(
    ACCOUNT,
    [
      { id: FOLDER_DRINKS, name: "Напитки" },
      { id: FOLDER_TOBACCO, name: "Табак" },
      { id: FOLDER_CIGARS, name: "Сигары", parentId: FOLDER_TOBACCO },
    ],
    [
      { id: TEA, name: "Чай", type: "product", folderId: FOLDER_DRINKS },
      { id: CIGARETTES, name: "Сигареты", type: "product", folderId: FOLDER_TOBACCO },
      { id: CIGAR, name: "Сигара", type: "product", folderId: FOLDER_CIGARS },
      { id: CIGAR_BOX, name: "Сигара (коробка)", type: "variant", productId: CIGAR },
    ],
  );
});

afterAll(async () => {
  server?.stop();
  fake?.close();
  await db?.drop();
});

describe("without MOYSKLAD_* configuration", () => {
  test("the vendor routes, the settings page and the descriptor answer 404; the rest works", async () => {
    const app = createApp({ ...deps, config: { ...deps.config, moysklad: null } });
    for (const [method, path] of [
      ["PUT", `/api/moysklad/vendor/1.0/apps/${APP_ID}/${ACCOUNT}`],
      ["DELETE", `/api/moysklad/vendor/1.0/apps/${APP_ID}/${ACCOUNT}`],
      ["GET", "/moysklad/settings?contextKey=x"],
      ["GET", "/moysklad/descriptor.xml"],
    ]) {
      const r = await app.handle(new Request(`http://loyalty.test${path}`, { method, headers: { authorization: `Bearer ${await fake.token()}` } }));
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
    }
    expect((await app.handle(new Request("http://loyalty.test/health/live"))).status).toBeLessThan(500);
  });

  test("a half-configured app stops the start with a line naming what is missing", () => {
    expect(() => loadConfig({ MOYSKLAD_APP_ID: APP_ID })).toThrow(/MOYSKLAD_APP_UID.*SECRETS_KEY/);
    expect(() => loadConfig({ MOYSKLAD_APP_ID: APP_ID, MOYSKLAD_APP_UID: APP_UID, MOYSKLAD_SECRET_KEY: SECRET, PUBLIC_URL: origin, SECRETS_KEY: "short" })).toThrow(/SECRETS_KEY must be 32 bytes/);
    const ok = loadConfig({ MOYSKLAD_APP_ID: APP_ID, MOYSKLAD_APP_UID: APP_UID, MOYSKLAD_SECRET_KEY: SECRET, PUBLIC_URL: origin + "/", SECRETS_KEY: SECRETS_KEY.toString("base64") });
    expect(ok.moysklad).toMatchObject({ appId: APP_ID, publicUrl: origin, vendorApiUrl: "https://apps-api.moysklad.ru/api/vendor/1.0" });
  });
});

describe("tokens from МойСклад", () => {
  const vendorPut = (token: string) =>
    fetch(`${origin}/api/moysklad/vendor/1.0/apps/${APP_ID}/${ACCOUNT}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(installBody("json-token-1")),
    });

  test("forged, expired, alg:none, missing and replayed tokens are refused with 401 and change nothing", async () => {
    const now = Math.floor(Date.now() / 1000);
    const replayed = await fake.token();
    // Used once, on a harmless call, so its second use is a replay.
    expect((await fetch(`${origin}/api/moysklad/vendor/1.0/apps/${APP_ID}/${randomUUID()}`, { headers: { authorization: `Bearer ${replayed}` } })).status).toBe(404);
    const cases: [string, string][] = [
      ["forged", await fake.token({ secret: "another-secret-of-somebody-else" })],
      ["expired", await fake.token({ iat: now - 600, exp: now - 300 })],
      ["alg none", unsignedToken()],
      ["garbage", "not.a.jwt"],
      ["replayed", replayed],
    ];
    for (const [what, token] of cases) {
      const r = await vendorPut(token);
      expect({ what, status: r.status }).toEqual({ what, status: 401 });
      const body: any = await r.json();
      expect(body.errors[0].code).toBe(40101);
    }
    const none = await fetch(`${origin}/api/moysklad/vendor/1.0/apps/${APP_ID}/${ACCOUNT}`, { method: "PUT", body: "{}" });
    expect(none.status).toBe(401);
    expect(await tenantCount()).toBe(0);
  });

  test("another app's id is not ours: 404", async () => {
    const r = await fetch(`${origin}/api/moysklad/vendor/1.0/apps/${randomUUID()}/${ACCOUNT}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${await fake.token()}`, "content-type": "application/json" },
      body: JSON.stringify(installBody("x")),
    });
    expect(r.status).toBe(404);
    expect(await tenantCount()).toBe(0);
  });
});

describe("install → settings page → connection → POS → suspend → resume → uninstall", () => {
  let posKey = "";
  let posUrl = "";
  let customerId = "";

  test("Install answers SettingsRequired; a retried install changes nothing; the JSON API token is encrypted at rest", async () => {
    const first = await fake.lifecycle(origin, "PUT", ACCOUNT, installBody("json-token-1"), { requestId: "req-1" });
    expect(first).toEqual({ status: 200, text: JSON.stringify({ status: "SettingsRequired" }) });
    const [before] = await db.sql`select t.id, t.slug, t.name, t.api_key_hash, i.json_token_enc from tenant t join moysklad_install i on i.tenant_id = t.id`;
    const again = await fake.lifecycle(origin, "PUT", ACCOUNT, installBody("json-token-1"), { requestId: "req-1" });
    expect(again).toEqual(first);
    expect(await tenantCount()).toBe(1);
    const [after] = await db.sql`select t.id, t.slug, t.name, t.api_key_hash from tenant t`;
    expect({ id: after!.id, slug: after!.slug, name: after!.name, key: Buffer.from(after!.api_key_hash).toString("hex") }).toEqual({
      id: before!.id,
      slug: before!.slug,
      name: before!.name,
      key: Buffer.from(before!.api_key_hash).toString("hex"),
    });
    expect(before!.slug).toBe("shop1");
    const sealed = Buffer.from(before!.json_token_enc);
    expect(sealed.includes(Buffer.from("json-token-1"))).toBe(false);
    expect(decryptSecret(SECRETS_KEY, sealed, `moysklad-json-token:${before!.id}`)).toBe("json-token-1");
    expect(() => decryptSecret(Buffer.alloc(32, 8), sealed, `moysklad-json-token:${before!.id}`)).toThrow();
    // The POS cannot use the tenant yet: it has no key until the first save.
    const legacy = await fake.lifecycle(origin, "GET", ACCOUNT);
    expect(legacy.status).toBe(200);
    expect(JSON.parse(legacy.text)).toEqual({ status: "SettingsRequired" });
  });

  test("the descriptor names this deployment", async () => {
    const r = await fetch(`${origin}/moysklad/descriptor.xml`);
    expect(r.headers.get("content-type")).toContain("xml");
    const xml = await r.text();
    expect(xml).toContain(`<endpointBase>${origin}</endpointBase>`);
    expect(xml).toContain(`sourceUrl="${origin}/moysklad/settings"`);
    expect(xml).toContain("<loyaltyApi/>");
    expect(xml).toMatch(/<scope>custom<\/scope>\s*<permissions>\s*<good><view\/><\/good>\s*<\/permissions>/);
  });

  test("the settings page refuses an unknown or expired contextKey, and a key of an account without an install", async () => {
    const unknown = await fetch(`${origin}/moysklad/settings?contextKey=nope&appId=${APP_ID}&appUid=${APP_UID}`);
    expect(unknown.status).toBe(401);
    expect(await unknown.text()).toContain("Ссылка устарела");
    const other = await fetch(`${origin}/moysklad/settings?contextKey=${fake.contextKey(randomUUID(), true)}`);
    expect(other.status).toBe(403);
    expect(await other.text()).toContain("не установлено");
    const noKey = await fetch(`${origin}/moysklad/settings`);
    expect(noKey.status).toBe(400);
  });

  test.skipIf(!browserAvailable("moysklad-app"))(
    "the admin opens the settings page, excludes a product group and saves: МойСклад gets the registration and Activated",
    async () => {
      const browser = await launchBrowser();
      try {
        const w = await watchedPage(browser, origin, { viewport: { width: 1000, height: 768 }, allowStatuses: [400] });
        await w.page.goto(`${origin}/moysklad/settings?contextKey=${fake.contextKey(ACCOUNT, true)}&appId=${APP_ID}&appUid=${APP_UID}&userLocale=ru_RU`);
        await w.page.getByText("Настройки программы лояльности").waitFor();
        // The catalog was read with the install's token on first open.
        await w.page.getByText("Табак / Сигары").waitFor();
        expect(await w.page.getByText("Не подключено").count()).toBe(1);
        expect(await w.page.locator('input[name="p.earnPercent"]').inputValue()).toBe("5");
        expect(await w.page.getByText("По умолчанию: 5").count()).toBeGreaterThan(0);
        await w.shot("moysklad-settings-first-open");

        // A mistake is explained in words and nothing is saved.
        await w.page.locator('input[name="p.earnPercent"]').fill("150");
        await w.page.getByRole("button", { name: "Сохранить и подключить" }).click();
        await w.page.getByText("Не сохранено").waitFor();
        expect(await w.page.getByRole("alert").innerText()).toContain("Сколько процентов от покупки начислять баллами");
        // What was typed stays in the form, marked, so the merchant sees what to fix.
        expect(await w.page.locator('input[name="p.earnPercent"]').inputValue()).toBe("150");
        expect(await w.page.locator('input[name="p.earnPercent"]').getAttribute("aria-invalid")).toBe("true");
        expect((await deps.tenants.requireBySlug("shop1")).program.settings.earnPercent).toBe(5);
        await w.shot("moysklad-settings-error");
        expect(fake.accounts.get(ACCOUNT)!.loyalty).toBeNull();

        // A rule the schema cannot say comes back with the form's words, not the API's field name.
        await w.page.locator('input[name="p.earnPercent"]').fill("5,555");
        await w.page.getByRole("button", { name: "Сохранить и подключить" }).click();
        await w.page.getByText("Не сохранено").waitFor();
        const decimals = await w.page.getByRole("alert").innerText();
        expect(decimals).toContain("Сколько процентов от покупки начислять баллами: не более 2 знаков после запятой");
        expect(decimals).not.toContain("earnPercent");

        // МойСклад refuses the registration: the settings are kept and the page says why, in words.
        fake.failNext(`/apps/${APP_ID}/${ACCOUNT}/loyalty`, 400, 1, { error: "Приложение не поддерживает Loyalty API", code: 2006 });
        await w.page.locator('input[name="p.earnPercent"]').fill("10");
        await w.page.getByRole("button", { name: "Сохранить и подключить" }).click();
        await w.page.getByText("Не удалось подключить программу к Кассе МойСклад").waitFor();
        expect(await w.page.getByText("Настройки сохранены.").count()).toBe(1);
        expect(await w.page.getByText("Ответ МойСклад: МойСклад отклонил запрос: Приложение не поддерживает Loyalty API").count()).toBe(1);
        expect(await w.page.getByText("Не подключено").count()).toBe(1);
        expect((await deps.tenants.requireBySlug("shop1")).program.settings.earnPercent).toBe(10);
        expect(fake.accounts.get(ACCOUNT)!.status).toBe("SettingsRequired");
        await w.shot("moysklad-settings-refused-by-moysklad");

        // Levels are set in the same form: a row of the table is a level (blank rows are left out).
        await w.page.getByLabel("Название уровня, строка 1").fill("Серебро");
        await w.page.getByLabel("Покупки от, ₽, строка 1").fill("10 000");
        await w.page.getByLabel("Начислять, % от покупки, строка 1").fill("7,5");
        await w.page.getByLabel("Часовой пояс магазина").selectOption({ label: "Екатеринбург, Пермь, Уфа, Челябинск (МСК+2)" });
        await w.page.getByLabel("Табак", { exact: false }).first().check();
        await w.page.getByRole("button", { name: "Сохранить и подключить" }).click();
        await w.page.getByText("Программа подключена к Кассе МойСклад").waitFor();
        const saved = (await deps.tenants.requireBySlug("shop1")).program.settings;
        expect(saved.tiers).toEqual([{ name: "Серебро", minPurchases: 10000, earnPercent: 7.5 }]);
        expect(saved.timezone).toBe("Asia/Yekaterinburg");
        expect(await w.page.getByLabel("Название уровня, строка 1").inputValue()).toBe("Серебро");
        expect(await w.page.getByText("Подключено", { exact: true }).count()).toBe(1);
        expect(await w.page.locator('input[name="p.earnPercent"]').inputValue()).toBe("10");
        await w.shot("moysklad-settings-connected");
        expect(w.offsite).toEqual([]);
        expect(w.broken).toEqual([]);
        await w.context.close();
      } finally {
        await browser.close();
      }
      const account = fake.accounts.get(ACCOUNT)!;
      expect(account.status).toBe("Activated");
      expect(account.loyalty).toMatchObject({ url: `${origin}/rest/integration/moysklad/v1/`, externalSearch: true });
      posKey = account.loyalty!.token;
      posUrl = account.loyalty!.url;
      expect(posKey.length).toBeGreaterThan(20);
      // Our order: save → PUT /loyalty → PUT status; our tokens were all accepted.
      const ours = fake.requests.filter((r) => r.path.includes(`/apps/${APP_ID}/${ACCOUNT}/`));
      expect(ours.map((r) => `${r.method} ${r.path.split("/").pop()} ${r.refused ?? "ok"}`)).toEqual(["PUT loyalty failNext 400", "PUT loyalty ok", "PUT status ok"]);
      expect(ours[2]!.body).toEqual({ status: "Activated" });
      expect(fake.requests.filter((r) => r.refused && r.refused !== "unknown key" && r.path.includes("/context/"))).toEqual([]);
    },
    60_000,
  );

  test("the POS, with the registered address and key, registers a customer; goods of the excluded group (and its subgroups) earn nothing", async () => {
    expect(posKey).not.toBe("");
    const c = await pos(posUrl, posKey, "POST", "counterparty", { phone: "+79031234567", name: "Анна", statusCheck: "IGNORE" });
    expect(c.status).toBe(201);
    customerId = c.body.id;
    const r = await pos(posUrl, posKey, "POST", "retaildemand/recalc", {
      agent: { meta: { id: customerId } },
      positions: [position(TEA, 100), position(CIGARETTES, 300), position(CIGAR, 500), position(CIGAR_BOX, 700, "variant")],
      bonusProgram: { transactionType: "EARNING" },
    });
    expect(r.status).toBe(200);
    // 10 % of the tea only.
    expect(r.body.bonusProgram.bonusValueToEarn).toBe(10);
  });

  test("a viewer sees the page read-only and cannot save, even by posting the form", async () => {
    const res = await fetch(`${origin}/moysklad/settings?contextKey=${fake.contextKey(ACCOUNT, false)}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("Вы можете только смотреть настройки");
    expect(html).not.toContain("Сохранить");
    const session = /name="session" value="([^"]+)"/.exec(html)![1]!;
    const post = await fetch(`${origin}/moysklad/settings`, { method: "POST", body: new URLSearchParams({ session, "p.earnPercent": "50" }) });
    expect(post.status).toBe(403);
    expect((await deps.tenants.requireBySlug("shop1")).program.settings.earnPercent).toBe(10);
    if (browserAvailable("moysklad-app")) {
      const browser = await launchBrowser();
      try {
        const w = await watchedPage(browser, origin, { viewport: { width: 1000, height: 768 } });
        await w.page.goto(`${origin}/moysklad/settings?contextKey=${fake.contextKey(ACCOUNT, false)}`);
        await w.page.getByText("Вы можете только смотреть настройки").waitFor();
        expect(await w.page.locator('input[name="p.earnPercent"]').getAttribute("readonly")).not.toBeNull();
        expect(await w.page.getByRole("button").count()).toBe(0);
        await w.shot("moysklad-settings-viewer");
        expect(w.offsite).toEqual([]);
        await w.context.close();
      } finally {
        await browser.close();
      }
    }
  }, 60_000);

  test("a forged or expired session is refused in words", async () => {
    const [t] = await db.sql`select id from tenant`;
    const forged = await new MerchantSessions(Buffer.alloc(32, 9)).issue({ tenantId: t!.id, accountId: ACCOUNT, userId: "x", role: "admin" });
    const expired = await new MerchantSessions(SECRETS_KEY).issue({ tenantId: t!.id, accountId: ACCOUNT, userId: "x", role: "admin" }, -10);
    for (const session of [forged, expired, "", "garbage"]) {
      const r = await fetch(`${origin}/moysklad/settings`, { method: "POST", body: new URLSearchParams({ session, "p.earnPercent": "50" }) });
      expect(r.status).toBe(401);
      expect(await r.text()).toMatch(/Сеанс истёк|Нет сеанса/);
    }
    expect((await deps.tenants.requireBySlug("shop1")).program.settings.earnPercent).toBe(10);
  });

  test("the refresh button reads the catalog again: a good added to an excluded group stops earning", async () => {
    const NEW_CIGAR = "a0000000-0000-4000-8000-000000000099";
    const account = fake.accounts.get(ACCOUNT)!;
    account.goods.push({ id: NEW_CIGAR, name: "Новая сигара", type: "product", folderId: FOLDER_CIGARS });
    const page = await (await fetch(`${origin}/moysklad/settings?contextKey=${fake.contextKey(ACCOUNT, true)}`)).text();
    const session = /name="session" value="([^"]+)"/.exec(page)![1]!;
    const r = await fetch(`${origin}/moysklad/settings/catalog`, { method: "POST", body: new URLSearchParams({ session }) });
    expect(r.status).toBe(200);
    expect(await r.text()).toContain("Группы обновлены из МойСклад: 3 группы, 5 товаров");
    const recalc = await pos(posUrl, posKey, "POST", "retaildemand/recalc", { agent: { meta: { id: customerId } }, positions: [position(NEW_CIGAR, 1000), position(TEA, 200)] });
    expect(recalc.body.bonusProgram.bonusValueToEarn).toBe(20);
  });

  test("a level without its purchases sum, or two levels with one sum, are refused in words and change nothing", async () => {
    const page = await (await fetch(`${origin}/moysklad/settings?contextKey=${fake.contextKey(ACCOUNT, true)}`)).text();
    const session = /name="session" value="([^"]+)"/.exec(page)![1]!;
    const save = (rows: Record<string, string>) => fetch(`${origin}/moysklad/settings`, { method: "POST", body: new URLSearchParams({ session, folder: FOLDER_TOBACCO, "t.rows": "3", ...rows }) });
    const noSum = await save({ "t.0.name": "Серебро", "t.0.minPurchases": "10000", "t.2.name": "Золото" });
    expect(noSum.status).toBe(400);
    expect(await noSum.text()).toContain("строка 3: укажите, от какой суммы покупок (в рублях) действует уровень");
    const twice = await save({ "t.0.name": "Серебро", "t.0.minPurchases": "10000", "t.1.name": "Золото", "t.1.minPurchases": "10 000" });
    expect(twice.status).toBe(400);
    expect(await twice.text()).toContain("у уровней «Серебро» и «Золото» одна и та же сумма покупок");
    const tooMuch = await save({ "t.0.name": "Серебро", "t.0.minPurchases": "10000", "t.0.earnPercent": "150" });
    expect(tooMuch.status).toBe(400);
    expect(await tooMuch.text()).toContain("«Начислять, % от покупки»: значение должно быть не меньше 0, не больше 100");
    expect((await deps.tenants.requireBySlug("shop1")).program.settings.tiers).toEqual([{ name: "Серебро", minPurchases: 10000, earnPercent: 7.5 }]);
    // Rows given in any order are kept by the sum; an emptied row removes its level.
    const sorted = await save({ "t.0.name": "Золото", "t.0.minPurchases": "50000", "t.1.name": "Серебро", "t.1.minPurchases": "10000" });
    expect(sorted.status).toBe(200);
    expect((await deps.tenants.requireBySlug("shop1")).program.settings.tiers).toEqual([
      { name: "Серебро", minPurchases: 10000 },
      { name: "Золото", minPurchases: 50000 },
    ]);
    expect((await save({})).status).toBe(200);
    expect((await deps.tenants.requireBySlug("shop1")).program.settings.tiers).toEqual([]);
  });

  test("TariffChanged keeps the token; Suspend: the POS is told in Russian; Resume brings it back with the new token", async () => {
    const [t] = await db.sql`select id from tenant`;
    const tariff = await fake.lifecycle(origin, "PUT", ACCOUNT, { appUid: APP_UID, accountName: "Чайная лавка shop1", cause: "TariffChanged", subscription: { tariffId: randomUUID(), trial: false } });
    expect(JSON.parse(tariff.text)).toEqual({ status: "Activated" });
    const install = (await findInstall(db.sql, APP_ID, ACCOUNT))!;
    expect(jsonToken(cfg, install)).toBe("json-token-1");
    expect(install.last_cause).toBe("TariffChanged");
    const renewed = { tariffId: randomUUID(), trial: false, expiryMoment: "2031-01-01T00:00:00+03:00" };
    const prolong = await fake.lifecycle(origin, "PUT", ACCOUNT, { appUid: APP_UID, accountName: "Чайная лавка shop1", cause: "Autoprolongation", subscription: renewed });
    expect(JSON.parse(prolong.text)).toEqual({ status: "Activated" });
    const [recorded] = await db.sql`select last_cause, subscription from moysklad_install where account_id = ${ACCOUNT}`;
    expect(recorded).toEqual({ last_cause: "Autoprolongation", subscription: renewed });
    expect(jsonToken(cfg, (await findInstall(db.sql, APP_ID, ACCOUNT))!)).toBe("json-token-1");

    const suspend = await fake.lifecycle(origin, "DELETE", ACCOUNT, { appUid: APP_UID, accountName: "x", cause: "Suspend" });
    expect(suspend.status).toBe(200);
    expect((await fake.lifecycle(origin, "DELETE", ACCOUNT, { appUid: APP_UID, accountName: "x", cause: "Suspend" })).status).toBe(204);
    const told = await pos(posUrl, posKey, "POST", "retaildemand/recalc", { agent: { meta: { id: customerId } }, positions: [position(TEA, 100)] });
    expect(told.status).toBe(403);
    expect(told.body.errors[0]).toMatchObject({ code: 40301, error: "Программа лояльности приостановлена" });
    expect(told.body.errors[0].error_message).toContain("баллы покупателей сохранены");
    expect((await pos(posUrl, posKey, "GET", "counterparty?search=9031234567")).status).toBe(403);

    const resume = await fake.lifecycle(origin, "PUT", ACCOUNT, installBody("json-token-2", "Resume"));
    expect(JSON.parse(resume.text)).toEqual({ status: "Activated" });
    expect(jsonToken(cfg, (await findInstall(db.sql, APP_ID, ACCOUNT))!)).toBe("json-token-2");
    const back = await pos(posUrl, posKey, "POST", "retaildemand/recalc", { agent: { meta: { id: customerId } }, positions: [position(TEA, 100), position(CIGAR, 100)] });
    expect(back.status).toBe(200);
    expect(back.body.bonusProgram.bonusValueToEarn).toBe(10);
    expect((await db.sql`select state from tenant where id = ${t!.id}`)[0]!.state).toBe("active");
  });

  test("Uninstall: the POS key is revoked, the page refuses, a repeat is 204; after 90 days personal data are erased, balances kept", async () => {
    await db.sql`insert into ledger_entry (tenant_id, customer_id, kind, points, idempotency_key) values
      ((select id from tenant), ${customerId}, 'adjustment', 42, 'test:42')`;
    await db.sql`update customer set balance = balance + 42 where id = ${customerId}`;
    const del = await fake.lifecycle(origin, "DELETE", ACCOUNT, { appUid: APP_UID, accountName: "x", cause: "Uninstall" });
    expect(del.status).toBe(200);
    expect((await fake.lifecycle(origin, "DELETE", ACCOUNT, { appUid: APP_UID, accountName: "x", cause: "Uninstall" })).status).toBe(204);
    const r = await pos(posUrl, posKey, "POST", "retaildemand/recalc", { agent: { meta: { id: customerId } }, positions: [position(TEA, 100)] });
    expect(r.status).toBe(401);
    expect(r.body.errors[0]).toMatchObject({ code: 40101, error: "Программа лояльности отключена" });
    const unknownKey = await pos(posUrl, "some-other-key", "POST", "retaildemand/recalc", { positions: [position(TEA, 100)] });
    expect(unknownKey.body.errors[0].error).toBe("Неверный ключ доступа");
    const page = await fetch(`${origin}/moysklad/settings?contextKey=${fake.contextKey(ACCOUNT, true)}`);
    expect(page.status).toBe(403);

    // Not yet due: nothing erased.
    expect(await eraseDuePersonalData(db.sql)).toBe(0);
    const [due] = await db.sql`select erase_after - now() > interval '89 days' as later from tenant`;
    expect(due!.later).toBe(true);
    await db.sql`update tenant set erase_after = now() - interval '1 second'`;
    expect(await eraseDuePersonalData(db.sql)).toBe(1);
    expect(await eraseDuePersonalData(db.sql)).toBe(0);
    const [c] = await db.sql`select name, phone, card_number, qr_token, balance from customer where id = ${customerId}`;
    expect(c).toEqual({ name: null, phone: null, card_number: null, qr_token: null, balance: 42 });
    const [sum] = await db.sql`select sum(points)::int as s from ledger_entry where customer_id = ${customerId}`;
    expect(sum!.s).toBe(42);
  });

  test("an install after the uninstall finds the same merchant, asks for settings again and needs a new POS key", async () => {
    const [before] = await db.sql`select id from tenant`;
    const again = await fake.lifecycle(origin, "PUT", ACCOUNT, installBody("json-token-3"));
    expect(JSON.parse(again.text)).toEqual({ status: "SettingsRequired" });
    expect(await tenantCount()).toBe(1);
    expect((await db.sql`select id, state, erase_after from tenant`)[0]).toEqual({ id: before!.id, state: "active", erase_after: null });
    const page = await fetch(`${origin}/moysklad/settings?contextKey=${fake.contextKey(ACCOUNT, true)}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Сохранить и подключить");
    // The key revoked at uninstall stays dead.
    expect((await pos(posUrl, posKey, "POST", "retaildemand/recalc", { positions: [position(TEA, 100)] })).status).toBe(401);
  });
});
