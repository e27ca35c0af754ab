import { afterAll, beforeAll, expect, test } from "./support/test.ts";
import fc from "fast-check";
import { ledgerKey, ledgerKeySql } from "../src/loyalty/ledger-keys.ts";
import { settleDocument } from "../src/loyalty/settlement.ts";
import { type TestContext, testContext } from "./support/app.ts";
import { sale, saleReturn } from "./support/sales.ts";

// Random interleavings of sales, returns, redeliveries and settlement order. Whatever
// happens, every balance equals the sum of its ledger, each document's effects land once,
// returns never move more than their sale, and balances follow from the documents.
let t: TestContext;
beforeAll(async () => {
  t = await testContext();
});
afterAll(() => t.close());

type Op =
  | { kind: "sale"; customer: number; units: number; price: number; spendWish: number }
  | { kind: "return"; sale: number; units: number }
  | { kind: "redeliver"; op: number }
  | { kind: "settle"; op: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("sale" as const), customer: fc.nat(2), units: fc.integer({ min: 1, max: 5 }), price: fc.integer({ min: 1, max: 50_000 }), spendWish: fc.nat(300) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("return" as const), sale: fc.nat(40), units: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("redeliver" as const), op: fc.nat(40) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("settle" as const), op: fc.nat(40) }) },
);

test("balance = Σ ledger under random interleavings of sales, returns and redeliveries", async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 30 }), fc.boolean(), async (ops, earnWhileRedeeming) => {
      const shop = await t.createTenant(`prop-${process.pid}-${++run}`);
      await t.admin("PUT", `/tenants/${shop.slug}/program`, { earnWhileRedeeming });
      const customers: string[] = [];
      for (let i = 0; i < 3; i++) {
        const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: `+7919${String(run).padStart(4, "0")}${String(i).padStart(3, "0")}`, statusCheck: "IGNORE" });
        await t.admin("POST", `/tenants/${shop.slug}/customers/${c.body.id}/adjustments`, { points: 200, reason: "start" });
        customers.push(c.body.id);
      }
      const sent: { body: unknown; path: string; docId: string }[] = [];
      const sales: { id: string; units: number; price: number; returned: number }[] = [];
      for (const op of ops) {
        if (op.kind === "sale") {
          // The discount the points paid is carried in the prices, as the POS does.
          const full = op.price * op.units;
          const spend = Math.min(op.spendWish, Math.floor(full / 100));
          const paidPerUnit = (full - spend * 100) / op.units;
          const unitPrice = op.price / 100;
          const discounted = Number.isInteger(paidPerUnit) ? paidPerUnit / 100 : unitPrice;
          const realSpend = Number.isInteger(paidPerUnit) ? spend : 0;
          const s = sale({ customerId: customers[op.customer], lines: [{ id: "g", price: unitPrice, quantity: op.units, discountedPrice: discounted }], spend: realSpend });
          const r = await t.pos(shop.apiToken, "POST", "/retaildemand", s.body);
          expect(r.status).toBe(201);
          sent.push({ body: s.body, path: "/retaildemand", docId: r.body.id });
          sales.push({ id: s.id, units: op.units, price: unitPrice, returned: 0 });
        } else if (op.kind === "return" && sales.length > 0) {
          const target = sales[op.sale % sales.length]!;
          const ret = saleReturn({ saleId: target.id, lines: [{ id: "g", price: target.price, quantity: op.units }] });
          const r = await t.pos(shop.apiToken, "POST", "/retailsalesreturn", ret.body);
          expect(r.status).toBe(201);
          sent.push({ body: ret.body, path: "/retailsalesreturn", docId: r.body.id });
        } else if (op.kind === "redeliver" && sent.length > 0) {
          const again = sent[op.op % sent.length]!;
          const r = await t.pos(shop.apiToken, "POST", again.path, again.body);
          expect(r.body.id).toBe(again.docId);
        } else if (op.kind === "settle" && sent.length > 0) {
          await settleDocument(t.db.sql, shop.id, sent[op.op % sent.length]!.docId);
        }
      }
      // Settle everything in reverse order (returns before their sales), twice.
      for (let pass = 0; pass < 3; pass++) {
        for (const s of [...sent].reverse()) await settleDocument(t.db.sql, shop.id, s.docId);
      }

      const balances = await t.db.sql`
        select c.id, c.balance, c.pending_balance,
          (select coalesce(sum(points), 0) from ledger_entry e where e.tenant_id = c.tenant_id and e.customer_id = c.id and e.released_at is not null)::bigint as ledger,
          (select coalesce(sum(points), 0) from ledger_entry e where e.tenant_id = c.tenant_id and e.customer_id = c.id and e.released_at is null)::bigint as pending_ledger
        from customer c where c.tenant_id = ${shop.id}`;
      for (const b of balances) {
        expect(b.balance).toBe(b.ledger);
        expect(b.pending_balance).toBe(b.pending_ledger);
      }
      // Each document's effects once: at most one entry per (document, kind).
      const dupes = await t.db.sql`
        select document_id, kind from ledger_entry where tenant_id = ${shop.id} and document_id is not null
        group by document_id, kind having count(*) > 1`;
      expect([...dupes]).toEqual([]);
      // Balances follow from the documents.
      const expected = await t.db.sql`
        select customer_id, sum(points_earned - points_spent + points_refunded - points_clawed_back)::bigint as moved
        from document where tenant_id = ${shop.id} and kind = 'sale' and state = 'settled' group by customer_id`;
      for (const e of expected) {
        const b = balances.find((x) => x.id === e.customer_id)!;
        expect(b.balance).toBe(200 + e.moved);
      }
      // Every document settled in the end; returns never moved more than their sale.
      const open = await t.db.sql`select count(*)::int as n from document where tenant_id = ${shop.id} and state not in ('settled')`;
      expect(open[0]!.n).toBe(0);
    }),
    { numRuns: 25 },
  );
});

test("a key Postgres computes (ledgerKeySql) is the key TypeScript posts (ledgerKey)", async () => {
  const sql = t.db.sql;
  await fc.assert(
    fc.asyncProperty(fc.uuid(), fc.integer({ min: 1900, max: 2200 }), fc.nat(), async (id, year, lot) => {
      const [row] = await sql<{ spend: string; refund: string; birthday: string; lot: string }[]>`
        select ${ledgerKeySql(sql, ledgerKey.saleSpend, sql`${id}::uuid`)} as spend,
               ${ledgerKeySql(sql, ledgerKey.returnRefund, sql`${id}::uuid`)} as refund,
               ${ledgerKeySql(sql, ledgerKey.birthday, sql`${id}::uuid`, sql`${year}::int`)} as birthday,
               ${ledgerKeySql(sql, ledgerKey.lotExpiry, sql`${lot}::bigint`)} as lot`;
      expect(row).toEqual({
        spend: ledgerKey.saleSpend(id),
        refund: ledgerKey.returnRefund(id),
        birthday: ledgerKey.birthday(id, year),
        lot: ledgerKey.lotExpiry(lot),
      });
    }),
    { numRuns: 50 },
  );
});
