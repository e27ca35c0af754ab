import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";

let t: TestContext;
let shop: TestTenant;
let customerId: string;

const pos = (id: string, price: number, quantity: number, extra: Record<string, unknown> = {}) => ({
  assortment: { meta: { href: `https://api.moysklad.ru/api/remap/1.2/entity/product/${id}`, id, idType: "native", type: "product" } },
  price,
  quantity,
  ...extra,
});

const recalc = (body: Record<string, unknown>, key = shop.apiToken) => t.pos(key, "POST", "/retaildemand/recalc", body);

async function setBalance(points: number) {
  const [row] = await t.db.sql`select balance from customer where id = ${customerId}`;
  const delta = points - row!.balance;
  if (delta !== 0) {
    const r = await t.admin("POST", `/tenants/${shop.slug}/customers/${customerId}/adjustments`, { points: delta, reason: "test" });
    expect(r.status).toBe(201);
  }
}

beforeAll(async () => {
  t = await testContext();
  shop = await t.createTenant();
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79101234567", name: "Покупатель", statusCheck: "IGNORE" });
  customerId = c.body.id;
});
afterAll(() => t.close());

describe("POST /retaildemand/recalc", () => {
  test("the seed's screen: 250.00, 171 points, spend → 171 off, 79.00 to pay", async () => {
    await setBalance(171);
    const r = await recalc({
      agent: { meta: { id: customerId } },
      positions: [pos("p1", 250, 1)],
      bonusProgram: { transactionType: "SPENDING" },
    });
    expect(r.status).toBe(200);
    expect(r.body.bonusProgram).toMatchObject({
      transactionType: "SPENDING",
      agentBonusBalance: 171,
      bonusValueToSpend: 171,
      bonusValueToEarn: 0,
      agentBonusBalanceAfter: 0,
      paidByBonusPoints: 171,
    });
    expect(r.body.positions).toHaveLength(1);
    expect(r.body.positions[0].discountedPrice).toBe(79);
    expect(r.body.positions[0].discountPercent).toBe(68.4);
    expect(r.body.needVerification).toBe(false);
    expect(typeof r.body.bonusProgram.receiptExtraInfo).toBe("string");
  });

  test("earning: 5 points per 100 roubles by default, no discount", async () => {
    await setBalance(10);
    const r = await recalc({ agent: { phone: "89101234567" }, positions: [pos("p1", 199.99, 2), pos("p2", 0.5, 3)] });
    expect(r.status).toBe(200);
    // 399.98 + 1.50 = 401.48 roubles → floor(401.48 * 5 / 100) = 20
    expect(r.body.bonusProgram).toMatchObject({ transactionType: "EARNING", bonusValueToSpend: 0, bonusValueToEarn: 20, agentBonusBalanceAfter: 30 });
    expect(r.body.positions.map((p: any) => p.discountedPrice)).toEqual([199.99, 0.5]);
  });

  test("preferredBonusToSpend limits the spend; the paid total is exact to the kopeck, splitting a position", async () => {
    await setBalance(1000);
    const r = await recalc({
      agent: { meta: { id: customerId } },
      positions: [pos("p1", 10, 3, { sn: [{ name: "SN1" }, { name: "SN2" }, { name: "SN3" }] })],
      bonusProgram: { transactionType: "SPENDING" },
      preferredBonusToSpend: 1,
    });
    expect(r.status).toBe(200);
    expect(r.body.bonusProgram.bonusValueToSpend).toBe(1);
    const parts = r.body.positions;
    const paid = parts.reduce((s: number, p: any) => s + Math.round(p.discountedPrice * 100) * p.quantity, 0);
    expect(paid).toBe(2900);
    expect(parts).toHaveLength(2);
    for (const p of parts) expect(p.sn.length).toBe(p.quantity);
    expect(parts.flatMap((p: any) => p.sn.map((s: any) => s.name))).toEqual(["SN1", "SN2", "SN3"]);
  });

  test("program settings apply at once: max share, spend rate, excluded goods, spend verification", async () => {
    await setBalance(1000);
    const put = await t.admin("PUT", `/tenants/${shop.slug}/program`, {
      maxSpendPercent: 50,
      spendRate: 2,
      excludedAssortmentIds: ["tobacco"],
      requireSpendVerification: true,
    });
    expect(put.status).toBe(200);
    const r = await recalc({
      agent: { meta: { id: customerId } },
      positions: [pos("p1", 100, 1), pos("tobacco", 200, 1)],
      bonusProgram: { transactionType: "SPENDING" },
    });
    // eligible 100.00, at most 50% = 50.00, at 2 roubles a point = 25 points
    expect(r.body.bonusProgram.bonusValueToSpend).toBe(25);
    expect(r.body.bonusProgram.paidByBonusPoints).toBe(50);
    expect(r.body.positions[0].discountedPrice).toBe(50);
    expect(r.body.positions[1].discountedPrice).toBe(200);
    expect(r.body.positions[1].discountPercent).toBe(0);
    expect(r.body.needVerification).toBe(true);
    await t.admin("PUT", `/tenants/${shop.slug}/program`, { maxSpendPercent: 100, spendRate: 1, excludedAssortmentIds: [], requireSpendVerification: false });
  });

  test("echoes unknown position fields, pack and the agent", async () => {
    const r = await recalc({
      agent: { meta: { id: customerId }, name: "Покупатель" },
      positions: [pos("p1", 12.34, 1.5, { pack: { id: "pk", name: "Упаковка", quantity: 6, barcode: "4600000000000" }, vat: 20 })],
    });
    expect(r.body.agent).toEqual({ meta: { id: customerId }, name: "Покупатель" });
    expect(r.body.positions[0].pack).toEqual({ id: "pk", name: "Упаковка", quantity: 6, barcode: "4600000000000" });
    expect(r.body.positions[0].vat).toBe(20);
    expect(r.body.positions[0].quantity).toBe(1.5);
  });

  test("recalc changes no state", async () => {
    await setBalance(500);
    const before = await t.db.sql`select balance, updated_at, (select count(*)::int from ledger_entry) as entries from customer where id = ${customerId}`;
    for (let i = 0; i < 3; i++) {
      await recalc({ agent: { meta: { id: customerId } }, positions: [pos("p1", 300, 1)], bonusProgram: { transactionType: "SPENDING" } });
    }
    const after = await t.db.sql`select balance, updated_at, (select count(*)::int from ledger_entry) as entries from customer where id = ${customerId}`;
    expect(after).toEqual(before);
  });

  test("a negative balance offers nothing to spend", async () => {
    await t.db.sql`update customer set balance = -30 where id = ${customerId}`;
    const r = await recalc({ agent: { meta: { id: customerId } }, positions: [pos("p1", 300, 1)], bonusProgram: { transactionType: "SPENDING" } });
    expect(r.body.bonusProgram.bonusValueToSpend).toBe(0);
    expect(r.body.positions[0].discountedPrice).toBe(300);
    await t.db.sql`update customer set balance = 0 where id = ${customerId}`;
  });

  describe("bad input: clear errors[], no 500", () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ["price with 3 decimals", { positions: [pos("p1", 10.001, 1)] }, "positions[0].price"],
      ["quantity with 4 decimals", { positions: [pos("p1", 10, 1.0001)] }, "positions[0].quantity"],
      ["negative price", { positions: [pos("p1", -1, 1)] }, "positions[0].price"],
      ["zero quantity", { positions: [pos("p1", 1, 0)] }, "positions[0].quantity"],
      ["quantity as text", { positions: [pos("p1", 1, "2" as any)] }, "positions[0].quantity"],
      ["no positions", { positions: [] }, "positions"],
      ["fractional preferred spend", { positions: [pos("p1", 1, 1)], preferredBonusToSpend: 1.5 }, "preferredBonusToSpend"],
      ["unknown transaction type", { positions: [pos("p1", 1, 1)], bonusProgram: { transactionType: "STEAL" } }, "bonusProgram.transactionType"],
    ];
    for (const [name, patch, parameter] of cases) {
      test(name, async () => {
        const r = await recalc({ agent: { meta: { id: customerId } }, ...patch });
        expect(r.status).toBe(400);
        expect(r.body.errors[0].parameter).toBe(parameter);
        expect(r.body.errors[0].code).toBe(40001);
        expect(r.body.errors[0].error_message.length).toBeGreaterThan(10);
      });
    }
    test("missing agent", async () => {
      const r = await recalc({ positions: [pos("p1", 1, 1)] });
      expect(r.status).toBe(400);
      expect(r.body.errors[0].parameter).toBe("agent");
    });
    test("unknown customer → 404", async () => {
      const r = await recalc({ agent: { phone: "+79990000000" }, positions: [pos("p1", 1, 1)] });
      expect(r.status).toBe(404);
      expect(r.body.errors[0].code).toBe(40401);
    });
  });
});
