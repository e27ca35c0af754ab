import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { birthdayDue, birthdayIn } from "../src/loyalty/gifts.ts";
import { localTime } from "../src/loyalty/localtime.ts";
import { readMoment } from "../src/loyalty/moment.ts";
import { promotionApplies } from "../src/loyalty/points.ts";
import type { Promotion } from "../src/loyalty/promotions.ts";
import { runRules } from "../src/loyalty/rules.ts";
import { settleDocument } from "../src/loyalty/settlement.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { type Line, sale, saleReturn } from "./support/sales.ts";

// Program rules through the real API and the settlement and rules services on a real
// database: burning lots, levels, promotions, gifts.
let t: TestContext;

beforeAll(async () => {
  t = await testContext();
});
afterAll(() => t.close());

const DAY = 86_400_000;

/** "YYYY-MM-DD HH:MM:SS" of an instant on a Moscow wall clock (what the POS sends). */
function msk(at: Date): string {
  const l = localTime(at, "Europe/Moscow");
  const s = String(at.getUTCSeconds()).padStart(2, "0");
  return `${l.date} ${String(Math.floor(l.minutes / 60)).padStart(2, "0")}:${String(l.minutes % 60).padStart(2, "0")}:${s}`;
}

async function shopWith(settings: Record<string, unknown>): Promise<TestTenant> {
  const shop = await t.createTenant();
  const r = await t.admin("PUT", `/tenants/${shop.slug}/program`, settings);
  expect(r.status).toBe(200);
  return shop;
}

async function customer(shop: TestTenant, extra: Record<string, unknown> = {}) {
  const phone = `+7917${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, statusCheck: "IGNORE", ...extra });
  expect(c.status).toBe(201);
  return c.body.id as string;
}

async function adjust(shop: TestTenant, id: string, points: number, expiresAt?: Date) {
  const r = await t.admin("POST", `/tenants/${shop.slug}/customers/${id}/adjustments`, {
    points,
    reason: "тест",
    ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
  });
  expect(r.status).toBe(201);
  return r.body;
}

/** A sale through intake, settled; returns its document id. */
async function buy(shop: TestTenant, id: string, lines: Line[], opts: { spend?: number; moment?: Date } = {}) {
  const s = sale({ customerId: id, lines, spend: opts.spend ?? 0, moment: msk(opts.moment ?? new Date()) });
  const r = await t.pos(shop.apiToken, "POST", "/retaildemand", s.body);
  expect(r.status).toBe(201);
  expect((await settleDocument(t.db.sql, shop.id, r.body.id)).status).toBe("settled");
  return { documentId: r.body.id as string, saleId: s.id };
}

async function giveBack(shop: TestTenant, saleId: string, lines: Line[]) {
  const r = await t.pos(shop.apiToken, "POST", "/retailsalesreturn", saleReturn({ saleId, lines }).body);
  expect(r.status).toBe(201);
  expect((await settleDocument(t.db.sql, shop.id, r.body.id)).status).toBe("settled");
  return r.body.id as string;
}

const view = async (shop: TestTenant, id: string) => (await t.admin("GET", `/tenants/${shop.slug}/customers/${id}`)).body;

/** balance = Σ released ledger, and Σ spendable lots = balance whenever it is not negative. */
async function checkBooks(shop: TestTenant, id: string) {
  const [r] = await t.db.sql<{ balance: number; ledger: number; lots: number; debt: number }[]>`
    select c.balance::int as balance, c.lots_debt::int as debt,
      (select coalesce(sum(points), 0)::int from ledger_entry e where e.tenant_id = c.tenant_id and e.customer_id = c.id and e.released_at is not null) as ledger,
      (select coalesce(sum(l.remaining), 0)::int from points_lot l
         left join ledger_entry src on src.tenant_id = l.tenant_id and src.id = l.entry_id
         where l.tenant_id = c.tenant_id and l.customer_id = c.id and l.burned_at is null
           and (l.entry_id is null or src.released_at is not null)) as lots
    from customer c where c.tenant_id = ${shop.id} and c.id = ${id}`;
  expect(r!.balance).toBe(r!.ledger);
  if (r!.balance >= 0) expect(r!.lots).toBe(r!.balance);
  else expect(r!.debt).toBe(-r!.balance);
  return r!;
}

const entries = (id: string, kind: string) =>
  t.db.sql<{ points: number; idempotency_key: string }[]>`select points::int as points, idempotency_key from ledger_entry where customer_id = ${id} and kind = ${kind} order by id`;

describe("settings", () => {
  test("rule settings are validated and a bad patch changes nothing", async () => {
    const shop = await t.createTenant();
    const g = await t.admin("GET", `/tenants/${shop.slug}/program`);
    expect(g.body).toMatchObject({ welcomePoints: 0, welcomeOn: "registration", birthdayPoints: 0, pointsLifetimeDays: null, expiryReminderDays: 7, tiers: [], tierWindowDays: 365 });
    const tiers = [
      { name: "Серебро", minPurchases: 10000, earnPercent: 7 },
      { name: "Золото", minPurchases: 50000, earnPercent: 10, maxSpendPercent: 50 },
    ];
    const ok = await t.admin("PUT", `/tenants/${shop.slug}/program`, { tiers, pointsLifetimeDays: 180 });
    expect(ok.status).toBe(200);
    expect(ok.body.tiers).toEqual(tiers);
    const cases: [Record<string, unknown>, string][] = [
      [{ tiers: [tiers[1], tiers[0]] }, "tiers[1].minPurchases"],
      [{ tiers: [tiers[0], { ...tiers[1], name: "Серебро" }] }, "tiers[1].name"],
      [{ tiers: [{ name: "X", minPurchases: 5, earnPercent: 1.555 }] }, "tiers[0].earnPercent"],
      [{ pointsLifetimeDays: -1 }, "pointsLifetimeDays"],
      [{ birthdayDaysBefore: 31 }, "birthdayDaysBefore"],
      [{ welcomeOn: "sometimes" }, "welcomeOn"],
      [{ welcomePoints: -5 }, "welcomePoints"],
    ];
    for (const [bad, field] of cases) {
      const r = await t.admin("PUT", `/tenants/${shop.slug}/program`, { earnPercent: 9, ...bad });
      expect(r.status).toBe(400);
      expect(r.body.errors[0].parameter).toBe(field);
    }
    const after = (await t.admin("GET", `/tenants/${shop.slug}/program`)).body;
    expect(after).toMatchObject({ earnPercent: 5, tiers, pointsLifetimeDays: 180 });
  });
});

describe("points that burn", () => {
  test("spends take the soonest-burning lot first; `expiring` lists what is left by date", async () => {
    const shop = await shopWith({ earnPercent: 0 });
    const id = await customer(shop);
    const soon = new Date(Date.now() + 5 * DAY);
    const later = new Date(Date.now() + 20 * DAY);
    await adjust(shop, id, 100, later);
    await adjust(shop, id, 100);
    await adjust(shop, id, 100, soon);
    await buy(shop, id, [{ id: "g", price: 200, quantity: 1, discountedPrice: 50 }], { spend: 150 });
    const v = await view(shop, id);
    expect(v.balance).toBe(150);
    expect(v.expiring).toEqual([{ points: 50, expiresAt: later.toISOString() }]);
    await checkBooks(shop, id);
  });

  test("lifetimes count from the sale's moment; each due lot burns exactly once under concurrent passes", async () => {
    const shop = await shopWith({ earnPercent: 10, pointsLifetimeDays: 30 });
    const id = await customer(shop);
    // A sale 40 days ago (delivered late): its points burned 10 days ago.
    const old = await buy(shop, id, [{ id: "g", price: 1000, quantity: 1 }], { moment: new Date(Date.now() - 40 * DAY) });
    await buy(shop, id, [{ id: "g", price: 500, quantity: 1 }]);
    const [lot] = await t.db.sql<{ expires_at: Date }[]>`select expires_at from points_lot where document_id = ${old.documentId}`;
    const [doc] = await t.db.sql<{ moment: Date }[]>`select moment from document where id = ${old.documentId}`;
    expect(lot!.expires_at.getTime()).toBe(doc!.moment.getTime() + 30 * DAY);
    expect((await view(shop, id)).balance).toBe(150);
    const passes = await Promise.all([runRules(t.db.sql), runRules(t.db.sql), runRules(t.db.sql)]);
    expect(passes.reduce((n, p) => n + p.burned, 0)).toBe(1);
    expect([...(await entries(id, "expiry"))]).toEqual([{ points: -100, idempotency_key: expect.stringMatching(/^expiry:lot:\d+$/) }]);
    await runRules(t.db.sql);
    expect((await entries(id, "expiry")).length).toBe(1);
    const v = await view(shop, id);
    expect(v.balance).toBe(50);
    expect(v.expiring).toHaveLength(1);
    expect(v.expiring[0].points).toBe(50);
    const msg = passes.flatMap((p) => p.messages).find((m) => m.customerId === id);
    expect(msg?.text).toBe("100 баллов сгорели, баланс 50");
    await checkBooks(shop, id);
  });

  test("a return puts spent points back into their lot; a part whose lot burned comes back for 14 days", async () => {
    const shop = await shopWith({ earnPercent: 10, pointsLifetimeDays: 30 });
    const id = await customer(shop);
    // 100 points from a sale whose lot is already due, 100 that never burn.
    await buy(shop, id, [{ id: "g", price: 1000, quantity: 1 }], { moment: new Date(Date.now() - 31 * DAY) });
    await adjust(shop, id, 100);
    await t.admin("PUT", `/tenants/${shop.slug}/program`, { earnPercent: 0 });
    // Spends 150: the due lot's 100 first (soonest), then 50 of the lasting one.
    const spent = await buy(shop, id, [{ id: "g", price: 300, quantity: 1, discountedPrice: 150 }], { spend: 150 });
    expect((await view(shop, id)).balance).toBe(50);
    await giveBack(shop, spent.saleId, [{ id: "g", price: 300, quantity: 1, discountedPrice: 150 }]);
    const v = await view(shop, id);
    expect(v.balance).toBe(200);
    // The burned lot's 100 came back as a new lot burning in 14 days; the lasting lot has its 100 again.
    expect(v.expiring).toHaveLength(1);
    expect(v.expiring[0].points).toBe(100);
    const inDays = (new Date(v.expiring[0].expiresAt).getTime() - Date.now()) / DAY;
    expect(inDays).toBeGreaterThan(13.9);
    expect(inDays).toBeLessThanOrEqual(14);
    // The old lot burns with nothing left in it: no expiry entry.
    await runRules(t.db.sql);
    expect(await entries(id, "expiry")).toHaveLength(0);
    expect((await view(shop, id)).balance).toBe(200);
    await checkBooks(shop, id);
  });

  test("clawback on a return takes from the lot the sale created first", async () => {
    const shop = await shopWith({ earnPercent: 10, pointsLifetimeDays: 365 });
    const id = await customer(shop);
    await adjust(shop, id, 40, new Date(Date.now() + 3 * DAY));
    const s = await buy(shop, id, [{ id: "g", price: 500, quantity: 1 }]);
    expect((await view(shop, id)).balance).toBe(90);
    await giveBack(shop, s.saleId, [{ id: "g", price: 500, quantity: 1 }]);
    const v = await view(shop, id);
    expect(v.balance).toBe(40);
    // The soon-burning 40 is untouched; the sale's own lot is empty.
    expect(v.expiring).toEqual([{ points: 40, expiresAt: expect.any(String) }]);
    const [own] = await t.db.sql<{ remaining: number }[]>`select remaining::int from points_lot where document_id = ${s.documentId}`;
    expect(own!.remaining).toBe(0);
    await checkBooks(shop, id);
  });

  test("burn messages agree with the number: 1, 2, 5, 11, 21, 22, 25, 111 points", async () => {
    const shop = await shopWith({ earnPercent: 100, pointsLifetimeDays: 30, expiryReminderDays: 5 });
    const soon = new Date(Date.now() + 2 * DAY);
    const ns = [1, 2, 5, 11, 21, 22, 25, 111];
    const ids = new Map<string, number>();
    for (const n of ns) {
      const id = await customer(shop);
      ids.set(id, n);
      // n points from a sale 40 days ago (burned 10 days ago), n more burning in 2 days.
      await buy(shop, id, [{ id: "g", price: n, quantity: 1 }], { moment: new Date(Date.now() - 40 * DAY) });
      await adjust(shop, id, n, soon);
    }
    const pass = await runRules(t.db.sql);
    const texts = (kind: "expiry" | "reminder") =>
      ns.map((n) => pass.messages.find((m) => ids.get(m.customerId) === n && m.ref.startsWith(`${kind}-`))?.text.replace(/ \d{1,2} [а-я]+$/, " <дата>"));
    expect(texts("expiry")).toEqual([
      "1 балл сгорел, баланс 1",
      "2 балла сгорели, баланс 2",
      "5 баллов сгорели, баланс 5",
      "11 баллов сгорели, баланс 11",
      "21 балл сгорел, баланс 21",
      "22 балла сгорели, баланс 22",
      "25 баллов сгорели, баланс 25",
      "111 баллов сгорели, баланс 111",
    ]);
    expect(texts("reminder")).toEqual([
      "1 балл сгорит <дата>",
      "2 балла сгорят <дата>",
      "5 баллов сгорят <дата>",
      "11 баллов сгорят <дата>",
      "21 балл сгорит <дата>",
      "22 балла сгорят <дата>",
      "25 баллов сгорят <дата>",
      "111 баллов сгорят <дата>",
    ]);
  });

  test("a saved former default reads as today's; a merchant's own text is used as written, {burnVerb} included", async () => {
    const former = await shopWith({ expiryReminderDays: 5, reminderMessageTemplate: "{points} сгорят {date}", expiryMessageTemplate: "Сгорело {points}, баланс {balance}" });
    const settings = (await t.admin("GET", `/tenants/${former.slug}/program`)).body;
    expect([settings.reminderMessageTemplate, settings.expiryMessageTemplate]).toEqual(["{points} {burnVerb} {date}", "{points} {burnVerb}, баланс {balance}"]);
    const own = await shopWith({ expiryReminderDays: 5, reminderMessageTemplate: "Внимание: {date} {burnVerb} {points}!" });
    const a = await customer(former);
    const b = await customer(own);
    const soon = new Date(Date.now() + 2 * DAY);
    await adjust(former, a, 21, soon);
    await adjust(own, b, 1, soon);
    const pass = await runRules(t.db.sql);
    expect(pass.messages.find((m) => m.customerId === a)?.text).toMatch(/^21 балл сгорит \d{1,2} [а-я]+$/);
    expect(pass.messages.find((m) => m.customerId === b)?.text).toMatch(/^Внимание: \d{1,2} [а-я]+ сгорит 1 балл!$/);
  });

  test("a reminder once per customer and burn date", async () => {
    const shop = await shopWith({ earnPercent: 0, expiryReminderDays: 5 });
    const id = await customer(shop);
    const at = new Date("2030-12-15T09:00:00Z");
    const soon = new Date(Date.now() + 3 * DAY);
    await adjust(shop, id, 70, soon);
    await adjust(shop, id, 50, soon);
    await adjust(shop, id, 30, at);
    const [a, b] = await Promise.all([runRules(t.db.sql), runRules(t.db.sql)]);
    const mine = [...a!.messages, ...b!.messages].filter((m) => m.customerId === id);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.text).toMatch(/^120 баллов сгорят \d{1,2} [а-я]+$/);
    expect((await runRules(t.db.sql)).messages.filter((m) => m.customerId === id)).toEqual([]);
  });
});

describe("levels", () => {
  const tiers = [
    { name: "Серебро", minPurchases: 1000, earnPercent: 7 },
    { name: "Золото", minPurchases: 5000, earnPercent: 10, maxSpendPercent: 50 },
  ];

  test("up on a sale, applied at the till, down on a return; the customer is told", async () => {
    const shop = await shopWith({ tiers });
    const id = await customer(shop);
    expect((await view(shop, id)).tier).toEqual({ name: "Базовый", earnPercent: 5, nextTier: "Серебро", toNextTier: 1000 });
    const s = await buy(shop, id, [{ id: "g", price: 1200, quantity: 1 }]);
    expect((await view(shop, id)).tier).toEqual({ name: "Серебро", earnPercent: 7, nextTier: "Золото", toNextTier: 3800 });
    const [doc] = await t.db.sql<{ notice_text: string }[]>`select notice_text from document where id = ${s.documentId}`;
    expect(doc!.notice_text).toBe("+60 баллов, баланс 60. Ваш уровень: Серебро — 7% баллами");
    const recalc = await t.pos(shop.apiToken, "POST", "/retaildemand/recalc", {
      agent: { meta: { id } },
      positions: [{ assortment: { meta: { id: "g" } }, price: 1000, quantity: 1 }],
      bonusProgram: { transactionType: "EARNING" },
    });
    expect(recalc.body.bonusProgram.bonusValueToEarn).toBe(70);
    // The sale earns what recalc showed.
    const s2 = await buy(shop, id, [{ id: "g", price: 1000, quantity: 1 }]);
    const [d2] = await t.db.sql<{ points_earned: number }[]>`select points_earned::int from document where id = ${s2.documentId}`;
    expect(d2!.points_earned).toBe(70);
    await giveBack(shop, s.saleId, [{ id: "g", price: 1200, quantity: 1 }]);
    await giveBack(shop, s2.saleId, [{ id: "g", price: 1000, quantity: 1 }]);
    expect((await view(shop, id)).tier.name).toBe("Базовый");
    await checkBooks(shop, id);
  });

  test("the top level caps spending at the till; old purchases leave the window at the daily check", async () => {
    const shop = await shopWith({ tiers, tierWindowDays: 365 });
    const id = await customer(shop);
    await buy(shop, id, [{ id: "g", price: 6000, quantity: 1 }], { moment: new Date(Date.now() - 200 * DAY) });
    expect((await view(shop, id)).tier.name).toBe("Золото");
    const recalc = await t.pos(shop.apiToken, "POST", "/retaildemand/recalc", {
      agent: { meta: { id } },
      positions: [{ assortment: { meta: { id: "g" } }, price: 100, quantity: 1 }],
      bonusProgram: { transactionType: "SPENDING" },
    });
    expect(recalc.body.bonusProgram.bonusValueToSpend).toBe(50);
    await t.admin("PUT", `/tenants/${shop.slug}/program`, { tierWindowDays: 100 });
    // Checked today already (at settlement): the daily check comes tomorrow.
    await runRules(t.db.sql);
    expect((await view(shop, id)).tier.name).toBe("Золото");
    const tomorrow = await runRules(t.db.sql, new Date(Date.now() + DAY));
    expect((await view(shop, id)).tier.name).toBe("Базовый");
    expect(tomorrow.messages.filter((m) => m.customerId === id).map((m) => m.text)).toEqual(["Ваш уровень: Базовый — 5% баллами"]);
  });
});

describe("promotions", () => {
  test("admin CRUD, validation, and ending keeps it in the history", async () => {
    const shop = await t.createTenant();
    const base = `/tenants/${shop.slug}/promotions`;
    const created = await t.admin("POST", base, {
      name: "Выходные",
      startsAt: "2026-12-01 00:00:00",
      endsAt: "2026-12-31 23:59:59",
      weekdays: [6, 7],
      earnMultiplier: 2,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "Выходные", startsAt: "2026-11-30T21:00:00.000Z", weekdays: [6, 7], earnMultiplier: 2, earnPercent: null, endedAt: null });
    const bad: [Record<string, unknown>, string][] = [
      [{ name: "x", startsAt: "2026-12-02 00:00:00", endsAt: "2026-12-01 00:00:00", earnPercent: 5 }, "endsAt"],
      [{ name: "x", startsAt: "2026-12-01 00:00:00", endsAt: "2026-12-02 00:00:00", earnPercent: 5, earnMultiplier: 2 }, "earnPercent"],
      [{ name: "x", startsAt: "вчера", endsAt: "2026-12-02 00:00:00", earnPercent: 5 }, "startsAt"],
      [{ name: "x", startsAt: "2026-12-01 00:00:00", endsAt: "2026-12-02 00:00:00", earnPercent: 5, hours: { from: "25:00", to: "10:00" } }, "hours.from"],
      [{ name: "x", startsAt: "2026-12-01 00:00:00", endsAt: "2026-12-02 00:00:00", earnPercent: 5, weekdays: [8] }, "weekdays"],
    ];
    for (const [body, field] of bad) {
      const r = await t.admin("POST", base, body);
      expect(r.status).toBe(400);
      expect(r.body.errors[0].parameter).toBe(field);
    }
    const upd = await t.admin("PUT", `${base}/${created.body.id}`, { earnPercent: 12 });
    expect(upd.body).toMatchObject({ earnPercent: 12, earnMultiplier: null, weekdays: [6, 7] });
    expect((await t.admin("DELETE", `${base}/${created.body.id}`)).status).toBe(204);
    const list = await t.admin("GET", base);
    expect(list.body.rows).toHaveLength(1);
    expect(list.body.rows[0].endedAt).not.toBeNull();
    expect((await t.admin("PUT", `${base}/${created.body.id}`, { earnPercent: 1 })).status).toBe(409);
    expect((await t.admin("DELETE", `${base}/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
  });

  test("recalc names the promotion and the sale earns what recalc showed; the most generous rate per line", async () => {
    const shop = await t.createTenant();
    const id = await customer(shop);
    const hour = 3600_000;
    const window = { startsAt: new Date(Date.now() - hour).toISOString(), endsAt: new Date(Date.now() + hour).toISOString() };
    await t.admin("POST", `/tenants/${shop.slug}/promotions`, { name: "Тройные баллы", ...window, earnMultiplier: 3 });
    await t.admin("POST", `/tenants/${shop.slug}/promotions`, { name: "Кофе 20%", ...window, earnPercent: 20, assortmentIds: ["coffee"] });
    const positions = [
      { assortment: { meta: { id: "coffee" } }, price: 100, quantity: 1 },
      { assortment: { meta: { id: "tea" } }, price: 100, quantity: 1 },
    ];
    const recalc = await t.pos(shop.apiToken, "POST", "/retaildemand/recalc", { agent: { meta: { id } }, positions, bonusProgram: { transactionType: "EARNING" } });
    // coffee 20% (beats 3 × 5%), tea 15%.
    expect(recalc.body.bonusProgram.bonusValueToEarn).toBe(35);
    expect(recalc.body.bonusProgram.receiptExtraInfo).toContain("Акция: Кофе 20%");
    expect(recalc.body.bonusProgram.receiptExtraInfo).toContain("Акция: Тройные баллы");
    const s = await buy(shop, id, [{ id: "coffee", price: 100, quantity: 1 }, { id: "tea", price: 100, quantity: 1 }]);
    const [d] = await t.db.sql<{ points_earned: number }[]>`select points_earned::int from document where id = ${s.documentId}`;
    expect(d!.points_earned).toBe(35);
  });

  test("weekday and hour boundaries, in the merchant's zone", async () => {
    const shop = await t.createTenant();
    const id = await customer(shop);
    await t.admin("POST", `/tenants/${shop.slug}/promotions`, {
      name: "Субботнее утро",
      startsAt: "2026-01-01 00:00:00",
      endsAt: "2027-01-01 00:00:00",
      weekdays: [6],
      hours: { from: "10:00", to: "12:00" },
      earnPercent: 50,
    });
    // 2026-11-28 is a Saturday, 2026-11-27 a Friday (Moscow wall clock = the merchant's zone).
    const earned = async (moment: string) => {
      const s = sale({ customerId: id, lines: [{ id: "g", price: 100, quantity: 1 }], moment });
      const r = await t.pos(shop.apiToken, "POST", "/retaildemand", s.body);
      await settleDocument(t.db.sql, shop.id, r.body.id);
      const [d] = await t.db.sql<{ points_earned: number }[]>`select points_earned::int from document where id = ${r.body.id}`;
      return d!.points_earned;
    };
    expect(await earned("2026-11-28 09:59:59")).toBe(5);
    expect(await earned("2026-11-28 10:00:00")).toBe(50);
    expect(await earned("2026-11-28 11:59:59")).toBe(50);
    expect(await earned("2026-11-28 12:00:00")).toBe(5);
    expect(await earned("2026-11-27 11:00:00")).toBe(5);
  });

  test("promotion windows read in another zone, including one past midnight", () => {
    const p = (over: Partial<Promotion>): Promotion => ({
      id: "p",
      name: "p",
      startsAt: new Date("2026-01-01T00:00:00Z"),
      endsAt: new Date("2027-01-01T00:00:00Z"),
      weekdays: null,
      hours: null,
      assortmentIds: null,
      earnPercent: 10,
      earnMultiplier: null,
      endedAt: null,
      ...over,
    });
    const zone = "Asia/Vladivostok"; // UTC+10
    const at = (local: string) => readMoment(local, zone)!;
    const morning = p({ hours: { from: "10:00", to: "12:00" } });
    expect(promotionApplies(morning, at("2026-11-28 10:00:00"), zone)).toBe(true);
    expect(promotionApplies(morning, new Date("2026-11-28T10:30:00Z"), zone)).toBe(false); // 20:30 there
    const night = p({ hours: { from: "22:00", to: "02:00" }, weekdays: [5] });
    expect(promotionApplies(night, at("2026-11-27 23:00:00"), zone)).toBe(true); // Friday night
    expect(promotionApplies(night, at("2026-11-28 01:59:00"), zone)).toBe(true); // still Friday's night
    expect(promotionApplies(night, at("2026-11-28 02:00:00"), zone)).toBe(false);
    expect(promotionApplies(night, at("2026-11-28 23:00:00"), zone)).toBe(false); // Saturday night
    const ranged = p({ startsAt: at("2026-12-01 00:00:00"), endsAt: at("2026-12-02 00:00:00") });
    expect(promotionApplies(ranged, at("2026-11-30 23:59:59"), zone)).toBe(false);
    expect(promotionApplies(ranged, at("2026-12-01 00:00:00"), zone)).toBe(true);
    expect(promotionApplies(ranged, at("2026-12-02 00:00:00"), zone)).toBe(false);
  });
});

describe("gifts", () => {
  test("welcome on registration, once", async () => {
    const shop = await shopWith({ welcomePoints: 100, welcomePointsLifetimeDays: 30 });
    const phone = "+79170000001";
    const a = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, statusCheck: "IGNORE" });
    expect(a.body.bonusProgram?.agentBonusBalance ?? (await view(shop, a.body.id)).balance).toBe(100);
    const again = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, statusCheck: "IGNORE", name: "Анна" });
    expect(again.body.id).toBe(a.body.id);
    expect(await entries(a.body.id, "welcome")).toHaveLength(1);
    const v = await view(shop, a.body.id);
    expect(v.balance).toBe(100);
    expect(v.expiring).toHaveLength(1);
    await checkBooks(shop, a.body.id);
  });

  test("welcome on the first settled purchase, never on the second", async () => {
    const shop = await shopWith({ welcomePoints: 50, welcomeOn: "firstPurchase" });
    const id = await customer(shop);
    expect((await view(shop, id)).balance).toBe(0);
    const first = await buy(shop, id, [{ id: "g", price: 100, quantity: 1 }]);
    await buy(shop, id, [{ id: "g", price: 100, quantity: 1 }]);
    expect(await entries(id, "welcome")).toHaveLength(1);
    expect((await view(shop, id)).balance).toBe(60);
    const [d] = await t.db.sql<{ notice_text: string }[]>`select notice_text from document where id = ${first.documentId}`;
    expect(d!.notice_text).toBe("+5 баллов, баланс 55. Добро пожаловать! Дарим вам 50 баллов, баланс 55");
  });

  test("birthday: N days early, once however many passes run", async () => {
    const shop = await shopWith({ birthdayPoints: 200, birthdayDaysBefore: 3 });
    const local = localTime(new Date(Date.now() + 3 * DAY), "Europe/Moscow");
    const id = await customer(shop, { birthDate: `1990-${local.date.slice(5)} 00:00:00` });
    const other = await customer(shop, { birthDate: `1990-${localTime(new Date(Date.now() + 10 * DAY), "Europe/Moscow").date.slice(5)} 00:00:00` });
    const passes = await Promise.all([runRules(t.db.sql), runRules(t.db.sql)]);
    expect(passes.reduce((n, p) => n + p.birthdays, 0)).toBe(1);
    await runRules(t.db.sql);
    expect([...(await entries(id, "birthday"))]).toEqual([{ points: 200, idempotency_key: `birthday:${id}:${local.year}` }]);
    expect(await entries(other, "birthday")).toHaveLength(0);
    await checkBooks(shop, id);
  });

  test("birthday days: 29 February, catching up after downtime, across the new year", () => {
    expect(birthdayIn("2000-02-29", 2027)).toBe("2027-02-28");
    expect(birthdayIn("2000-02-29", 2028)).toBe("2028-02-29");
    expect(birthdayDue("2000-02-29", "2027-02-28", 0)).toBe(2027);
    expect(birthdayDue("2000-02-29", "2027-02-27", 0)).toBeNull();
    expect(birthdayDue("1990-06-10", "2026-06-16", 0)).toBe(2026); // six days late: still given
    expect(birthdayDue("1990-06-10", "2026-06-17", 0)).toBeNull(); // a week late: gone
    expect(birthdayDue("1990-01-02", "2026-12-28", 5)).toBe(2027);
  });
});
