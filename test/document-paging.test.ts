// Operators reach every stored sale and return, not only the newest 500: the documents
// list pages on (received_at, id) with ?before= → nextBefore, and ?held=true lists the
// documents whose points wait for an operator's decision. Bad parameters are refused in
// words (400 errors[]), never a 500.
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { settleDocument } from "../src/loyalty/settlement.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { sale } from "./support/sales.ts";

let t: TestContext;
beforeAll(async () => {
  t = await testContext();
});
afterAll(() => t.close());

/** Every page of the list, following nextBefore; each page's own answer checked. */
async function allPages(slug: string, query: string, limit: number): Promise<{ rows: any[]; pages: number }> {
  const rows: any[] = [];
  let before: string | null = null;
  let pages = 0;
  do {
    const q: string = `${query}&limit=${limit}` + (before ? `&before=${encodeURIComponent(before)}` : "");
    const r = await t.admin("GET", `/tenants/${slug}/documents?${q}`);
    expect({ status: r.status, errors: r.body.errors }).toEqual({ status: 200, errors: undefined });
    expect(r.body.rows.length).toBeLessThanOrEqual(limit);
    // A page that says there is more is full; the last one says null.
    if (r.body.nextBefore !== null) expect(r.body.rows.length).toBe(limit);
    rows.push(...r.body.rows);
    before = r.body.nextBefore;
    if (++pages > 1000) throw new Error("paging does not end");
  } while (before !== null);
  return { rows, pages };
}

async function postSales(shop: TestTenant, n: number, customerId?: string): Promise<string[]> {
  const ids: string[] = [];
  // Twenty at a time: concurrent sales share a commit, so many share received_at too.
  for (let i = 0; i < n; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, n - i) }, () =>
        t.pos(shop.apiToken, "POST", "/retaildemand", sale({ customerId, lines: [{ id: "p1", price: 100, quantity: 1 }], cash: 100 }).body),
      ),
    );
    for (const r of batch) {
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
  }
  return ids;
}

describe("documents list: every document reachable", () => {
  test("620 sales: pages of 500 and of 7 reach each exactly once, newest first; ties and microseconds apart do not skip or repeat", async () => {
    const shop = await t.createTenant();
    const ids = await postSales(shop, 620);
    // Received in one instant, and received microseconds apart within one millisecond (a
    // cursor rounded to milliseconds would skip or repeat these).
    await t.db.sql`update document set received_at = '2026-01-15 10:00:00.123456+00' where tenant_id = ${shop.id} and id = any(${ids.slice(0, 40)})`;
    const spread = ids.slice(40, 80);
    for (const [i, id] of spread.entries()) {
      await t.db.sql`update document set received_at = '2026-01-15 09:00:00.5+00'::timestamptz + ${i % 7} * interval '1 microsecond' where id = ${id}`;
    }

    const big = await allPages(shop.slug, "", 500);
    expect(big.pages).toBe(2);
    expect(big.rows.length).toBe(620);
    expect(new Set(big.rows.map((r) => r.id))).toEqual(new Set(ids));

    const small = await allPages(shop.slug, "", 7);
    expect(small.pages).toBe(Math.ceil(620 / 7));
    expect(small.rows.map((r) => r.id)).toEqual(big.rows.map((r) => r.id));
    // Newest first.
    for (let i = 1; i < small.rows.length; i++) expect(small.rows[i - 1].receivedAt >= small.rows[i].receivedAt).toBe(true);
    expect(small.rows.at(-1).receivedAt).toBe("2026-01-15T09:00:00.500Z");

    // A filter pages the same way (state=received: none settled here).
    const received = await allPages(shop.slug, "state=received", 300);
    expect(received.rows.length).toBe(620);
    // The default page is the newest 100, and says where the next begins.
    const first = await t.admin("GET", `/tenants/${shop.slug}/documents`);
    expect(first.body.rows.length).toBe(100);
    expect(first.body.nextBefore).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z_[0-9a-f-]{36}$/);
  });

  test("?held=true: the documents whose points wait for a decision, paged; a decided one leaves the list", async () => {
    const shop = await t.createTenant();
    expect((await t.admin("PUT", `/tenants/${shop.slug}/program`, { maxPointsPerReceipt: 10 })).status).toBe(200);
    const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: `+7916${String(process.pid % 1000).padStart(3, "0")}7001`, statusCheck: "IGNORE" });
    expect(c.status).toBe(201);
    const customerId = c.body.id;
    const pos = (body: unknown) => t.pos(shop.apiToken, "POST", "/retaildemand", body);
    // Spent 50 with a balance of 0: held spend. Earned 50 (1000 ₽ at 5 %) past the bound of 10: 40 held.
    const spend = await pos(sale({ customerId, lines: [{ id: "p1", price: 100, quantity: 1, discountedPrice: 50 }], spend: 50 }).body);
    const earn = await pos(sale({ customerId, lines: [{ id: "p1", price: 1000, quantity: 1 }], cash: 1000 }).body);
    // Ordinary sales around them, and a flagged one that holds nothing.
    await postSales(shop, 30, customerId);
    const flagged = await pos(sale({ customerId, lines: [{ id: "p1", price: 100, quantity: 1 }], cash: 1 }).body);
    for (const d of await t.db.sql<{ id: string }[]>`select id from document where tenant_id = ${shop.id} order by received_at`) {
      await settleDocument(t.db.sql, shop.id, d.id);
    }

    const held = await allPages(shop.slug, "held=true", 1);
    expect(held.rows.map((r) => r.id).sort()).toEqual([spend.body.id, earn.body.id].sort());
    expect(held.rows.find((r) => r.id === spend.body.id)).toMatchObject({ heldSpendPoints: 50, holdDecision: null });
    expect(held.rows.find((r) => r.id === earn.body.id)).toMatchObject({ heldEarnPoints: 40, holdDecision: null });
    // attention=true has them too, and the flagged one; held=true does not.
    const attention = await allPages(shop.slug, "attention=true", 500);
    expect(attention.rows.map((r) => r.id)).toEqual(expect.arrayContaining([spend.body.id, earn.body.id, flagged.body.id]));
    expect(held.rows.map((r) => r.id)).not.toContain(flagged.body.id);
    expect((await allPages(shop.slug, "held=false", 500)).rows.length).toBe(33);

    expect((await t.admin("POST", `/tenants/${shop.slug}/documents/${spend.body.id}/hold`, { decision: "reject" })).status).toBe(200);
    expect((await allPages(shop.slug, "held=true", 500)).rows.map((r) => r.id)).toEqual([earn.body.id]);
    expect((await t.admin("POST", `/tenants/${shop.slug}/documents/${earn.body.id}/hold`, { decision: "approve" })).status).toBe(200);
    expect((await allPages(shop.slug, "held=true", 500)).rows).toEqual([]);
    // With a customer filter too.
    expect((await allPages(shop.slug, `customerId=${customerId}`, 16)).rows.length).toBe(33);
  });

  test("a bad cursor or parameter → 400 errors[] in words naming it, never 500", async () => {
    const shop = await t.createTenant();
    const okCursor = "2026-01-15T10:00:00.123456Z_3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e";
    expect((await t.admin("GET", `/tenants/${shop.slug}/documents?before=${okCursor}`)).body).toEqual({ rows: [], nextBefore: null });
    for (const [query, parameter] of [
      ["before=abc", "before"],
      ["before=", "before"],
      ["before=2026-02-30T10:00:00.000000Z_3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e", "before"],
      ["before=2026-01-15T24:00:00.000000Z_3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e", "before"],
      ["before=0000-01-15T10:00:00.000000Z_3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e", "before"],
      ["before=2026-01-15T10:00:00.123Z_3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e", "before"],
      ["before=2026-01-15T10:00:00.123456Z_not-a-uuid", "before"],
      ["before=2026-01-15T10:00:00.123456Z_3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e';drop", "before"],
      [`before=${"9".repeat(5000)}`, "before"],
      ["held=maybe", "held"],
      ["limit=501", "limit"],
    ] as const) {
      const r = await t.admin("GET", `/tenants/${shop.slug}/documents?${query}`);
      expect({ query, status: r.status }).toEqual({ query, status: 400 });
      const e = r.body.errors[0];
      expect(e.code).toBe(40001);
      expect(e.error_message).toMatch(/[а-яё]{4}/i);
      if (query !== "limit=501") expect({ query, parameter: e.parameter }).toEqual({ query, parameter });
    }
  });
});
