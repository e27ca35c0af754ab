import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { settleDocument } from "../src/loyalty/settlement.ts";
import { releaseDuePending } from "../src/loyalty/ledger.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { type Line, sale, saleReturn } from "./support/sales.ts";

// Intake and settlement without queues: documents are stored and settled by calling the
// settlement service directly, so every step is deterministic.
let t: TestContext;
let shop: TestTenant;

beforeAll(async () => {
  t = await testContext();
  shop = await t.createTenant();
});
afterAll(() => t.close());

async function newCustomer(points = 0, phone = `+7915${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`) {
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, statusCheck: "IGNORE" });
  expect(c.status).toBe(201);
  if (points) await t.admin("POST", `/tenants/${shop.slug}/customers/${c.body.id}/adjustments`, { points, reason: "start" });
  return c.body.id as string;
}

const postSale = (body: unknown) => t.pos(shop.apiToken, "POST", "/retaildemand", body);
const postReturn = (body: unknown) => t.pos(shop.apiToken, "POST", "/retailsalesreturn", body);
const balance = async (id: string) => (await t.admin("GET", `/tenants/${shop.slug}/customers/${id}`)).body;
async function settle(documentId: string) {
  return settleDocument(t.db.sql, shop.id, documentId);
}
async function ledgerSum(customerId: string) {
  const [r] = await t.db.sql<{ available: number; pending: number }[]>`
    select coalesce(sum(points) filter (where released_at is not null), 0)::int as available,
           coalesce(sum(points) filter (where released_at is null), 0)::int as pending
    from ledger_entry where customer_id = ${customerId}`;
  return r!;
}

describe("intake", () => {
  test("a sale is stored, answered 201, and its spend is visible at once (before settlement)", async () => {
    const id = await newCustomer(500);
    const s = sale({ customerId: id, lines: [{ id: "p1", price: 250, quantity: 1, discountedPrice: 79 }], spend: 171, cash: 79 });
    const r = await postSale(s.body);
    expect(r.status).toBe(201);
    const detail = await t.pos(shop.apiToken, "POST", "/counterparty/detail", { meta: { id } });
    expect(detail.body.bonusProgram.agentBonusBalance).toBe(329);
    const recalc = await t.pos(shop.apiToken, "POST", "/retaildemand/recalc", {
      agent: { meta: { id } },
      positions: [{ assortment: { meta: { id: "p1" } }, price: 1000, quantity: 1 }],
      bonusProgram: { transactionType: "SPENDING" },
    });
    expect(recalc.body.bonusProgram.agentBonusBalance).toBe(329);
    const [doc] = await t.db.sql`select state, points_spent, total_kopecks from document where id = ${r.body.id}`;
    expect(doc).toMatchObject({ state: "received", points_spent: 171, total_kopecks: 7900 });
  });

  test("the same sale posted many times concurrently is one document and one spend", async () => {
    const id = await newCustomer(100);
    const s = sale({ customerId: id, lines: [{ id: "p1", price: 100, quantity: 1, discountedPrice: 50 }], spend: 50 });
    const replies = await Promise.all(Array.from({ length: 20 }, () => postSale(s.body)));
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
    expect((await balance(id)).balance).toBe(50);
    const docs = await t.db.sql`select count(*)::int as n from document where external_key = ${s.id}`;
    expect(docs[0]!.n).toBe(1);
  });

  test("document identity: meta.id, else meta.href, else store + name + moment", async () => {
    const noId = sale({ lines: [{ id: "p1", price: 10, quantity: 1 }] });
    delete (noId.body.meta as any).id;
    const a = await postSale(noId.body);
    const b = await postSale(noId.body);
    expect(a.body.id).toBe(b.body.id);
    const bare = sale({ lines: [{ id: "p1", price: 10, quantity: 1 }], name: "Чек-42", moment: "2026-11-28 10:00:00" });
    bare.body.meta = { href: "", id: "" };
    const c = await postSale(bare.body);
    const d = await postSale(bare.body);
    expect(c.body.id).toBe(d.body.id);
    const other = { ...bare.body, name: "Чек-43" };
    expect((await postSale(other)).body.id).not.toBe(c.body.id);
  });

  test("anonymous and unknown-customer sales are stored and move no points", async () => {
    const anon = await postSale(sale({ lines: [{ id: "p1", price: 10, quantity: 1 }] }).body);
    expect(anon.status).toBe(201);
    const unknown = await postSale(sale({ agent: { meta: { id: "99999999-9999-4999-8999-999999999999" } }, lines: [{ id: "p1", price: 10, quantity: 1 }] }).body);
    expect(unknown.status).toBe(201);
    const rows = await t.db.sql`select id, match_status from document where id in (${anon.body.id}, ${unknown.body.id})`;
    expect(Object.fromEntries(rows.map((r) => [r.id, r.match_status]))).toEqual({ [anon.body.id]: "anonymous", [unknown.body.id]: "unmatched" });
    expect((await settle(anon.body.id)).status).toBe("settled");
    expect((await settle(unknown.body.id)).message).toBeNull();
  });

  test("a sale for a customer we have never seen is matched by the card or phone it carries", async () => {
    const id = await newCustomer(0, "+79157770011");
    const r = await postSale(sale({ agent: { meta: { id: "88888888-8888-4888-8888-888888888888" }, phone: "89157770011" }, lines: [{ id: "p1", price: 200, quantity: 1 }] }).body);
    const [doc] = await t.db.sql`select customer_id, match_status from document where id = ${r.body.id}`;
    expect(doc).toEqual({ customer_id: id, match_status: "matched" });
  });

  describe("sales that do not add up are stored, answered 201 and flagged in words", () => {
    const cases: [string, (b: any) => void, RegExp][] = [
      ["points spend above the receipt", (b) => ((b.bonusProgram.bonusValueToSpend = 1000), (b.positions[0].discountedPrice = 0)), /Баллами оплачено \(1000\) больше суммы чека/],
      ["points spend not in the prices", (b) => (b.bonusProgram.bonusValueToSpend = 10), /Оплата баллами не отражена в ценах со скидкой/],
      ["negative price", (b) => (b.positions[0].price = -5), /Позиция 1: отрицательная цена/],
      ["negative cash", (b) => (b.cashSum = -1), /cashSum: не неотрицательное число/],
      ["discounted above price", (b) => (b.positions[0].discountedPrice = 101), /цена со скидкой \(101\.00 ₽\) больше цены \(100\.00 ₽\)/],
      ["payments do not add up", (b) => ((b.cashSum = 50), (b.noCashSum = 0)), /Оплата \(50\.00 ₽\) не сходится с суммой позиций по ценам со скидкой \(100\.00 ₽\)/],
      ["fractional points", (b) => (b.bonusProgram.bonusValueToSpend = 1.5), /дробное число баллов 1\.5, учтено 1/],
      ["three-decimal price", (b) => (b.positions[0].discountedPrice = 99.999), /цена со скидкой 99\.999 с более чем 2 знаками после запятой, округлена до 100\.00 ₽/],
    ];
    for (const [name, mutate, reason] of cases) {
      test(name, async () => {
        const s = sale({ lines: [{ id: "p1", price: 100, quantity: 1 }], cash: 100 });
        mutate(s.body);
        const r = await postSale(s.body);
        expect(r.status).toBe(201);
        const [doc] = await t.db.sql`select id, flag_reason from document where external_key = ${s.id}`;
        expect(doc!.id).toBe(r.body.id);
        expect(doc!.flag_reason).toMatch(reason);
        const listed = await t.admin("GET", `/tenants/${shop.slug}/documents?attention=true&limit=500`);
        expect(listed.body.rows.find((row: any) => row.id === r.body.id)?.flagReason).toMatch(reason);
      });
    }
    test("a sale that adds up is not flagged", async () => {
      const s = sale({ lines: [{ id: "p1", price: 100, quantity: 1 }], cash: 60, noCash: 40 });
      const r = await postSale(s.body);
      const [doc] = await t.db.sql`select flag_reason from document where id = ${r.body.id}`;
      expect(doc!.flag_reason).toBeNull();
    });
  });
});

describe("settlement", () => {
  test("accrual by the program rules, totals, the customer's message, exactly once", async () => {
    const id = await newCustomer(171);
    const r = await postSale(sale({ customerId: id, lines: [{ id: "p1", price: 240, quantity: 1 }], cash: 240 }).body);
    const first = await settle(r.body.id);
    expect(first.status).toBe("settled");
    expect(first.message?.text).toBe("+12 баллов, баланс 183");
    const again = await settle(r.body.id);
    expect(again.status).toBe("already");
    expect(again.message?.text).toBe("+12 баллов, баланс 183");
    const c = await balance(id);
    expect(c.balance).toBe(183);
    const [row] = await t.db.sql`select purchases_count, purchases_kopecks from customer where id = ${id}`;
    expect(row).toEqual({ purchases_count: 1, purchases_kopecks: 24000 });
    expect(await ledgerSum(id)).toEqual({ available: 183, pending: 0 });
  });

  test("delayed accrual is pending until its day, then released", async () => {
    await t.admin("PUT", `/tenants/${shop.slug}/program`, { accrualDelayDays: 14 });
    try {
      const id = await newCustomer(0);
      const r = await postSale(sale({ customerId: id, lines: [{ id: "p1", price: 1000, quantity: 1 }], moment: "2030-01-01 00:00:00" }).body);
      const out = await settle(r.body.id);
      expect(out.message?.text).toMatch(/^\+50 баллов станут доступны \d\d\.\d\d\.\d{4}, баланс 0$/);
      expect(await balance(id)).toMatchObject({ balance: 0, pendingBalance: 50 });
      // Recalc cannot spend pending points.
      const rc = await t.pos(shop.apiToken, "POST", "/retaildemand/recalc", {
        agent: { meta: { id } },
        positions: [{ assortment: { meta: { id: "p1" } }, price: 100, quantity: 1 }],
        bonusProgram: { transactionType: "SPENDING" },
      });
      expect(rc.body.bonusProgram.bonusValueToSpend).toBe(0);
      expect(await releaseDuePending(t.db.sql)).toBe(0);
      // Time passes (the entry's day comes): the release moves it.
      await t.db.sql`alter table ledger_entry disable trigger ledger_entry_append_only`;
      await t.db.sql`update ledger_entry set available_at = now() - interval '1 second' where customer_id = ${id}`;
      await t.db.sql`alter table ledger_entry enable trigger ledger_entry_append_only`;
      expect(await releaseDuePending(t.db.sql)).toBe(1);
      expect(await balance(id)).toMatchObject({ balance: 50, pendingBalance: 0 });
      expect(await ledgerSum(id)).toEqual({ available: 50, pending: 0 });
    } finally {
      await t.admin("PUT", `/tenants/${shop.slug}/program`, { accrualDelayDays: 0 });
    }
  });
});

describe("returns", () => {
  // 3 × 100.00 bought with 60 points spent (earnWhileRedeeming on, so it also earned).
  async function boughtWithPoints() {
    await t.admin("PUT", `/tenants/${shop.slug}/program`, { earnWhileRedeeming: true });
    const id = await newCustomer(100);
    const lines: Line[] = [{ id: "p1", price: 100, quantity: 3, discountedPrice: 80 }];
    const s = sale({ customerId: id, lines, spend: 60, cash: 240 });
    const r = await postSale(s.body);
    await settle(r.body.id);
    await t.admin("PUT", `/tenants/${shop.slug}/program`, { earnWhileRedeeming: false });
    // spent 60 → 40 left; earned floor(240 * 5%) = 12 → 52
    expect((await balance(id)).balance).toBe(52);
    return { id, saleId: s.id, saleDoc: r.body.id };
  }

  test("partial returns add up, and the last part squares the account exactly", async () => {
    const { id, saleId } = await boughtWithPoints();
    const part = (q: number) => saleReturn({ saleId, lines: [{ id: "p1", price: 100, quantity: q, discountedPrice: 80 }] });
    const r1 = await postReturn(part(1).body);
    expect(r1.status).toBe(201);
    const o1 = await settle(r1.body.id);
    // 1/3 of 60 spent = 20 back; 1/3 of 12 earned = 4 taken
    expect(o1.message?.text).toBe("Возврат: +20 −4 балла, баланс 68");
    await settle((await postReturn(part(1).body)).body.id);
    // 2/3: floor(40) = 40 back so far, floor(8) = 8 taken
    expect((await balance(id)).balance).toBe(84);
    await settle((await postReturn(part(1).body)).body.id);
    // everything back: 60 refunded, 12 taken in all
    expect((await balance(id)).balance).toBe(100);
    // A further "return" of the same sale moves nothing more.
    await settle((await postReturn(part(1).body)).body.id);
    expect((await balance(id)).balance).toBe(100);
    const [s] = await t.db.sql`select points_refunded, points_clawed_back from document where external_key = ${saleId}`;
    expect(s).toEqual({ points_refunded: 60, points_clawed_back: 12 });
    expect(await ledgerSum(id)).toEqual({ available: 100, pending: 0 });
  });

  test("uneven parts of a sale paid with points: floored along the way, exact at the end", async () => {
    const id = await newCustomer(7);
    const s = sale({ customerId: id, lines: [{ id: "p1", price: 1, quantity: 7, discountedPrice: 0 }], spend: 7 });
    const r = await postSale(s.body);
    expect(r.status).toBe(201);
    await settle(r.body.id);
    expect((await balance(id)).balance).toBe(0);
    // Paid entirely with points: returns are proportioned by the goods' full price.
    // 2/7 of 7 → 2, 4/7 → 4 in all, everything → exactly 7.
    const seen: number[] = [];
    for (const q of [2, 2, 3]) {
      const ret = await postReturn(saleReturn({ saleId: s.id, lines: [{ id: "p1", price: 1, quantity: q, discountedPrice: 0 }] }).body);
      await settle(ret.body.id);
      seen.push((await balance(id)).balance);
    }
    expect(seen).toEqual([2, 4, 7]);
  });

  test("a return that arrives before its sale waits, then settles when the sale does", async () => {
    const id = await newCustomer(0);
    const s = sale({ customerId: id, lines: [{ id: "p1", price: 200, quantity: 2 }] });
    const ret = await postReturn(saleReturn({ saleId: s.id, lines: [{ id: "p1", price: 200, quantity: 1 }] }).body);
    expect(ret.status).toBe(201);
    expect((await settle(ret.body.id)).status).toBe("waiting");
    const sr = await postSale(s.body);
    const out = await settle(sr.body.id);
    expect(out.releasedReturns).toEqual([{ documentId: ret.body.id, round: 1 }]);
    expect((await balance(id)).balance).toBe(20);
    expect((await settle(ret.body.id)).status).toBe("settled");
    expect((await balance(id)).balance).toBe(10);
  });

  test("a return with no usable link is stored and flagged, not guessed", async () => {
    const r = await postReturn(saleReturn({ saleId: null, lines: [{ id: "p1", price: 10, quantity: 1 }] }).body);
    expect(r.status).toBe(201);
    const [doc] = await t.db.sql`select state, flag_reason from document where id = ${r.body.id}`;
    expect(doc!.state).toBe("flagged");
    expect(doc!.flag_reason).toContain("без ссылки");
    expect((await settle(r.body.id)).status).toBe("flagged");
  });

  test("taking back points already spent leaves a visible negative balance; recalc offers nothing", async () => {
    const id = await newCustomer(0);
    const s = sale({ customerId: id, lines: [{ id: "p1", price: 1000, quantity: 1 }] });
    await settle((await postSale(s.body)).body.id);
    expect((await balance(id)).balance).toBe(50);
    const spendAll = sale({ customerId: id, lines: [{ id: "p2", price: 50, quantity: 1, discountedPrice: 0 }], spend: 50 });
    await settle((await postSale(spendAll.body)).body.id);
    await settle((await postReturn(saleReturn({ saleId: s.id, lines: [{ id: "p1", price: 1000, quantity: 1 }] }).body)).body.id);
    expect((await balance(id)).balance).toBe(-50);
    const rc = await t.pos(shop.apiToken, "POST", "/retaildemand/recalc", {
      agent: { meta: { id } },
      positions: [{ assortment: { meta: { id: "p1" } }, price: 100, quantity: 1 }],
      bonusProgram: { transactionType: "SPENDING" },
    });
    expect(rc.body.bonusProgram.bonusValueToSpend).toBe(0);
    const neg = await t.admin("GET", `/tenants/${shop.slug}/negative-balances`);
    expect(neg.status).toBe(200);
    expect(neg.body.rows.map((r: any) => r.id)).toContain(id);
  });
});
