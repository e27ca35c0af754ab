import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { settleDocument } from "../src/loyalty/settlement.ts";
import { giftCardStatus, parseExpireDate } from "../src/loyalty/giftcards.ts";
import { MS, type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { type Line, sale, saleReturn } from "./support/sales.ts";

// Gift certificates end to end: issued through the admin API, looked up by the POS,
// redeemed by sales and refunded by returns, settled directly (no queues) so every step
// is deterministic. Real Postgres, no mocks.
let t: TestContext;
let shop: TestTenant;
let seq = 0;

beforeAll(async () => {
  t = await testContext();
  shop = await t.createTenant();
});
afterAll(() => t.close());

const number = () => `GC-${process.pid}-${++seq}`;

async function issue(initialBalance: number, opts: { name?: string; expireDate?: string } = {}) {
  const name = opts.name ?? number();
  const r = await t.admin("POST", `/tenants/${shop.slug}/giftcards`, { name, initialBalance, expireDate: opts.expireDate });
  expect(r.status).toBe(201);
  return r.body as { id: string; name: string; status: string; balance: number; initialBalance: number };
}

const lookup = (name: string, key = shop.apiToken) =>
  t.pos(key, "GET", `/giftcard?name=${encodeURIComponent(name)}&retailStoreId=7a7a7a7a-0000-4000-8000-000000000001`);
const card = async (name: string) => (await t.admin("GET", `/tenants/${shop.slug}/giftcards/${encodeURIComponent(name)}`)).body;
const postSale = (body: unknown) => t.pos(shop.apiToken, "POST", "/retaildemand", body);
const postReturn = (body: unknown) => t.pos(shop.apiToken, "POST", "/retailsalesreturn", body);
const settle = (documentId: string) => settleDocument(t.db.sql, shop.id, documentId);

/** A sale of `lines` paid by certificates (kopecks) and the rest in cash (roubles). */
function paidSale(lines: Line[], giftCards: { name?: string; id?: string; paymentSum: number }[], cash: number, opts: { customerId?: string } = {}) {
  const s = sale({ lines, cash, customerId: opts.customerId });
  s.body.giftCards = giftCards;
  return s;
}

async function document(id: string) {
  const [d] = await t.db.sql`
    select state, flag_reason, gift_card_shortfall_kopecks, returned_money_kopecks from document where id = ${id}`;
  return d!;
}

async function entriesOf(documentId: string): Promise<{ kind: string; kopecks: number; gift_card_id: string }[]> {
  const rows = await t.db.sql<{ kind: string; kopecks: number; gift_card_id: string }[]>`
    select kind, kopecks, gift_card_id from gift_card_entry where document_id = ${documentId} order by id`;
  return [...rows];
}

describe("admin API", () => {
  test("issue: 201 with status and balances; the ledger holds the issue entry", async () => {
    const name = number();
    const r = await t.admin("POST", `/tenants/${shop.slug}/giftcards`, { name, initialBalance: 50000, expireDate: "2030-06-01 12:30:00" });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name, status: "CAN_BE_USED", initialBalance: 50000, balance: 50000, expireDate: "2030-06-01T12:30:00.000Z", blockedAt: null });
    const full = await card(name);
    expect(full.entries).toEqual([
      expect.objectContaining({ kind: "issue", kopecks: 50000, documentId: null, idempotencyKey: `issue:${r.body.id}` }),
    ]);
  });

  test("duplicate number → 409 with errors[]", async () => {
    const c = await issue(1000);
    const r = await t.admin("POST", `/tenants/${shop.slug}/giftcards`, { name: c.name, initialBalance: 2000 });
    expect(r.status).toBe(409);
    expect(r.body.errors[0]).toMatchObject({ parameter: "name", code: 40901 });
    // The same number in another shop is another certificate.
    const other = await t.createTenant();
    const o = await t.admin("POST", `/tenants/${other.slug}/giftcards`, { name: c.name, initialBalance: 2000 });
    expect(o.status).toBe(201);
  });

  describe("validation", () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ["zero amount", { initialBalance: 0 }, "initialBalance"],
      ["negative amount", { initialBalance: -100 }, "initialBalance"],
      ["fractional kopecks", { initialBalance: 100.5 }, "initialBalance"],
      ["no number", { name: undefined }, "name"],
      ["blank number", { name: "   " }, "name"],
      ["expiry not a date", { expireDate: "31.12.2030" }, "expireDate"],
      ["expiry that does not exist", { expireDate: "2030-02-31 00:00:00" }, "expireDate"],
      ["expiry in the past", { expireDate: "2020-01-01 00:00:00" }, "expireDate"],
    ];
    for (const [what, patch, parameter] of cases) {
      test(what, async () => {
        const body = { name: number(), initialBalance: 1000, ...patch };
        const r = await t.admin("POST", `/tenants/${shop.slug}/giftcards`, body);
        expect(r.status).toBe(400);
        expect(r.body.errors[0].parameter).toBe(parameter);
        if (typeof body.name === "string" && body.name.trim()) expect((await card(body.name)).errors).toBeDefined();
      });
    }
  });

  test("expiry: protocol format is UTC, ISO keeps its offset", () => {
    expect(parseExpireDate("2030-06-01 12:30:00")?.toISOString()).toBe("2030-06-01T12:30:00.000Z");
    expect(parseExpireDate("2030-06-01T15:30:00+03:00")?.toISOString()).toBe("2030-06-01T12:30:00.000Z");
    expect(parseExpireDate("2030-06-01T12:30:00Z")?.toISOString()).toBe("2030-06-01T12:30:00.000Z");
    expect(parseExpireDate("2030-06-01 24:00:00")).toBeNull();
    expect(parseExpireDate("2030-06-01")).toBeNull();
  });

  test("listing: newest first, with status and balances; ?status= filters", async () => {
    const shop2 = await t.createTenant();
    const mk = async (name: string, initialBalance: number) => {
      const r = await t.admin("POST", `/tenants/${shop2.slug}/giftcards`, { name, initialBalance });
      expect(r.status).toBe(201);
    };
    await mk("A-1", 1000);
    await mk("A-2", 2000);
    await mk("A-3", 3000);
    await t.admin("POST", `/tenants/${shop2.slug}/giftcards/A-2/block`, { reason: "утерян" });
    const all = await t.admin("GET", `/tenants/${shop2.slug}/giftcards`);
    expect(all.status).toBe(200);
    expect(all.body.rows.map((r: any) => [r.name, r.status, r.balance, r.initialBalance])).toEqual([
      ["A-3", "CAN_BE_USED", 3000, 3000],
      ["A-2", "INVALID", 2000, 2000],
      ["A-1", "CAN_BE_USED", 1000, 1000],
    ]);
    const invalid = await t.admin("GET", `/tenants/${shop2.slug}/giftcards?status=INVALID`);
    expect(invalid.body.rows.map((r: any) => r.name)).toEqual(["A-2"]);
    expect(invalid.body.rows[0].blockReason).toBe("утерян");
    const limited = await t.admin("GET", `/tenants/${shop2.slug}/giftcards?limit=1`);
    expect(limited.body.rows.map((r: any) => r.name)).toEqual(["A-3"]);
    expect((await t.admin("GET", `/tenants/${shop2.slug}/giftcards?status=LOST`)).status).toBe(400);
  });

  test("unknown certificate or shop → 404; no token → 401", async () => {
    const r = await t.admin("GET", `/tenants/${shop.slug}/giftcards/NO-SUCH`);
    expect(r.status).toBe(404);
    expect(r.body.errors[0].code).toBe(40403);
    expect((await t.admin("POST", `/tenants/${shop.slug}/giftcards/NO-SUCH/block`, {})).status).toBe(404);
    expect((await t.admin("GET", `/tenants/no-such-shop/giftcards`)).status).toBe(404);
    const anon = await t.fetch(`/admin/v1/tenants/${shop.slug}/giftcards`);
    expect(anon.status).toBe(401);
  });

  test("blocking twice keeps the first time; a block with no body works", async () => {
    const c = await issue(1000);
    const first = await t.admin("POST", `/tenants/${shop.slug}/giftcards/${c.name}/block`);
    expect(first.status).toBe(200);
    expect(first.body.status).toBe("INVALID");
    const again = await t.admin("POST", `/tenants/${shop.slug}/giftcards/${c.name}/block`, { reason: "повтор" });
    expect(again.body.blockedAt).toBe(first.body.blockedAt);
    expect(again.body.blockReason).toBe("повтор");
  });
});

describe("GET /giftcard", () => {
  test("the five statuses, balances in kopecks, expireDate in UTC", async () => {
    const fresh = await issue(50000, { expireDate: "2030-06-01T15:30:00+03:00" });
    const r = await lookup(fresh.name);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      name: fresh.name,
      id: fresh.id,
      status: "CAN_BE_USED",
      expireDate: "2030-06-01 12:30:00",
      currentBalance: 50000,
      initialBalance: 50000,
    });

    const partly = await issue(50000);
    await settle((await postSale(paidSale([{ id: "p1", price: 300, quantity: 1 }], [{ name: partly.name, paymentSum: 30000 }], 0).body)).body.id);
    const p = await lookup(partly.name);
    expect(p.body).toMatchObject({ status: "PARTIALLY_REDEEMED", currentBalance: 20000, initialBalance: 50000 });
    expect(p.body.expireDate).toBeUndefined();

    const spent = await issue(30000);
    await settle((await postSale(paidSale([{ id: "p1", price: 300, quantity: 1 }], [{ name: spent.name, paymentSum: 30000 }], 0).body)).body.id);
    expect((await lookup(spent.name)).body).toMatchObject({ status: "REDEEMED", currentBalance: 0, initialBalance: 30000 });

    const old = await issue(10000, { expireDate: "2031-01-01 00:00:00" });
    await t.db.sql`update gift_card set expire_at = now() - interval '1 minute' where id = ${old.id}`;
    const e = await lookup(old.name);
    expect(e.body.status).toBe("EXPIRED");
    expect(e.body.expireDate).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);

    const lost = await issue(10000);
    await t.admin("POST", `/tenants/${shop.slug}/giftcards/${lost.name}/block`, { reason: "украден" });
    expect((await lookup(lost.name)).body).toMatchObject({ status: "INVALID", id: lost.id });
  });

  test("unknown number → 404 errors[]; another shop's certificate is unknown", async () => {
    const r = await lookup("NO-SUCH-CARD");
    expect(r.status).toBe(404);
    expect(r.body.errors[0]).toMatchObject({ code: 40403, parameter: "name" });
    expect(r.body.errors[0].error_message).toContain("NO-SUCH-CARD");
    const other = await t.createTenant();
    const mine = await issue(1000);
    expect((await lookup(mine.name, other.apiToken)).status).toBe(404);
  });

  test("no number → 400, no key → 401", async () => {
    expect((await t.pos(shop.apiToken, "GET", "/giftcard")).status).toBe(400);
    expect((await t.pos(shop.apiToken, "GET", "/giftcard?name=")).status).toBe(400);
    const r = await t.fetch(`${MS}/giftcard?name=X`);
    expect(r.status).toBe(401);
    expect(r.body.errors[0].code).toBe(40101);
  });

  test("a sale answered 201 but not yet settled already shows in the balance", async () => {
    const c = await issue(50000);
    const s = await postSale(paidSale([{ id: "p1", price: 120, quantity: 1 }], [{ name: c.name, paymentSum: 12000 }], 0).body);
    expect(s.status).toBe(201);
    expect((await document(s.body.id)).state).toBe("received");
    expect((await lookup(c.name)).body).toMatchObject({ status: "PARTIALLY_REDEEMED", currentBalance: 38000 });
    // An entry that names the certificate only by our id counts too.
    const byId = await postSale(paidSale([{ id: "p1", price: 10, quantity: 1 }], [{ id: c.id, paymentSum: 1000 }], 0).body);
    expect((await lookup(c.name)).body.currentBalance).toBe(37000);
    await settle(s.body.id);
    await settle(byId.body.id);
    expect((await lookup(c.name)).body).toMatchObject({ status: "PARTIALLY_REDEEMED", currentBalance: 37000 });
    expect((await card(c.name)).balance).toBe(37000);
  });
});

describe("sales paid by certificate", () => {
  test("300.00 paid with a 500.00 certificate → 200.00 left, PARTIALLY_REDEEMED", async () => {
    const c = await issue(50000);
    const s = paidSale([{ id: "p1", price: 150, quantity: 2 }], [{ id: c.id, name: c.name, paymentSum: 30000 }], 0);
    const r = await postSale(s.body);
    expect(r.status).toBe(201);
    expect((await settle(r.body.id)).status).toBe("settled");
    const after = await card(c.name);
    expect(after).toMatchObject({ balance: 20000, status: "PARTIALLY_REDEEMED" });
    expect(after.entries[0]).toMatchObject({ kind: "redeem", kopecks: -30000, documentId: r.body.id, idempotencyKey: `sale:${r.body.id}:giftcard:${c.id}` });
    expect(await document(r.body.id)).toMatchObject({ state: "settled", flag_reason: null, gift_card_shortfall_kopecks: 0 });
    // No agent on the receipt: an anonymous sale pays by certificate all the same.
    const [doc] = await t.db.sql`select match_status, customer_id from document where id = ${r.body.id}`;
    expect(doc).toEqual({ match_status: "anonymous", customer_id: null });
  });

  test("the same sale delivered twice and settled twice (also at once) → redeemed once", async () => {
    const c = await issue(50000);
    const s = paidSale([{ id: "p1", price: 300, quantity: 1 }], [{ name: c.name, paymentSum: 30000 }], 0);
    const a = await postSale(s.body);
    const b = await postSale(s.body);
    expect(b.status).toBe(201);
    expect(b.body.id).toBe(a.body.id);
    const outcomes = await Promise.all([settle(a.body.id), settle(b.body.id), settle(a.body.id)]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["already", "already", "settled"]);
    expect(await entriesOf(a.body.id)).toEqual([{ kind: "redeem", kopecks: -30000, gift_card_id: c.id }]);
    expect((await card(c.name)).balance).toBe(20000);
  });

  test("more than the certificate holds → what there is is redeemed; the sale is flagged and visible", async () => {
    const c = await issue(10000);
    const s = paidSale([{ id: "p1", price: 300, quantity: 1 }], [{ name: c.name, paymentSum: 20000 }], 100);
    const r = await postSale(s.body);
    expect(r.status).toBe(201);
    expect((await settle(r.body.id)).status).toBe("settled");
    expect(await entriesOf(r.body.id)).toEqual([{ kind: "redeem", kopecks: -10000, gift_card_id: c.id }]);
    expect((await lookup(c.name)).body).toMatchObject({ status: "REDEEMED", currentBalance: 0 });
    const d = await document(r.body.id);
    expect(d.state).toBe("settled");
    expect(d.gift_card_shortfall_kopecks).toBe(10000);
    expect(d.flag_reason).toBe(
      `Сертификатом «${c.name}» оплачено 200.00 ₽, на нём было 100.00 ₽: списано 100.00 ₽, не хватило 100.00 ₽.`,
    );
    const list = await t.admin("GET", `/tenants/${shop.slug}/documents?limit=500`);
    expect(list.body.rows.find((x: any) => x.id === r.body.id)).toMatchObject({ state: "settled", flagReason: d.flag_reason });
    const attention = await t.admin("GET", `/tenants/${shop.slug}/documents?attention=true&limit=500`);
    expect(attention.body.rows.find((x: any) => x.id === r.body.id)).toMatchObject({ giftCardShortfallKopecks: 10000 });
  });

  test("an unknown certificate → flagged, nothing redeemed", async () => {
    const s = paidSale([{ id: "p1", price: 300, quantity: 1 }], [{ name: "NOBODY-123", paymentSum: 30000 }], 0);
    const r = await postSale(s.body);
    expect(r.status).toBe(201);
    await settle(r.body.id);
    expect(await entriesOf(r.body.id)).toEqual([]);
    const d = await document(r.body.id);
    expect(d).toMatchObject({ state: "settled", gift_card_shortfall_kopecks: 30000 });
    expect(d.flag_reason).toBe("Сертификат «NOBODY-123» не найден: оплата 300.00 ₽ не списана.");
  });

  test("a certificate expired at the sale's moment → flagged, nothing redeemed", async () => {
    const c = await issue(50000, { expireDate: "2031-01-01 00:00:00" });
    await t.db.sql`update gift_card set expire_at = '2026-01-01 00:00:00+00' where id = ${c.id}`;
    const r = await postSale(paidSale([{ id: "p1", price: 300, quantity: 1 }], [{ name: c.name, paymentSum: 30000 }], 0).body);
    await settle(r.body.id);
    expect(await entriesOf(r.body.id)).toEqual([]);
    expect((await card(c.name)).balance).toBe(50000);
    const d = await document(r.body.id);
    expect(d.gift_card_shortfall_kopecks).toBe(30000);
    expect(d.flag_reason).toBe(`Сертификат «${c.name}» просрочен (действовал до 2026-01-01 00:00:00 UTC): оплата 300.00 ₽ не списана.`);
  });

  test("a certificate that expired after the sale (delivered late, offline till) is still honoured", async () => {
    const c = await issue(50000, { expireDate: "2031-01-01 00:00:00" });
    // The sale's moment is 2026-11-28 12:00 Moscow time; the certificate expired since.
    await t.db.sql`update gift_card set expire_at = now() - interval '1 minute' where id = ${c.id}`;
    const r = await postSale(paidSale([{ id: "p1", price: 300, quantity: 1 }], [{ name: c.name, paymentSum: 30000 }], 0).body);
    await settle(r.body.id);
    expect(await entriesOf(r.body.id)).toEqual([{ kind: "redeem", kopecks: -30000, gift_card_id: c.id }]);
    expect((await document(r.body.id)).flag_reason).toBeNull();
  });

  test("a blocked certificate → flagged, nothing redeemed", async () => {
    const c = await issue(50000);
    await t.admin("POST", `/tenants/${shop.slug}/giftcards/${c.name}/block`, {});
    const r = await postSale(paidSale([{ id: "p1", price: 300, quantity: 1 }], [{ name: c.name, paymentSum: 30000 }], 0).body);
    await settle(r.body.id);
    expect(await entriesOf(r.body.id)).toEqual([]);
    expect((await document(r.body.id)).flag_reason).toBe(`Сертификат «${c.name}» заблокирован: оплата 300.00 ₽ не списана.`);
  });

  test("several payments: two entries for one certificate are summed, matching by id when the number is missing; problems add up", async () => {
    const a = await issue(50000);
    const b = await issue(5000);
    const s = paidSale(
      [{ id: "p1", price: 500, quantity: 1 }],
      [
        { name: a.name, paymentSum: 10000 },
        { id: a.id, paymentSum: 20000 },
        { name: b.name, paymentSum: 10000 },
        { name: "GHOST", paymentSum: 5000 },
        { name: "ZERO", paymentSum: 0 },
      ],
      50,
    );
    const r = await postSale(s.body);
    expect(r.status).toBe(201);
    await settle(r.body.id);
    const entries = await entriesOf(r.body.id);
    expect(entries.map((e) => [e.gift_card_id, e.kopecks]).sort()).toEqual([[a.id, -30000], [b.id, -5000]].sort());
    const d = await document(r.body.id);
    expect(d.gift_card_shortfall_kopecks).toBe(10000);
    expect(d.flag_reason).toContain("Сертификат «GHOST» не найден: оплата 50.00 ₽ не списана");
    expect(d.flag_reason).toContain(`Сертификатом «${b.name}» оплачено 100.00 ₽, на нём было 50.00 ₽`);
    expect(d.flag_reason).not.toContain("ZERO");
  });

  test("a customer's sale paid by certificate: points and certificate both move", async () => {
    const cust = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79150000101", statusCheck: "IGNORE" });
    const c = await issue(50000);
    const r = await postSale(paidSale([{ id: "p1", price: 300, quantity: 1 }], [{ name: c.name, paymentSum: 30000 }], 0, { customerId: cust.body.id }).body);
    const out = await settle(r.body.id);
    expect(out.message?.text).toBe("+15 баллов, баланс 15");
    expect((await card(c.name)).balance).toBe(20000);
  });
});

describe("returns of sales paid by certificate", () => {
  test("partial returns put money back proportionally; the last one squares exactly (anonymous sale)", async () => {
    const c = await issue(50000);
    // 3 × 100.00 = 300.00: 100.00 cash, 200.00 by certificate.
    const s = paidSale([{ id: "p1", price: 100, quantity: 3 }], [{ name: c.name, paymentSum: 20000 }], 100);
    const sr = await postSale(s.body);
    await settle(sr.body.id);
    expect((await card(c.name)).balance).toBe(30000);
    const part = () => saleReturn({ saleId: s.id, lines: [{ id: "p1", price: 100, quantity: 1 }] });
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const ret = await postReturn(part().body);
      expect(ret.status).toBe(201);
      expect((await settle(ret.body.id)).status).toBe("settled");
      const e = await entriesOf(ret.body.id);
      expect(e.every((x) => x.kind === "refund" && x.gift_card_id === c.id)).toBe(true);
      seen.push(e.reduce((sum, x) => sum + x.kopecks, 0));
    }
    // 1/3 of 200.00 → 66.66, 2/3 → 133.33 in all, everything → exactly 200.00.
    expect(seen).toEqual([6666, 6667, 6667]);
    expect((await lookup(c.name)).body).toMatchObject({ status: "CAN_BE_USED", currentBalance: 50000 });
    // A further "return" of the same sale moves nothing more.
    const extra = await postReturn(part().body);
    await settle(extra.body.id);
    expect(await entriesOf(extra.body.id)).toEqual([]);
    expect((await card(c.name)).balance).toBe(50000);
    expect((await document(sr.body.id)).returned_money_kopecks).toBe(30000);
  });

  test("a full return at once puts back exactly what was redeemed, also with a customer", async () => {
    const cust = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79150000102", statusCheck: "IGNORE" });
    const c = await issue(100000);
    const lines: Line[] = [{ id: "p1", price: 33.33, quantity: 3 }];
    const s = paidSale(lines, [{ name: c.name, paymentSum: 9999 }], 0, { customerId: cust.body.id });
    await settle((await postSale(s.body)).body.id);
    expect((await card(c.name)).balance).toBe(90001);
    const ret = await postReturn(saleReturn({ saleId: s.id, lines }).body);
    const out = await settle(ret.body.id);
    expect(out.message?.text).toBe("Возврат: −4 балла, баланс 0");
    expect(await entriesOf(ret.body.id)).toEqual([{ kind: "refund", kopecks: 9999, gift_card_id: c.id }]);
    expect((await lookup(c.name)).body).toMatchObject({ status: "CAN_BE_USED", currentBalance: 100000 });
  });

  test("a return that arrives before its sale refunds once the sale is settled", async () => {
    const c = await issue(50000);
    const s = paidSale([{ id: "p1", price: 200, quantity: 2 }], [{ name: c.name, paymentSum: 40000 }], 0);
    const ret = await postReturn(saleReturn({ saleId: s.id, lines: [{ id: "p1", price: 200, quantity: 1 }] }).body);
    expect((await settle(ret.body.id)).status).toBe("waiting");
    const sr = await postSale(s.body);
    expect((await settle(sr.body.id)).releasedReturns).toEqual([{ documentId: ret.body.id, round: 1 }]);
    expect((await card(c.name)).balance).toBe(10000);
    expect((await settle(ret.body.id)).status).toBe("settled");
    expect((await card(c.name)).balance).toBe(30000);
  });

  test("money put back on a certificate blocked since is flagged on the return", async () => {
    const c = await issue(50000);
    const s = paidSale([{ id: "p1", price: 100, quantity: 1 }], [{ name: c.name, paymentSum: 10000 }], 0);
    await settle((await postSale(s.body)).body.id);
    await t.admin("POST", `/tenants/${shop.slug}/giftcards/${c.name}/block`, {});
    const ret = await postReturn(saleReturn({ saleId: s.id, lines: [{ id: "p1", price: 100, quantity: 1 }] }).body);
    await settle(ret.body.id);
    expect(await entriesOf(ret.body.id)).toEqual([{ kind: "refund", kopecks: 10000, gift_card_id: c.id }]);
    expect((await document(ret.body.id)).flag_reason).toBe(
      `100.00 ₽ возвращены на сертификат «${c.name}», но он заблокирован: покупатель не сможет ими оплатить.`,
    );
  });
});

describe("the certificates' ledger", () => {
  test("is append-only", async () => {
    const c = await issue(1000);
    await expect(t.db.sql`update gift_card_entry set kopecks = 1 where gift_card_id = ${c.id}`).rejects.toThrow(/append-only/);
    await expect(t.db.sql`delete from gift_card_entry where gift_card_id = ${c.id}`).rejects.toThrow(/append-only/);
  });

  test("status rule matches the listing's SQL for every certificate", async () => {
    const rows = (await t.admin("GET", `/tenants/${shop.slug}/giftcards?limit=500`)).body.rows as any[];
    const cards = await t.db.sql<any[]>`select * from gift_card where tenant_id = ${shop.id}`;
    const byId = new Map(cards.map((c) => [c.id, c]));
    for (const r of rows) expect(r.status).toBe(giftCardStatus(byId.get(r.id)));
    for (const status of ["CAN_BE_USED", "PARTIALLY_REDEEMED", "EXPIRED", "REDEEMED", "INVALID"]) {
      const filtered = (await t.admin("GET", `/tenants/${shop.slug}/giftcards?status=${status}&limit=500`)).body.rows as any[];
      expect(filtered.map((x) => x.id).sort()).toEqual(rows.filter((x) => x.status === status).map((x) => x.id).sort());
      expect(filtered.length).toBeGreaterThan(0);
    }
  });

  test("the ledger sum equals the running balance for every certificate (runs last)", async () => {
    const rows = await t.db.sql<{ id: string; balance: number; ledger: number; n: number }[]>`
      select c.id, c.balance, coalesce(sum(e.kopecks), 0)::bigint as ledger, count(e.id)::int as n
      from gift_card c left join gift_card_entry e on e.tenant_id = c.tenant_id and e.gift_card_id = c.id
      group by c.id, c.balance`;
    expect(rows.length).toBeGreaterThan(20);
    for (const r of rows) {
      expect(r.n).toBeGreaterThan(0);
      expect({ id: r.id, balance: r.balance }).toEqual({ id: r.id, balance: r.ledger });
    }
  });
});
