import { afterAll, beforeAll, expect, test } from "./support/test.ts";
import fc from "fast-check";
import { runRules } from "../src/loyalty/rules.ts";
import { settleDocument } from "../src/loyalty/settlement.ts";
import { type TestContext, testContext } from "./support/app.ts";
import { mskDaysAgo, sale, saleReturn, spendingLine } from "./support/sales.ts";

// Random interleavings of sales (some delivered late, so their points are already due to
// burn; some spending more than the balance), returns, gifts, burns and adjustments. After
// every step: balance = Σ ledger, and Σ spendable lots = balance whenever it is not negative
// (a negative balance is exactly the debt no lot could cover). Each lot burns at most once.
let t: TestContext;
beforeAll(async () => {
  t = await testContext();
});
afterAll(() => t.close());

const DAY = 86_400_000;

type Op =
  | { kind: "sale"; units: number; price: number; spendWish: number; daysAgo: number }
  | { kind: "return"; sale: number; units: number }
  | { kind: "gift"; points: number; days: number | null }
  | { kind: "take"; points: number }
  | { kind: "burn" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("sale" as const), units: fc.integer({ min: 1, max: 4 }), price: fc.integer({ min: 100, max: 30_000 }), spendWish: fc.nat(400), daysAgo: fc.constantFrom(0, 0, 5, 31, 45) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("return" as const), sale: fc.nat(30), units: fc.integer({ min: 1, max: 2 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("gift" as const), points: fc.integer({ min: 1, max: 300 }), days: fc.option(fc.integer({ min: 1, max: 60 }), { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("take" as const), points: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: "burn" as const }) },
);

test("balance = Σ ledger and Σ open lots = balance under random sales, returns, gifts, burns and adjustments", async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 25 }), async (ops) => {
      const shop = await t.createTenant(`lots-${process.pid}-${++run}`);
      await t.admin("PUT", `/tenants/${shop.slug}/program`, {
        earnPercent: 10,
        earnWhileRedeeming: true,
        pointsLifetimeDays: 30,
        welcomePoints: 20,
        welcomeOn: "firstPurchase",
      });
      const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: `+7920${String(run).padStart(7, "0")}`, statusCheck: "IGNORE" });
      const customerId = c.body.id as string;
      const sales: { id: string; units: number; price: number; discounted: number; returned: number }[] = [];
      for (const op of ops) {
        if (op.kind === "sale") {
          const { line, spend } = spendingLine(op.price, op.units, op.spendWish);
          const s = sale({ customerId, lines: [line], spend, moment: mskDaysAgo(op.daysAgo) });
          const r = await t.pos(shop.apiToken, "POST", "/retaildemand", s.body);
          expect(r.status).toBe(201);
          await settleDocument(t.db.sql, shop.id, r.body.id);
          sales.push({ id: s.id, units: op.units, price: line.price, discounted: line.discountedPrice!, returned: 0 });
        } else if (op.kind === "return" && sales.length > 0) {
          const target = sales[op.sale % sales.length]!;
          const units = Math.min(op.units, target.units - target.returned);
          if (units <= 0) continue;
          target.returned += units;
          const ret = saleReturn({ saleId: target.id, lines: [{ id: "g", price: target.price, quantity: units, discountedPrice: target.discounted }] });
          const r = await t.pos(shop.apiToken, "POST", "/retailsalesreturn", ret.body);
          expect(r.status).toBe(201);
          await settleDocument(t.db.sql, shop.id, r.body.id);
        } else if (op.kind === "gift") {
          const body: Record<string, unknown> = { points: op.points, reason: "подарок" };
          if (op.days !== null) body.expiresAt = new Date(Date.now() + op.days * DAY).toISOString();
          expect((await t.admin("POST", `/tenants/${shop.slug}/customers/${customerId}/adjustments`, body)).status).toBe(201);
        } else if (op.kind === "take") {
          const r = await t.admin("POST", `/tenants/${shop.slug}/customers/${customerId}/adjustments`, { points: -op.points, reason: "списание" });
          expect([201, 409]).toContain(r.status);
        } else if (op.kind === "burn") {
          await Promise.all([runRules(t.db.sql), runRules(t.db.sql)]);
        }
        const [b] = await t.db.sql<{ balance: number; debt: number; ledger: number; lots: number }[]>`
          select c.balance::int as balance, c.lots_debt::int as debt,
            (select coalesce(sum(points), 0)::int from ledger_entry e
              where e.tenant_id = c.tenant_id and e.customer_id = c.id and e.released_at is not null) as ledger,
            (select coalesce(sum(l.remaining), 0)::int from points_lot l
              left join ledger_entry src on src.tenant_id = l.tenant_id and src.id = l.entry_id
              where l.tenant_id = c.tenant_id and l.customer_id = c.id and l.burned_at is null
                and (l.entry_id is null or src.released_at is not null)) as lots
          from customer c where c.tenant_id = ${shop.id} and c.id = ${customerId}`;
        expect(b!.balance).toBe(b!.ledger);
        if (b!.balance >= 0) expect(b!.lots).toBe(b!.balance);
        else expect(b!.debt).toBe(-b!.balance);
      }
      const burns = await t.db.sql<{ n: number }[]>`
        select count(*)::int as n from ledger_entry where tenant_id = ${shop.id} and kind = 'expiry'
        group by idempotency_key having count(*) > 1`;
      expect(burns.length).toBe(0);
      const [w] = await t.db.sql<{ n: number }[]>`select count(*)::int as n from ledger_entry where tenant_id = ${shop.id} and kind = 'welcome'`;
      expect(w!.n).toBe(sales.length > 0 ? 1 : 0);
    }),
    { numRuns: 25 },
  );
});
