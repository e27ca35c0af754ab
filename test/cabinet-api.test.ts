// The admin API under the cabinet: imports through the real queue and worker, exports,
// erasure, profile corrections and the overview figures (in the merchant's time zone);
// and the cabinet's pages reached with a МойСклад session instead of the password.
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { randomUUID } from "node:crypto";
import iconv from "iconv-lite";
import { type RunningWorkers, startWorkers } from "../workers/run.ts";
import { createApp } from "../src/app.ts";
import { resolvePeriod } from "../src/cabinet/stats.ts";
import { MerchantSessions } from "../src/merchant/session.ts";
import { ADMIN_TOKEN, type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { type TestQueues, testQueues } from "./support/redis.ts";
import { holdStage } from "../src/loyalty/holds.ts";
import { sale, waitFor } from "./support/sales.ts";

let t: TestContext;
let q: TestQueues;
let workers: RunningWorkers;

beforeAll(async () => {
  q = await testQueues();
  t = await testContext({ queues: q.queues });
  workers = startWorkers(t.db.sql, q.queues, {
    redisUrl: q.url,
    concurrency: 4,
    lockDurationMs: 30_000,
    sweepIntervalMs: 500,
    sweepAfterMs: 1000,
    releaseIntervalMs: 1000,
  });
});
afterAll(async () => {
  await workers.close();
  await q.close();
  await t.close();
});

async function upload(shop: TestTenant, body: string | Uint8Array<ArrayBuffer>, fileName = "clients.csv") {
  return t.fetch(`/admin/v1/tenants/${shop.slug}/imports?fileName=${encodeURIComponent(fileName)}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "text/csv" },
    body,
  });
}

async function finished(shop: TestTenant, id: string) {
  return waitFor(
    `import ${id}`,
    async () => {
      const r = await t.admin("GET", `/tenants/${shop.slug}/imports/${id}`);
      return r.body.state === "done" || r.body.state === "failed" ? r.body : null;
    },
    120_000,
  );
}

async function importFile(shop: TestTenant, body: string | Uint8Array<ArrayBuffer>) {
  const r = await upload(shop, body);
  expect(r.status).toBe(202);
  return finished(shop, r.body.id);
}

const totals = async (tenantId: string) => {
  const [row] = await t.db.sql<{ customers: number; balance: number; entries: number; ledger: number }[]>`
    select (select count(*)::int from customer where tenant_id = ${tenantId}) as customers,
      (select coalesce(sum(balance), 0)::bigint from customer where tenant_id = ${tenantId}) as balance,
      (select count(*)::int from ledger_entry where tenant_id = ${tenantId}) as entries,
      (select coalesce(sum(points), 0)::bigint from ledger_entry where tenant_id = ${tenantId}) as ledger`;
  return row!;
};

describe("import of customers from the previous program", () => {
  let shop: TestTenant;
  let file: string;
  let expectedBalance = 0;
  const ROWS = 100_000;

  beforeAll(async () => {
    shop = await t.createTenant();
    const lines = ["phone,name,card,birthday,balance"];
    for (let i = 1; i <= ROWS; i++) {
      const line = i + 1; // the header is line 1
      if (line === 1001) lines.push("не телефон,Плохая Строка,,,10");
      else if (line === 50_002) lines.push(`+7 (901) ${String(i).padStart(7, "0").slice(0, 3)}-${String(i).padStart(7, "0").slice(3)},Иван ${i},,1990-13-45,10`);
      else {
        const balance = i % 7 === 0 ? 0 : i % 500;
        expectedBalance += balance;
        lines.push(`8901${String(i).padStart(7, "0")},"Покупатель ${i}, старый",C${i},1980-01-${String((i % 28) + 1).padStart(2, "0")},${balance}`);
      }
    }
    file = lines.join("\r\n") + "\r\n";
  });

  test("100,000 rows: every good row becomes a customer with its opening balance; the two bad rows are reported by line", async () => {
    const done = await importFile(shop, file);
    expect(done).toMatchObject({ state: "done", total: ROWS, processed: ROWS, failed: 2, created: ROWS - 2, encoding: "utf-8", delimiter: "," });
    expect(done.errors.map((e: any) => e.row)).toEqual([1001, 50_002]);
    expect(done.errors[0].error).toContain("телефон");
    expect(done.errors[1].error).toContain("дата рождения");
    const sums = await totals(shop.id);
    expect(sums.customers).toBe(ROWS - 2);
    expect(sums.balance).toBe(expectedBalance);
    expect(sums.ledger).toBe(expectedBalance); // balance = Σ ledger
    const kinds = await t.db.sql`select distinct kind from ledger_entry where tenant_id = ${shop.id}`;
    expect(kinds.map((k) => k.kind)).toEqual(["import"]);
    const found = await t.admin("GET", `/tenants/${shop.slug}/customers?search=${encodeURIComponent("+7 901 000-00-12")}`);
    expect(found.body.rows).toHaveLength(1);
    expect(found.body.rows[0]).toMatchObject({ name: "Покупатель 12, старый", discountCardNumber: "C12", birthDate: "1980-01-13", balance: 12 });
    const errorsCsv = await t.fetch(`/admin/v1/tenants/${shop.slug}/imports/${done.id}/errors.csv`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(errorsCsv.status).toBe(200);
    expect(String(errorsCsv.body).trim().split("\r\n").slice(1).map((l) => l.split(";")[0])).toEqual(["1001", "50002"]);
  }, 180_000);

  test("the same file again changes no balance and creates nobody", async () => {
    const before = await totals(shop.id);
    const again = await importFile(shop, file);
    expect(again).toMatchObject({ state: "done", total: ROWS, failed: 2, created: 0, credited: 0 });
    expect(await totals(shop.id)).toEqual(before);
  }, 180_000);

  test("a changed opening balance for an imported customer is refused for that row, the rest goes in", async () => {
    const before = await totals(shop.id);
    const done = await importFile(shop, "phone;balance\n89010000001;999\n+7 901 000-00-03;3\n79015550000;40\n");
    expect(done).toMatchObject({ state: "done", total: 3, failed: 1, created: 1, credited: 1 });
    expect(done.errors).toEqual([{ row: 2, error: expect.stringContaining("уже перенесён (1 баллов)") }]);
    const after = await totals(shop.id);
    expect(after.balance).toBe(before.balance + 40);
  }, 60_000);
});

describe("reading what Excel saves", () => {
  test("a Windows-1251 file with ';' keeps Cyrillic names; birthdays as ДД.ММ.ГГГГ", async () => {
    const shop = await t.createTenant();
    const text = "Телефон;ФИО;Карта;Дата рождения;Баллы\r\n8 (903) 111-22-33;Иванова Мария Петровна;;01.02.1985;150\r\n+7 903 111-22-34;Щукин Ёжик;7001;;1 200\r\n";
    const bytes = iconv.encode(text, "win1251");
    const done = await importFile(shop, new Uint8Array(bytes) as Uint8Array<ArrayBuffer>);
    expect(done).toMatchObject({ state: "done", total: 2, failed: 0, created: 2, encoding: "windows-1251", delimiter: ";" });
    const a = await t.admin("GET", `/tenants/${shop.slug}/customers?search=89031112233`);
    expect(a.body.rows[0]).toMatchObject({ name: "Иванова Мария Петровна", birthDate: "1985-02-01", balance: 150 });
    const b = await t.admin("GET", `/tenants/${shop.slug}/customers?search=7001`);
    expect(b.body.rows[0]).toMatchObject({ name: "Щукин Ёжик", balance: 1200 });
  }, 60_000);

  test("a file without a header is read as phone, name, card, birthday, balance; a UTF-8 BOM is ignored", async () => {
    const shop = await t.createTenant();
    const done = await importFile(shop, "\ufeff9031234567,Пётр,,,\n");
    expect(done).toMatchObject({ state: "done", total: 1, failed: 0, created: 1, credited: 0 });
    const r = await t.admin("GET", `/tenants/${shop.slug}/customers?search=Пётр`);
    expect(r.body.rows[0]).toMatchObject({ phone: "+79031234567", balance: 0 });
  }, 60_000);

  test("the same person twice in one file: the second line is refused and names the first", async () => {
    const shop = await t.createTenant();
    const done = await importFile(shop, "phone,name,balance\n89030000001,А,5\n+79030000001,Б,7\n");
    expect(done.errors).toEqual([{ row: 3, error: "этот телефон уже был в строке 2" }]);
    expect((await totals(shop.id)).balance).toBe(5);
  }, 60_000);

  test("bad uploads: empty body → 400 and nothing stored; a header without phone or card fails the import with the reason", async () => {
    const shop = await t.createTenant();
    const empty = await upload(shop, "");
    expect(empty.status).toBe(400);
    expect(empty.body.errors[0].error_message).toBe("Файл пуст.");
    const counted = await t.db.sql<{ n: number }[]>`select count(*)::int as n from customer_import where tenant_id = ${shop.id}`;
    expect(counted[0]!.n).toBe(0);
    const failed = await importFile(shop, "имя;баланс\nИван;5\n");
    expect(failed.state).toBe("failed");
    expect(failed.failure).toContain("ни колонки телефона");
    const missing = await t.admin("GET", `/tenants/${shop.slug}/imports/00000000-0000-4000-8000-000000000000`);
    expect(missing.status).toBe(404);
    const noAuth = await t.fetch(`/admin/v1/tenants/${shop.slug}/imports`, { method: "POST", body: "a" });
    expect(noAuth.status).toBe(401);
  }, 60_000);
});

async function exportedLines(path: string): Promise<string[]> {
  const r = await t.fetch(`/admin/v1${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toContain("text/csv");
  return String(r.body).replace(/^\ufeff/, "").trim().split("\r\n");
}

describe("export and erasure", () => {
  test("export holds every customer; erasure hides a customer from search, the POS and export while ledger totals stay", async () => {
    const shop = await t.createTenant();
    await importFile(shop, "phone,name,card,birthday,balance\n" + Array.from({ length: 2500 }, (_, i) => `8902${String(i).padStart(7, "0")},Имя ${i},K${i},,${i + 1}`).join("\n"));
    const created = await t.pos(shop.apiToken, "POST", "/counterparty", { name: "Анна Стирающаяся", phone: "+7 999 000-11-22", discountCardNumber: "ERASE-1", statusCheck: "IGNORE" });
    const id = created.body.id as string;
    expect((await t.admin("POST", `/tenants/${shop.slug}/customers/${id}/adjustments`, { points: 120, reason: "подарок" })).status).toBe(201);

    const all = await exportedLines(`/tenants/${shop.slug}/customers.csv`);
    expect(all.length).toBe(1 + 2501);
    expect(all.some((l) => l.includes(id) && l.includes("+79990001122") && l.includes("Анна Стирающаяся"))).toBe(true);
    const before = await totals(shop.id);
    const ledgerBefore = await exportedLines(`/tenants/${shop.slug}/ledger.csv`);

    const erased = await t.admin("DELETE", `/tenants/${shop.slug}/customers/${id}/personal-data`);
    expect(erased.status).toBe(204);
    for (const s of ["+79990001122", "89990001122", "Анна", "ERASE-1"]) {
      expect((await t.admin("GET", `/tenants/${shop.slug}/customers?search=${encodeURIComponent(s)}`)).body.rows).toEqual([]);
      expect((await t.pos(shop.apiToken, "GET", `/counterparty?search=${encodeURIComponent(s)}`)).body.rows ?? []).toEqual([]);
    }
    const after = await exportedLines(`/tenants/${shop.slug}/customers.csv`);
    expect(after.length).toBe(1 + 2500);
    expect(after.some((l) => l.includes(id))).toBe(false);
    expect(await totals(shop.id)).toEqual(before);
    expect(await exportedLines(`/tenants/${shop.slug}/ledger.csv`)).toEqual(ledgerBefore);
    const card = await t.admin("GET", `/tenants/${shop.slug}/customers/${id}`);
    expect(card.body).toMatchObject({ name: null, phone: null, discountCardNumber: null, qrToken: null, balance: 120 });
    // Nothing to fill back in, and no more hand adjustments.
    expect((await t.admin("PATCH", `/tenants/${shop.slug}/customers/${id}`, { name: "Снова" })).status).toBe(409);
    expect((await t.admin("POST", `/tenants/${shop.slug}/customers/${id}/adjustments`, { points: 5, reason: "x" })).status).toBe(409);
    // The phone is free for a new registration.
    const again = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79990001122", statusCheck: "IGNORE" });
    expect(again.body.id).not.toBe(id);
    expect((await t.admin("DELETE", `/tenants/${shop.slug}/customers/00000000-0000-4000-8000-000000000000/personal-data`)).status).toBe(404);
  }, 60_000);
});

describe("profile corrections", () => {
  test("phone in any notation, name, birthday; a phone of another customer is a conflict; bad dates are refused", async () => {
    const shop = await t.createTenant();
    const a = (await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79050000001", statusCheck: "IGNORE" })).body.id;
    await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79050000002", statusCheck: "IGNORE" });
    const ok = await t.admin("PATCH", `/tenants/${shop.slug}/customers/${a}`, { phone: "8 (905) 000-00-09", name: "  Ольга  Ким ", birthDate: "1991-05-06" });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ phone: "+79050000009", name: "Ольга Ким", birthDate: "1991-05-06" });
    const taken = await t.admin("PATCH", `/tenants/${shop.slug}/customers/${a}`, { phone: "+79050000002" });
    expect(taken.status).toBe(409);
    expect(taken.body.errors[0].parameter).toBe("phone");
    for (const birthDate of ["1991-02-30", "06.05.1991", "2999-01-01"]) {
      expect((await t.admin("PATCH", `/tenants/${shop.slug}/customers/${a}`, { birthDate })).status).toBe(400);
    }
    expect((await t.admin("PATCH", `/tenants/${shop.slug}/customers/${a}`, { phone: "не номер" })).status).toBe(400);
    expect((await t.admin("GET", `/tenants/${shop.slug}/customers/${a}`)).body.phone).toBe("+79050000009");
  });
});

describe("overview figures", () => {
  test("members' share, sums, points, new and returning customers per day, top customers", async () => {
    const shop = await t.createTenant();
    const anna = (await t.pos(shop.apiToken, "POST", "/counterparty", { name: "Анна", phone: "+79060000001", statusCheck: "IGNORE" })).body.id;
    const post = async (body: unknown) => {
      const r = await t.pos(shop.apiToken, "POST", "/retaildemand", body);
      expect(r.status).toBe(201);
      return r.body.id as string;
    };
    const ids = [
      await post(sale({ customerId: anna, lines: [{ id: "p", price: 1000, quantity: 1 }], cash: 1000, moment: "2026-11-10 10:00:00" }).body),
      await post(sale({ customerId: anna, lines: [{ id: "p", price: 500, quantity: 1 }], cash: 500, moment: "2026-11-11 10:00:00" }).body),
      await post(sale({ lines: [{ id: "p", price: 300, quantity: 1 }], cash: 300, moment: "2026-11-11 11:00:00" }).body),
    ];
    for (const id of ids) {
      await waitFor("settlement", async () => (await t.db.sql`select state from document where id = ${id}`)[0]?.state === "settled");
    }
    const r = await t.admin("GET", `/tenants/${shop.slug}/stats?from=2026-11-10&to=2026-11-11`);
    expect(r.status).toBe(200);
    expect(r.body.totals).toMatchObject({
      receipts: 3, memberReceipts: 2, memberKopecks: 150_000, allKopecks: 180_000, memberShare: 66.7,
      newCustomers: 1, returningCustomers: 1, memberAverageKopecks: 75_000,
    });
    expect(r.body.days.map((d: any) => [d.day, d.receipts, d.newCustomers, d.returningCustomers])).toEqual([
      ["2026-11-10", 1, 1, 0],
      ["2026-11-11", 2, 0, 1],
    ]);
    expect(r.body.top).toEqual([expect.objectContaining({ id: anna, name: "Анна", receipts: 2, kopecks: 150_000 })]);
    // Points are counted by when they were posted (today), so a period of today shows them.
    const today = await t.admin("GET", `/tenants/${shop.slug}/stats`);
    expect(today.body.days).toHaveLength(30);
    expect(today.body.totals.pointsEarned).toBe(75); // 5% of 1000 + 500 roubles
    expect((await t.admin("GET", `/tenants/${shop.slug}/stats?from=2026-11-12&to=2026-11-01`)).status).toBe(400);
    expect((await t.admin("GET", `/tenants/${shop.slug}/stats?from=2020-01-01&to=2026-11-01`)).status).toBe(400);
    expect((await t.admin("GET", `/tenants/${shop.slug}/stats?from=вчера`)).status).toBe(400);
  }, 60_000);
});

describe("overview days in the merchant's time zone", () => {
  test("a shop in Vladivostok sees a sale at 01:30 its time on that day, not on the Moscow day before", async () => {
    const shop = await t.createTenant();
    expect((await t.admin("PUT", `/tenants/${shop.slug}/program`, { timezone: "Asia/Vladivostok" })).status).toBe(200);
    const ids = [];
    // 23:30 and 01:30 in Vladivostok (UTC+10) are 16:30 and 18:30 of one Moscow day.
    for (const moment of ["2026-11-10 23:30:00", "2026-11-11 01:30:00"]) {
      const r = await t.pos(shop.apiToken, "POST", "/retaildemand", sale({ lines: [{ id: "p", price: 100, quantity: 1 }], cash: 100, moment }).body);
      expect(r.status).toBe(201);
      ids.push(r.body.id as string);
    }
    for (const id of ids) await waitFor("settlement", async () => (await t.db.sql`select state from document where id = ${id}`)[0]?.state === "settled");
    const r = await t.admin("GET", `/tenants/${shop.slug}/stats?from=2026-11-10&to=2026-11-11`);
    expect(r.body.days.map((d: any) => [d.day, d.receipts])).toEqual([
      ["2026-11-10", 1],
      ["2026-11-11", 1],
    ]);
    const eleventh = await t.admin("GET", `/tenants/${shop.slug}/stats?from=2026-11-11&to=2026-11-11`);
    expect(eleventh.body.totals.receipts).toBe(1);
  }, 60_000);

  test("a zone written as an offset (+05:00) is UTC+5, as everywhere else in the program (not the POSIX UTC−5)", async () => {
    const shop = await t.createTenant();
    expect((await t.admin("PUT", `/tenants/${shop.slug}/program`, { timezone: "+05:00" })).status).toBe(200);
    // 01:30 on the 11th at +05:00 is 20:30 UTC on the 10th (15:30 on the 10th at UTC−5).
    const r = await t.pos(shop.apiToken, "POST", "/retaildemand", sale({ lines: [{ id: "p", price: 100, quantity: 1 }], cash: 100, moment: "2026-11-11 01:30:00" }).body);
    await waitFor("settlement", async () => (await t.db.sql`select state from document where id = ${r.body.id}`)[0]?.state === "settled");
    const stats = await t.admin("GET", `/tenants/${shop.slug}/stats?from=2026-11-10&to=2026-11-11`);
    expect(stats.body.days.map((d: any) => [d.day, d.receipts])).toEqual([
      ["2026-11-10", 0],
      ["2026-11-11", 1],
    ]);
  }, 60_000);

  test("the default period ends on today in the shop's zone", () => {
    // 20:00 UTC: 23:00 in Moscow, already 06:00 next morning in Vladivostok.
    const now = new Date("2026-11-10T20:00:00Z");
    expect(resolvePeriod(undefined, undefined, "Europe/Moscow", now)).toEqual({ from: "2026-10-12", to: "2026-11-10" });
    expect(resolvePeriod(undefined, undefined, "Asia/Vladivostok", now)).toEqual({ from: "2026-10-13", to: "2026-11-11" });
  });
});

describe("the cabinet's pages with a МойСклад session", () => {
  const SECRETS_KEY = Buffer.alloc(32, 5);
  const sessions = new MerchantSessions(SECRETS_KEY);
  let app: ReturnType<typeof createApp>;
  let shop: TestTenant;
  let other: TestTenant;
  let customerId: string;
  let admin: string;
  let viewer: string;

  const page = async (path: string, init: RequestInit = {}) => {
    const r = await app.handle(new Request(`http://loyalty.test${path}`, init));
    return { status: r.status, headers: r.headers, text: await r.text() };
  };
  const post = (path: string, fields: Record<string, string>) => page(path, { method: "POST", body: new URLSearchParams(fields) });
  const balance = async () => (await t.admin("GET", `/tenants/${shop.slug}/customers/${customerId}`)).body.balance as number;
  const issue = (tenantId: string, role: "admin" | "viewer", ttl?: number, key = sessions) => key.issue({ tenantId, accountId: "acc-1", userId: randomUUID(), role }, ttl);

  beforeAll(async () => {
    shop = await t.createTenant();
    other = await t.createTenant();
    app = createApp({
      ...t.deps,
      config: {
        ...t.deps.config,
        moysklad: {
          appId: "3b6a1f2e-8c4d-4e5f-9a0b-1c2d3e4f5a6b",
          appUid: "loyalty-test.vendor-test",
          secretKey: "test-vendor-secret-0123456789abcdef",
          // Never called here: the pages only read the session.
          vendorApiUrl: "http://127.0.0.1:9/api/vendor/1.0",
          jsonApiUrl: "http://127.0.0.1:9/api/remap/1.2",
          publicUrl: "http://loyalty.test",
          secretsKey: SECRETS_KEY,
        },
      },
    });
    customerId = (await t.pos(shop.apiToken, "POST", "/counterparty", { name: "Вера Сеансова", phone: "+79070000001", statusCheck: "IGNORE" })).body.id;
    admin = await issue(shop.id, "admin");
    viewer = await issue(shop.id, "viewer");
  });

  test("every page opens with the session alone, and every link, form and htmx address on it carries it", async () => {
    const base = `/cabinet/${shop.slug}`;
    expect((await page(base)).status).toBe(401); // nothing but the session lets one in
    for (const path of ["", "/customers", `/customers/${customerId}`, "/documents", "/certificates", "/promotions", "/import"]) {
      const r = await page(`${base}${path}?session=${admin}`);
      expect({ path, status: r.status }).toEqual({ path, status: 200 });
      const addresses = [...r.text.matchAll(/(?:href|hx-get)="([^"]*)"/g)].map((m) => m[1]!).filter((a) => !a.startsWith("/assets/"));
      expect(addresses.length).toBeGreaterThan(6);
      for (const a of addresses) expect({ path, a, carried: a.includes(`session=${admin}`) }).toEqual({ path, a, carried: true });
      const forms = r.text.match(/<form[\s\S]*?<\/form>/g) ?? [];
      for (const f of forms) expect({ path, form: f.slice(0, 80), carried: f.includes(`name="session" value="${admin}"`) }).toEqual({ path, form: f.slice(0, 80), carried: true });
      // The way back to the program's settings, with the session.
      expect(r.text).toContain(`href="/moysklad/settings?session=${admin}"`);
    }
    // The header does as well as the query (htmx, scripts).
    expect((await page(`${base}/customers?q=${encodeURIComponent("8 907 000-00-01")}`, { headers: { "x-merchant-session": admin, "hx-request": "true" } })).text).toContain("Вера Сеансова");
  });

  test("an admin's session changes things through the forms; the redirect keeps the session; downloads need no password", async () => {
    const before = await balance();
    const r = await post(`/cabinet/${shop.slug}/customers/${customerId}/adjust`, { session: admin, points: "40", reason: "за отзыв", key: randomUUID() });
    expect(r.status).toBe(303);
    const location = r.headers.get("location")!;
    expect(location).toContain("done=adjusted");
    expect(location).toContain(`session=${admin}`);
    expect((await page(location)).text).toContain("Баллы изменены");
    expect(await balance()).toBe(before + 40);
    const csv = await page(`/cabinet/${shop.slug}/export/customers.csv?session=${admin}`);
    expect(csv.status).toBe(200);
    expect(csv.text).toContain("Вера Сеансова");
  });

  test("a non-admin employee sees the pages without forms, and every change is refused in words with nothing changed", async () => {
    const before = await balance();
    const card = await page(`/cabinet/${shop.slug}/customers/${customerId}?session=${viewer}`);
    expect(card.status).toBe(200);
    expect(card.text).toContain("Вы можете только смотреть");
    expect(card.text).toContain("Вера Сеансова");
    expect(card.text).not.toContain("/adjust");
    expect(card.text).not.toContain("/erase");
    expect(card.text).not.toContain("/card-link");
    const token = (await t.admin("GET", `/tenants/${shop.slug}/customers/${customerId}`)).body.qrToken;
    for (const p of ["/certificates", "/import", "/promotions"]) expect((await page(`/cabinet/${shop.slug}${p}?session=${viewer}`)).text).not.toContain('method="post"');

    const attempts: [string, Record<string, string>][] = [
      [`/customers/${customerId}/adjust`, { points: "1000", reason: "себе", key: randomUUID() }],
      [`/customers/${customerId}/profile`, { name: "Другое имя", phone: "", birthDate: "" }],
      [`/customers/${customerId}/erase`, { confirm: "yes" }],
      [`/customers/${customerId}/card-link`, {}],
      ["/certificates", { name: "GC-VIEWER", amount: "500" }],
      ["/promotions", { name: "Себе", startsAt: "2020-01-01T00:00", endsAt: "2099-01-01T00:00", effect: "percent", value: "50" }],
    ];
    for (const [path, fields] of attempts) {
      const r = await post(`/cabinet/${shop.slug}${path}`, { session: viewer, ...fields });
      expect({ path, status: r.status }).toEqual({ path, status: 403 });
      expect(r.text).toContain("менять данные может только администратор аккаунта МойСклад");
    }
    const upload = new FormData();
    upload.set("session", viewer);
    upload.set("file", new File(["phone;balance\n79070000002;500\n"], "x.csv", { type: "text/csv" }));
    expect((await page(`/cabinet/${shop.slug}/import`, { method: "POST", body: upload })).status).toBe(403);

    expect(await balance()).toBe(before);
    expect((await t.admin("GET", `/tenants/${shop.slug}/customers/${customerId}`)).body).toMatchObject({ name: "Вера Сеансова", qrToken: token });
    expect((await t.db.sql`select count(*)::int as n from gift_card where tenant_id = ${shop.id}`)[0]!.n).toBe(0);
    expect((await t.db.sql`select count(*)::int as n from customer_import where tenant_id = ${shop.id}`)[0]!.n).toBe(0);
    expect((await t.admin("GET", `/tenants/${shop.slug}/promotions`)).body.rows).toEqual([]);
    // Looking includes the export.
    expect((await page(`/cabinet/${shop.slug}/export/customers.csv?session=${viewer}`)).status).toBe(200);
  });

  test("a forged, expired, empty or another shop's session is refused in words, never with a password prompt", async () => {
    const refusals: [string, string, number, RegExp][] = [
      ["forged", await issue(shop.id, "admin", undefined, new MerchantSessions(Buffer.alloc(32, 6))), 401, /Сеанс истёк или недействителен/],
      ["expired", await issue(shop.id, "admin", -10), 401, /Сеанс истёк или недействителен/],
      ["garbage", "not-a-token", 401, /Сеанс истёк или недействителен/],
      ["empty", "", 401, /Нет сеанса/],
      ["another shop's", await issue(other.id, "admin"), 403, /другого магазина/],
    ];
    for (const [what, session, status, words] of refusals) {
      for (const r of [await page(`/cabinet/${shop.slug}/customers?session=${session}`), await post(`/cabinet/${shop.slug}/customers/${customerId}/adjust`, { session, points: "5", reason: "x" })]) {
        expect({ what, status: r.status, prompt: r.headers.get("www-authenticate") }).toEqual({ what, status, prompt: null });
        expect(r.headers.get("content-type")).toContain("text/html");
        expect(r.text).toMatch(words);
        expect(r.text).not.toContain("Вера Сеансова");
      }
    }
    // Inside МойСклад's frame a page without any session says what to do instead of asking for a password.
    const framed = await page(`/cabinet/${shop.slug}`, { headers: { "sec-fetch-dest": "iframe" } });
    expect(framed.status).toBe(401);
    expect(framed.headers.get("www-authenticate")).toBeNull();
    expect(framed.text).toContain("Откройте приложение в МойСклад заново");
    // Where the МойСклад app is not configured, a session opens nothing.
    const unconfigured = await t.fetch(`/cabinet/${shop.slug}?session=${admin}`);
    expect(unconfigured.status).toBe(401);
    expect(unconfigured.body).toContain("Вход из МойСклад на этом сервере не настроен");
    // A removed app ends the sessions at once.
    const gone = await t.createTenant();
    const goneSession = await issue(gone.id, "admin");
    await t.db.sql`update tenant set state = 'uninstalled' where id = ${gone.id}`;
    const after = await page(`/cabinet/${gone.slug}?session=${goneSession}`);
    expect(after.status).toBe(401);
    expect(after.text).toContain("Приложение удалено");
  });

  /** A page's text without tags, its spaces (the no-break ones of numbers too) made plain. */
  const words = (html: string) => html.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ");

  test("a customer's page shows their level, its rate, the next level and how much is left to buy, as the admin API counts it", async () => {
    const levels = await t.createTenant();
    const program = await t.admin("PUT", `/tenants/${levels.slug}/program`, {
      tiers: [
        { name: "Серебро", minPurchases: 1000, earnPercent: 7 },
        { name: "Золото", minPurchases: 5000, earnPercent: 10 },
      ],
    });
    expect(program.status).toBe(200);
    const session = await issue(levels.id, "admin");
    const id = (await t.pos(levels.apiToken, "POST", "/counterparty", { name: "Лев Уровнев", phone: "+79070000002", statusCheck: "IGNORE" })).body.id as string;
    const level = async () => {
      const r = await page(`/cabinet/${levels.slug}/customers/${id}?session=${session}`);
      expect(r.status).toBe(200);
      const card = /<div class="card" id="level">([\s\S]*?)<\/div>/.exec(r.text);
      expect(card).not.toBeNull();
      return words(card![1]!).trim();
    };
    const buy = async (roubles: number) => {
      // Yesterday: inside the program's 365-day window whatever today is.
      const moment = new Date(Date.now() - 86_400_000).toISOString().slice(0, 19).replace("T", " ");
      const r = await t.pos(levels.apiToken, "POST", "/retaildemand", sale({ customerId: id, lines: [{ id: "p", price: roubles, quantity: 1 }], cash: roubles, moment }).body);
      expect(r.status).toBe(201);
      await waitFor("settlement", async () => (await t.db.sql`select state from document where id = ${r.body.id}`)[0]?.state === "settled");
    };

    expect(await level()).toBe(
      "Уровень: Базовый Начисляется 5 % от покупки баллами. До уровня «Серебро» осталось купить на 1 000,00 ₽. Уровень считается по покупкам за последние 365 дн. и меняется, когда проводится продажа.",
    );
    await buy(1500);
    const api = (await t.admin("GET", `/tenants/${levels.slug}/customers/${id}`)).body.tier;
    expect(api).toEqual({ name: "Серебро", earnPercent: 7, nextTier: "Золото", toNextTier: 3500 });
    expect(await level()).toContain("Уровень: Серебро Начисляется 7 % от покупки баллами. До уровня «Золото» осталось купить на 3 500,00 ₽.");
    await buy(4000);
    expect(await level()).toContain("Уровень: Золото Начисляется 10 % от покупки баллами. Это высший уровень программы.");

    // A program without levels says so instead of a distance to nowhere.
    const plain = await page(`/cabinet/${shop.slug}/customers/${customerId}?session=${admin}`);
    expect(words(plain.text)).toContain("Уровень: Базовый Начисляется 5 % от покупки баллами. Уровни в программе не настроены");
  }, 60_000);

  test("a new card link: the old link and QR stop opening the card, the new one opens it, and the page says the SMS was not sent", async () => {
    const before = (await t.admin("GET", `/tenants/${shop.slug}/customers/${customerId}`)).body.qrToken as string;
    expect((await page(`/card/${before}`)).status).toBe(200);
    const card = await page(`/cabinet/${shop.slug}/customers/${customerId}?session=${admin}`);
    expect(card.text).toContain(`action="/cabinet/${shop.slug}/customers/${customerId}/card-link"`);
    expect(card.text).toContain("Выдать новую ссылку");

    const r = await post(`/cabinet/${shop.slug}/customers/${customerId}/card-link`, { session: admin });
    expect(r.status).toBe(303);
    const location = r.headers.get("location")!;
    expect(location).toContain("done=card-link");
    expect(location).toContain(`session=${admin}`);
    const after = await page(location);
    expect(after.status).toBe(200);
    const text = words(after.text);
    expect(text).toContain("Выдана новая ссылка на карту покупателя. Старая ссылка и старый QR-код больше не открывают карту");
    expect(text).toContain("По SMS новая ссылка не отправлялась.");
    const token = (await t.admin("GET", `/tenants/${shop.slug}/customers/${customerId}`)).body.qrToken as string;
    expect(token).not.toBe(before);
    // The link to pass on is shown as text: as a link of the cabinet it would carry the session.
    const shown = /<input[^>]*id="card-link"[^>]*value="([^"]+)"/.exec(after.text)?.[1];
    expect(shown).toBe(`${t.deps.config.publicUrl}/card/${token}`);
    expect(after.text).not.toContain(`href="${shown}`);
    expect((await page(`/card/${before}`)).status).toBe(404);
    expect((await page(`/card/${token}`)).status).toBe(200);
    // The till no longer finds the customer by the old QR, and finds them by the new one.
    expect((await t.pos(shop.apiToken, "GET", `/counterparty?search=${before}`)).body.rows ?? []).toEqual([]);
    expect((await t.pos(shop.apiToken, "GET", `/counterparty?search=${token}`)).body.rows.map((c: any) => c.id)).toEqual([customerId]);
    // Without the notice's code, the link is not on the page.
    expect((await page(`/cabinet/${shop.slug}/customers/${customerId}?session=${admin}`)).text).not.toContain(token);
  });

  test("an erased customer gets no new card link: refused in words, nothing made findable again", async () => {
    const id = (await t.pos(shop.apiToken, "POST", "/counterparty", { name: "Ушедший", phone: "+79070000003", statusCheck: "IGNORE" })).body.id as string;
    expect((await t.admin("DELETE", `/tenants/${shop.slug}/customers/${id}/personal-data`)).status).toBe(204);
    expect((await page(`/cabinet/${shop.slug}/customers/${id}?session=${admin}`)).text).not.toContain("/card-link");
    const r = await post(`/cabinet/${shop.slug}/customers/${id}/card-link`, { session: admin });
    expect(r.status).toBe(400);
    expect(r.text).toContain("новую ссылку на карту выдать нельзя");
    expect((await t.admin("GET", `/tenants/${shop.slug}/customers/${id}`)).body.qrToken).toBeNull();
    expect((await post(`/cabinet/${shop.slug}/customers/00000000-0000-4000-8000-000000000000/card-link`, { session: admin })).status).toBe(404);
    expect((await post(`/cabinet/${shop.slug}/customers/not-a-uuid/card-link`, { session: admin })).status).toBe(404);
  });

  test("held points decided from the cabinet: words of what and why, a confirmation, once only, by whom; viewers only look", async () => {
    const held = await t.createTenant();
    expect((await t.admin("PUT", `/tenants/${held.slug}/program`, { maxPointsPerReceipt: 10 })).status).toBe(200);
    const buyer = (await t.pos(held.apiToken, "POST", "/counterparty", { name: "Нина Ждущая", phone: "+79070000011", statusCheck: "IGNORE" })).body.id as string;
    // 2000 ₽ at 5 % is 100 points, more than the shop's bound of 10 a receipt: 90 wait.
    const r = await t.pos(held.apiToken, "POST", "/retaildemand", sale({ customerId: buyer, lines: [{ id: "p1", price: 2000, quantity: 1 }], cash: 2000 }).body);
    expect(r.status).toBe(201);
    const docId = r.body.id as string;
    const doc = await waitFor("sale settled", async () => {
      const [d] = await t.db.sql`select state, held_spend_points, held_earn_points from document where id = ${docId}`;
      return d?.state === "settled" ? d : null;
    }, 30_000);
    expect(doc).toMatchObject({ held_spend_points: 0, held_earn_points: 90 });
    const ledgerOf = async () => {
      const [x] = await t.db.sql<{ balance: number; sum: number; entries: number }[]>`
        select (select balance from customer where id = ${buyer}) as balance,
          (select coalesce(sum(points), 0)::int from ledger_entry where customer_id = ${buyer}) as sum,
          (select count(*)::int from ledger_entry where customer_id = ${buyer}) as entries`;
      return x!;
    };
    const before = await ledgerOf();
    expect(before.balance).toBe(before.sum);

    const adminS = await sessions.issue({ tenantId: held.id, accountId: "acc-h", userId: randomUUID(), role: "admin", name: "Иванов И. И." });
    const viewerS = await sessions.issue({ tenantId: held.id, accountId: "acc-h", userId: randomUUID(), role: "viewer", name: "Кассир К. К." });
    const base = `/cabinet/${held.slug}`;

    // The list says what waits and leads to the document.
    const list = words((await page(`${base}/documents?filter=attention&session=${adminS}`)).text);
    expect(list).toContain("Ждёт решения: начисление 90 баллов Решить");
    const listed = (await page(`${base}/documents?session=${adminS}`)).text;
    expect(listed).toContain(`href="${base}/documents/${docId}?session=${adminS}"`);

    // The viewer sees the state and why, but no buttons; posting anyway changes nothing.
    const seen = await page(`${base}/documents/${docId}?session=${viewerS}`);
    expect(seen.status).toBe(200);
    expect(words(seen.text)).toContain("По этому чеку не проведено: начисление 90 баллов.");
    expect(words(seen.text)).toContain("Почему: Начисление 100 баллов больше предела на чек (10): 90 баллов ждут решения оператора.");
    expect(words(seen.text)).toContain("Принять его может администратор аккаунта МойСклад");
    expect(seen.text).not.toContain("/hold");
    for (const fields of [{ decision: "approve" }, { decision: "approve", confirm: "yes" }] as Record<string, string>[]) {
      const refused = await post(`${base}/documents/${docId}/hold`, { session: viewerS, ...fields });
      expect(refused.status).toBe(403);
      expect(refused.text).toContain("менять данные может только администратор аккаунта МойСклад");
    }
    expect(await ledgerOf()).toEqual(before);

    // The admin: the form, then a confirmation that changes nothing yet.
    const view = await page(`${base}/documents/${docId}?session=${adminS}`);
    expect(view.text).toContain(`action="${base}/documents/${docId}/hold"`);
    expect(view.text).toContain(`name="session" value="${adminS}"`);
    expect(words(view.text)).toMatch(/Провести\s+Отклонить/);
    const ask = await post(`${base}/documents/${docId}/hold`, { session: adminS, decision: "approve", note: "кассир подтвердил" });
    expect(ask.status).toBe(200);
    expect(words(ask.text)).toContain("Провести начисление 90 баллов покупателю «Нина Ждущая»?");
    expect(words(ask.text)).toContain("покупателю «Нина Ждущая»?");
    expect(ask.text).toContain('name="confirm" value="yes"');
    expect(ask.text).toContain(`name="session" value="${adminS}"`);
    expect(await ledgerOf()).toEqual(before);
    expect((await t.db.sql`select hold_decision from document where id = ${docId}`)[0]!.hold_decision).toBeNull();

    // Confirmed: posted once, the page says who and when, with the note.
    const done = await post(`${base}/documents/${docId}/hold`, { session: adminS, decision: "approve", note: "кассир подтвердил", confirm: "yes" });
    expect(done.status).toBe(303);
    const location = done.headers.get("location")!;
    expect(location).toContain("done=hold-approved");
    expect(location).toContain(`session=${adminS}`);
    const outcome = words((await page(location)).text);
    expect(outcome).toContain("Решение принято: баллы проведены.");
    expect(outcome).toContain("Ждали решения: начисление 90 баллов.");
    expect(outcome).toMatch(/Решение принято\. Проведено \d\d\.\d\d\.\d{4}, \d\d:\d\d — Иванов И\. И\. \(МойСклад\)\. Примечание: «кассир подтвердил»\./);
    const after = await ledgerOf();
    expect(after.balance).toBe(after.sum);
    expect(after.entries).toBe(before.entries + 1);
    expect(after.sum).toBe(before.sum + 90);

    // A second decision, the same or the other, is refused in words and changes nothing.
    for (const decision of ["approve", "reject"]) {
      const again = await post(`${base}/documents/${docId}/hold`, { session: adminS, decision, confirm: "yes" });
      expect({ decision, status: again.status }).toEqual({ decision, status: 409 });
      expect(words(again.text)).toMatch(/Ничего не изменено(: решение по этим баллам уже было принято раньше|\. Решение уже принято: проведено)\./);
      expect(again.text).not.toContain('name="decision"');
    }
    expect(await ledgerOf()).toEqual(after);
    expect((await t.admin("GET", `/tenants/${held.slug}/documents?held=true`)).body.rows.map((x: any) => x.id)).not.toContain(docId);
    expect(words((await page(`${base}/documents?session=${viewerS}`)).text)).toContain("Решение по баллам: проведено");

    // A rejection from the operator's API: nothing posted, the cabinet names who.
    const r2 = await t.pos(held.apiToken, "POST", "/retaildemand", sale({ customerId: buyer, lines: [{ id: "p1", price: 1000, quantity: 1, discountedPrice: 500 }], spend: 500 }).body);
    await waitFor("second sale settled", async () => (await t.db.sql`select state from document where id = ${r2.body.id}`)[0]?.state === "settled", 30_000);
    const mid = await ledgerOf();
    const spendView = words((await page(`${base}/documents/${r2.body.id}?session=${adminS}`)).text);
    expect(spendView).toMatch(/По этому чеку не проведено: списание 400 баллов\. Почему: Списано больше баллов, чем было у покупателя \(500 при балансе 100\)/);
    const api = await t.admin("POST", `/tenants/${held.slug}/documents/${r2.body.id}/hold`, { decision: "reject", note: "ошибка кассы" });
    expect(api.body).toMatchObject({ decision: "rejected", decidedBy: "оператор (API)" });
    expect(await ledgerOf()).toEqual(mid);
    expect(words((await page(`${base}/documents/${r2.body.id}?session=${adminS}`)).text)).toMatch(/Отклонено [\d.:, ]+ — оператор \(API\)\. Примечание: «ошибка кассы»\./);

    // Bad input: in words, never a 500.
    expect((await post(`${base}/documents/${docId}/hold`, { session: adminS, decision: "maybe" })).status).toBe(400);
    expect((await post(`${base}/documents/not-a-uuid/hold`, { session: adminS, decision: "approve", confirm: "yes" })).status).toBe(404);
    expect((await page(`${base}/documents/${randomUUID()}?session=${adminS}`)).status).toBe(404);
  }, 90_000);

  test("a hold waits for settlement first: before it the page says to wait (the stage as the pages compute it)", () => {
    const d = { state: "received" as const, customer_id: "c", held_spend_points: 5, held_earn_points: 0, hold_decision: null };
    expect(holdStage(d)).toBe("not-settled");
    expect(holdStage({ ...d, state: "settled" })).toBe("open");
    expect(holdStage({ ...d, state: "settled", hold_decision: "approved" })).toBe("approved");
    expect(holdStage({ ...d, held_spend_points: 0 })).toBe("none");
  });
});
