// The customer's card over HTTP (in process, real Postgres and Redis, no workers: documents
// are settled by calling the settlement service, so every step is deterministic):
// card page, token rotation, self-registration steps and their errors, referrals.
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { sameEscapes } from "./support/runtime.ts";
import { ledgerKey } from "../src/loyalty/ledger-keys.ts";
import { settleDocument } from "../src/loyalty/settlement.ts";
import { Elysia } from "elysia";
import { cardController } from "../src/card/controller.tsx";
import { httpErrors } from "../src/http-errors.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { type TestQueues, testQueues } from "./support/redis.ts";
import { sale, saleReturn } from "./support/sales.ts";

let t: TestContext;
let tq: TestQueues;
let shop: TestTenant;

beforeAll(async () => {
  tq = await testQueues();
  t = await testContext({ queues: tq.queues });
  shop = await t.createTenant();
  const p = await t.admin("PUT", `/tenants/${shop.slug}/program`, { referrerPoints: 300, referredPoints: 150, earnPercent: 10 });
  expect(p.status).toBe(200);
  expect(p.body).toMatchObject({ referrerPoints: 300, referredPoints: 150 });
});
afterAll(async () => {
  await t?.close();
  await tq?.close();
});

let phoneSeq = 0;
const newPhone = () => `+7916${String(process.pid % 1000).padStart(3, "0")}${String(++phoneSeq).padStart(4, "0")}`;

async function posCustomer(name = "Анна Петрова") {
  const phone = newPhone();
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, name, statusCheck: "IGNORE" });
  expect(c.status).toBe(201);
  const [row] = await t.db.sql<{ qr_token: string }[]>`select qr_token from customer where id = ${c.body.id}`;
  return { id: c.body.id as string, phone, token: row!.qr_token };
}

const form = (fields: Record<string, string>) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(fields).toString(),
  redirect: "manual" as const,
});

/** The code the join page sent, read from its row (the SMS worker is not running here). */
async function lastCode(phoneDigits: string): Promise<string> {
  const [row] = await t.db.sql<{ code: string }[]>`
    select code from verification_code where phone = ${phoneDigits} and code is not null order by created_at desc limit 1`;
  return row!.code;
}

const digits = (p: string) => p.replace(/\D/g, "");

/** Runs the join pages as a browser would (forms) and returns the card path it lands on. */
async function join(phone: string, ref: string | null, name = "Борис", slug = shop.slug) {
  const extra: Record<string, string> = ref ? { ref } : {};
  const code = await t.fetch(`/join/${slug}/code`, form({ phone, ...extra }));
  expect(code.status).toBe(200);
  expect(String(code.body)).toContain("Введите код из SMS");
  const confirm = await t.fetch(`/join/${slug}/confirm`, form({ phone, code: await lastCode(digits(phone)), ...extra }));
  if (confirm.status === 303) return confirm.headers.get("location")!;
  expect(confirm.status).toBe(200);
  const session = /name="session" value="([^"]+)"/.exec(String(confirm.body))![1]!;
  const done = await t.fetch(`/join/${slug}/details`, form({ session, name, birthDate: "1990-05-17", personalData: "yes" }));
  expect(done.status).toBe(303);
  return done.headers.get("location")!;
}

const customerByPhone = async (phone: string) =>
  (await t.db.sql<{ id: string; qr_token: string; balance: number; name: string; personal_data_consent_at: Date | null; advertising_consent_at: Date | null }[]>`
    select id, qr_token, balance::int as balance, name, personal_data_consent_at, advertising_consent_at from customer where phone = ${digits(phone)}`)[0];

async function settleSale(customerId: string, rubles: number) {
  const s = sale({ customerId, lines: [{ id: "p1", price: rubles, quantity: 1 }], earn: rubles / 10, cash: rubles });
  const r = await t.pos(shop.apiToken, "POST", "/retaildemand", s.body);
  expect(r.status).toBe(201);
  return { meta: s.id, documentId: r.body.id as string };
}

describe("card page", () => {
  test("shows the shop, the first name, a QR code, balance, pending, history in words and the invite link", async () => {
    const c = await posCustomer("Анна Петрова");
    await t.admin("POST", `/tenants/${shop.slug}/customers/${c.id}/adjustments`, { points: 250, reason: "подарок" });
    const s = await settleSale(c.id, 1000);
    await settleDocument(t.db.sql, shop.id, s.documentId);
    const r = await t.fetch(`/card/${c.token}`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/html");
    const html = String(r.body);
    expect(html).toContain(`Магазин ${shop.slug}`);
    expect(html).toContain("Анна, ваша карта");
    expect(html).toMatch(/<svg[^>]*viewBox/);
    expect(html).toContain('id="balance">350<');
    expect(html).toMatch(/\+100 за покупку \d+ [а-я]+/);
    expect(html).toMatch(/\+250 начислено магазином \d+ [а-я]+/);
    expect(html).toMatch(new RegExp(`/join/${shop.slug}\\?ref=[A-Za-z0-9]{10}`));
    // Level and burn come from the program rules; without them nothing is shown.
    expect(html).not.toContain('id="level"');
    expect(html).not.toContain('id="next-burn"');
  });

  test("with levels and burning points the card shows the level, what is left to the next one and the next burn", async () => {
    const other = await t.createTenant();
    const put = await t.admin("PUT", `/tenants/${other.slug}/program`, {
      timezone: "Asia/Vladivostok",
      tiers: [{ name: "Серебро", minPurchases: 5000, earnPercent: 7 }],
      referredPoints: 1,
      referrerPoints: 2,
    });
    expect(put.status).toBe(200);
    const c = await t.pos(other.apiToken, "POST", "/counterparty", { phone: newPhone(), name: "Вера", statusCheck: "IGNORE" });
    const [row] = await t.db.sql<{ qr_token: string }[]>`select qr_token from customer where id = ${c.body.id}`;
    // 121 points that burn at 20:00 UTC on 10 December 2030: 11 December in Vladivostok.
    const a = await t.admin("POST", `/tenants/${other.slug}/customers/${c.body.id}/adjustments`, {
      points: 121,
      reason: "акция",
      expiresAt: "2030-12-10T20:00:00Z",
    });
    expect(a.status).toBe(201);
    const html = sameEscapes(String((await t.fetch(`/card/${row!.qr_token}`)).body));
    expect(html).toContain('id="level"');
    expect(html).toContain("Уровень: <strong>Базовый</strong>");
    expect(html).toContain("до уровня «Серебро» осталось 5");
    // Russian number agreement: «121 балл», «1 балл», «2 балла».
    expect(html).toContain("11 декабря сгорит 121 балл<");
    expect(html).toContain("Друг получит 1 балл, а вы — 2 балла, когда он сделает первую покупку.");
  });

  test("Web Push and the Wallet buttons appear only when configured", async () => {
    const c = await posCustomer();
    const page = async (opts: { push: boolean; appleWallet: boolean; googleWallet: boolean }) => {
      const app = new Elysia().use(httpErrors).use(cardController(t.deps, opts));
      return (await app.handle(new Request(`http://loyalty.test/card/${c.token}`))).text();
    };
    const off = await page({ push: false, appleWallet: false, googleWallet: false });
    expect(off).toContain('id="balance"');
    expect(off).not.toContain('id="push-button"');
    expect(off).not.toContain("wallet.pkpass");
    expect(off).not.toContain("/wallet/google");
    const on = await page({ push: true, appleWallet: true, googleWallet: true });
    expect(on).toContain('id="push-button"');
    expect(on).toContain(`/card/${c.token}/wallet.pkpass`);
    expect(on).toContain(`/card/${c.token}/wallet/google`);
    // The app under test has no VAPID keys and no Wallet in its environment: none of them.
    const app = String((await t.fetch(`/card/${c.token}`)).body);
    if (!process.env.VAPID_PUBLIC_KEY) expect(app).not.toContain('id="push-button"');
    if (!process.env.APPLE_PASS_TYPE_ID) expect(app).not.toContain("wallet.pkpass");
    if (!process.env.GOOGLE_WALLET_ISSUER_ID) expect(app).not.toContain("/wallet/google");
    // The Wallet routes answer as an unknown card while Wallet is off.
    expect((await t.fetch(`/card/${c.token}/wallet.pkpass`)).status).toBe(process.env.APPLE_PASS_TYPE_ID ? 200 : 404);
  });

  test("an unknown token is a Russian 404 page that says nothing about the token", async () => {
    for (const token of ["AAAAAAAAAAAAAAAAAAAAAA", "x", "%3Cscript%3E"]) {
      const r = await t.fetch(`/card/${token}`);
      expect({ token, status: r.status }).toEqual({ token, status: 404 });
      expect(String(r.body)).toContain("Карта не найдена");
      expect(String(r.body)).not.toContain("<script>");
    }
  });

  test("a new token: the old link and the old QR stop working at once", async () => {
    const c = await posCustomer();
    expect(c.token.length).toBeGreaterThanOrEqual(22); // 128 bits in base64url
    const oldUrl = `http://loyalty.test/card/${c.token}`;
    expect((await t.pos(shop.apiToken, "GET", `/counterparty?search=${encodeURIComponent(oldUrl)}`)).body.rows).toHaveLength(1);
    const r = await t.admin("POST", `/tenants/${shop.slug}/customers/${c.id}/card-token`);
    expect(r.status).toBe(201);
    expect(r.body.token).not.toBe(c.token);
    expect(r.body.url).toBe(`${t.deps.config.publicUrl}/card/${r.body.token}`);
    expect((await t.fetch(`/card/${c.token}`)).status).toBe(404);
    expect((await t.fetch(`/card/${r.body.token}`)).status).toBe(200);
    expect((await t.pos(shop.apiToken, "GET", `/counterparty?search=${encodeURIComponent(oldUrl)}`)).body.rows).toHaveLength(0);
    const found = await t.pos(shop.apiToken, "GET", `/counterparty?search=${encodeURIComponent(r.body.url)}`);
    expect(found.body.rows.map((x: any) => x.id)).toEqual([c.id]);
    // Unknown customer, no token, wrong admin token.
    expect((await t.admin("POST", `/tenants/${shop.slug}/customers/00000000-0000-4000-8000-000000000000/card-token`)).status).toBe(404);
    expect((await t.admin("POST", `/tenants/${shop.slug}/customers/nope/card-token`)).status).toBe(404);
    expect((await t.fetch(`/admin/v1/tenants/${shop.slug}/customers/${c.id}/card-token`, { method: "POST" })).status).toBe(401);
  });

  test("a customer registered at the till gets the card link by SMS (a job per customer, once)", async () => {
    const c = await posCustomer();
    const job = await tq.queues.notifications.getJob(`card-${c.id}`);
    expect(job?.data).toEqual({ type: "card", tenantId: shop.id, customerId: c.id });
    // Posting the same customer again links, creates nothing, queues nothing new.
    await t.pos(shop.apiToken, "POST", "/counterparty", { phone: c.phone, statusCheck: "IGNORE" });
    expect((await tq.queues.notifications.getJobs(["waiting", "prioritized", "delayed"])).filter((j) => j.id === `card-${c.id}`)).toHaveLength(1);
  });
});

describe("self-registration", () => {
  test("phone → code → name, birthday, consents → the card; consents are recorded", async () => {
    const phone = newPhone();
    const page = await t.fetch(`/join/${shop.slug}`);
    expect(page.status).toBe(200);
    expect(String(page.body)).toContain("Получите карту покупателя");
    const code = await t.fetch(`/join/${shop.slug}/code`, form({ phone }));
    const confirm = await t.fetch(`/join/${shop.slug}/confirm`, form({ phone, code: await lastCode(digits(phone)) }));
    expect(confirm.status).toBe(200);
    const html = String(confirm.body);
    expect(html).toContain("152-ФЗ");
    const session = /name="session" value="([^"]+)"/.exec(html)![1]!;
    // No consent to personal data: no card, the form says why and keeps what was typed.
    const refused = await t.fetch(`/join/${shop.slug}/details`, form({ session, name: "Вера", birthDate: "" }));
    expect(refused.status).toBe(400);
    expect(String(refused.body)).toContain("Без согласия на обработку персональных данных");
    expect(await customerByPhone(phone)).toBeUndefined();
    expect(code.status).toBe(200);
    const done = await t.fetch(`/join/${shop.slug}/details`, form({ session, name: "Вера", birthDate: "1991-02-03", personalData: "yes", advertising: "yes" }));
    expect(done.status).toBe(303);
    const c = (await customerByPhone(phone))!;
    expect(done.headers.get("location")).toBe(`/card/${c.qr_token}`);
    expect(c.name).toBe("Вера");
    expect(c.personal_data_consent_at).not.toBeNull();
    expect(c.advertising_consent_at).not.toBeNull();
    expect((await tq.queues.notifications.getJob(`card-${c.id}`))?.data.type).toBe("card");
    // The session is used up.
    expect((await t.fetch(`/join/${shop.slug}/details`, form({ session, name: "Вера", personalData: "yes" }))).status).toBe(400);
  });

  test("an existing phone gets its existing card after the code, never a second customer", async () => {
    const c = await posCustomer();
    const to = await join(c.phone, null);
    expect(to).toBe(`/card/${c.token}`);
    const [n] = await t.db.sql<{ n: number }[]>`select count(*)::int as n from customer where phone = ${digits(c.phone)}`;
    expect(n!.n).toBe(1);
  });

  test("the program's welcome points are given on self-registration too", async () => {
    const other = await t.createTenant();
    expect((await t.admin("PUT", `/tenants/${other.slug}/program`, { welcomePoints: 75 })).status).toBe(200);
    const phone = newPhone();
    const to = await join(phone, null, "Нина", other.slug);
    const c = (await customerByPhone(phone))!;
    expect(to).toBe(`/card/${c.qr_token}`);
    expect(c.balance).toBe(75);
    const [w] = await t.db.sql<{ n: number; key: string }[]>`
      select count(*)::int as n, max(idempotency_key) as key from ledger_entry where customer_id = ${c.id} and kind = 'welcome'`;
    expect(w).toEqual({ n: 1, key: ledgerKey.welcome(c.id) });
    expect(String((await t.fetch(to)).body)).toMatch(/\+75 приветственные баллы \d+ [а-я]+/);
    // The welcome message is queued like the one for a customer registered at the till.
    const jobs = await tq.queues.notifications.getJobs(["waiting", "prioritized", "delayed"]);
    expect(jobs.some((j) => j.data.type === "points" && j.data.customerId === c.id && j.data.documentId === `welcome-${c.id}`)).toBe(true);
  });

  test("wrong codes: a clear message, and the fifth withdraws the code", async () => {
    const phone = newPhone();
    await t.fetch(`/join/${shop.slug}/code`, form({ phone }));
    const right = await lastCode(digits(phone));
    const wrong = right === "000000" ? "111111" : "000000";
    for (let i = 1; i <= 4; i++) {
      const r = await t.fetch(`/join/${shop.slug}/confirm`, form({ phone, code: wrong }));
      expect(r.status).toBe(400);
      expect(String(r.body)).toContain("Код не подходит");
    }
    const fifth = await t.fetch(`/join/${shop.slug}/confirm`, form({ phone, code: wrong }));
    expect(String(fifth.body)).toContain("Слишком много неверных попыток");
    const late = await t.fetch(`/join/${shop.slug}/confirm`, form({ phone, code: right }));
    expect(late.status).toBe(400);
    expect(String(late.body)).toContain("Запросите новый код");
  });

  test("the code rules apply: a second code too soon is refused in words; bad phone and unknown shop too", async () => {
    const phone = newPhone();
    expect((await t.fetch(`/join/${shop.slug}/code`, form({ phone }))).status).toBe(200);
    const again = await t.fetch(`/join/${shop.slug}/code`, form({ phone }));
    expect(again.status).toBe(400);
    expect(String(again.body)).toContain("Новый код можно запросить через");
    const bad = await t.fetch(`/join/${shop.slug}/code`, form({ phone: '12"><i>3' }));
    expect(bad.status).toBe(400);
    expect(String(bad.body)).toContain("Введите номер телефона полностью");
    expect(String(bad.body)).not.toContain('"><i>');
    const unknown = await t.fetch(`/join/no-such-shop`);
    expect(unknown.status).toBe(404);
    expect(String(unknown.body)).toContain("Магазин не найден");
    const garbage = await t.fetch(`/join/${shop.slug}/details`, form({ session: "nope", name: "x", personalData: "yes" }));
    expect(garbage.status).toBe(400);
    expect(String(garbage.body)).toContain("Сессия регистрации устарела");
  });
});

describe("referrals", () => {
  async function referralCodeOf(token: string): Promise<string> {
    const html = String((await t.fetch(`/card/${token}`)).body);
    return /\?ref=([A-Za-z0-9]+)/.exec(html)![1]!;
  }
  const referralEntries = async (customerId: string) => [
    ...(await t.db.sql<{ points: number; idempotency_key: string }[]>`
      select points::int as points, idempotency_key from ledger_entry where customer_id = ${customerId} and kind = 'referral' order by id`),
  ];

  test("the friend's first settled sale gives both their points, once", async () => {
    const inviter = await posCustomer("Игорь");
    const ref = await referralCodeOf(inviter.token);
    const phone = newPhone();
    await join(phone, ref, "Ольга");
    const friend = (await customerByPhone(phone))!;
    const first = await settleSale(friend.id, 500);
    // Nothing before the sale settles.
    expect(await referralEntries(friend.id)).toHaveLength(0);
    await settleDocument(t.db.sql, shop.id, first.documentId);
    await settleDocument(t.db.sql, shop.id, first.documentId); // a redelivered job
    expect(await referralEntries(friend.id)).toEqual([{ points: 150, idempotency_key: ledgerKey.referred(friend.id) }]);
    expect(await referralEntries(inviter.id)).toEqual([{ points: 300, idempotency_key: ledgerKey.referrer(friend.id) }]);
    const second = await settleSale(friend.id, 700);
    await settleDocument(t.db.sql, shop.id, second.documentId);
    expect(await referralEntries(friend.id)).toHaveLength(1);
    expect(await referralEntries(inviter.id)).toHaveLength(1);
    const card = String((await t.fetch(`/card/${inviter.token}`)).body);
    expect(card).toMatch(/\+300 за приглашённого друга/);
    const friendCard = String((await t.fetch(`/card/${friend.qr_token}`)).body);
    expect(friendCard).toMatch(/\+150 за покупку по приглашению/);
  });

  test("no points when that first sale is returned in full before it settles", async () => {
    const inviter = await posCustomer("Пётр");
    const phone = newPhone();
    await join(phone, await referralCodeOf(inviter.token));
    const friend = (await customerByPhone(phone))!;
    const s = await settleSale(friend.id, 400);
    const ret = saleReturn({ saleId: s.meta, lines: [{ id: "p1", price: 400, quantity: 1 }] });
    expect((await t.pos(shop.apiToken, "POST", "/retailsalesreturn", ret.body)).status).toBe(201);
    await settleDocument(t.db.sql, shop.id, s.documentId);
    expect(await referralEntries(friend.id)).toHaveLength(0);
    expect(await referralEntries(inviter.id)).toHaveLength(0);
    const [r] = await t.db.sql`select state from referral where referred_id = ${friend.id}`;
    expect(r!.state).toBe("void");
  });

  test("the invitation says who gets points: both, only the friend, only the inviter, nobody", async () => {
    const cases = [
      {
        settings: { referredPoints: 150, referrerPoints: 300 },
        card: "Друг получит 150 баллов, а вы — 300 баллов, когда он сделает первую покупку.",
        join: "Вас пригласил друг: после первой покупки вы получите 150 баллов, а он — 300 баллов.",
      },
      {
        settings: { referredPoints: 21, referrerPoints: 0 },
        card: "Друг получит 21 балл, когда сделает первую покупку.",
        join: "Вас пригласил друг: после первой покупки вы получите 21 балл.",
      },
      {
        settings: { referredPoints: 0, referrerPoints: 2 },
        card: "Вы получите 2 балла, когда друг сделает первую покупку.",
        join: "Вас пригласил друг: после вашей первой покупки он получит 2 балла.",
      },
      { settings: { referredPoints: 0, referrerPoints: 0 }, card: "Отправьте другу ссылку: по ней он получит свою карту.", join: null },
    ];
    for (const c of cases) {
      const other = await t.createTenant();
      expect((await t.admin("PUT", `/tenants/${other.slug}/program`, c.settings)).status).toBe(200);
      const created = await t.pos(other.apiToken, "POST", "/counterparty", { phone: newPhone(), name: "Ия", statusCheck: "IGNORE" });
      const [row] = await t.db.sql<{ qr_token: string }[]>`select qr_token from customer where id = ${created.body.id}`;
      const card = sameEscapes(String((await t.fetch(`/card/${row!.qr_token}`)).body));
      const invite = /<h2>Пригласите друга<\/h2>\s*<p class="hint">([\s\S]*?)<\/p>/.exec(card)![1]!.replace(/<[^>]+>/g, "").trim();
      expect(invite).toBe(c.card);
      expect(invite).not.toMatch(/(?<!\d)0 балл/);
      const ref = /\?ref=([A-Za-z0-9]+)/.exec(card)![1]!;
      const join = sameEscapes(String((await t.fetch(`/join/${other.slug}?ref=${ref}`)).body));
      const notice = /class="notice ok"[^>]*>([\s\S]*?)<\//.exec(join)?.[1]?.trim() ?? null;
      expect(notice).toBe(c.join);
    }
  });

  test("never for oneself: one's own invite link just opens one's own card", async () => {
    const me = await posCustomer("Сам");
    const to = await join(me.phone, await referralCodeOf(me.token));
    expect(to).toBe(`/card/${me.token}`);
    const [n] = await t.db.sql<{ n: number }[]>`select count(*)::int as n from referral where referred_id = ${me.id} or referrer_id = ${me.id}`;
    expect(n!.n).toBe(0);
  });

  test("an unknown referral code registers the customer without a referral", async () => {
    const phone = newPhone();
    await join(phone, "Zzzzzzzzzz");
    const c = (await customerByPhone(phone))!;
    const [n] = await t.db.sql<{ n: number }[]>`select count(*)::int as n from referral where referred_id = ${c.id}`;
    expect(n!.n).toBe(0);
  });
});

describe("card settings", () => {
  test("the merchant's consent text and card SMS template; the template must hold {url}", async () => {
    const got = await t.admin("GET", `/tenants/${shop.slug}/card-settings`);
    expect(got.body.cardMessageTemplate).toBe("{shop}: ваша карта {url}");
    const bad = await t.admin("PUT", `/tenants/${shop.slug}/card-settings`, { cardMessageTemplate: "без ссылки" });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].parameter).toBe("cardMessageTemplate");
    const put = await t.admin("PUT", `/tenants/${shop.slug}/card-settings`, { consentText: "Согласие <b>магазина</b>" });
    expect(put.body.consentText).toBe("Согласие <b>магазина</b>");
    const phone = newPhone();
    await t.fetch(`/join/${shop.slug}/code`, form({ phone }));
    const page = String((await t.fetch(`/join/${shop.slug}/confirm`, form({ phone, code: await lastCode(digits(phone)) }))).body);
    expect(sameEscapes(page)).toContain("Согласие &lt;b>магазина&lt;/b>");
  });
});
