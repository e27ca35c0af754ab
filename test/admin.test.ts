import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { type TestContext, testContext } from "./support/app.ts";

let t: TestContext;
beforeAll(async () => {
  t = await testContext();
});
afterAll(() => t.close());

describe("admin API", () => {
  test("requires the bearer token", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong-token-wrong-token" }, { authorization: "Basic abc" }] as Record<string, string>[]) {
      const r = await t.fetch("/admin/v1/tenants", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: "{}" });
      expect(r.status).toBe(401);
      expect(r.body.errors[0].code).toBe(40101);
    }
  });

  test("creates a tenant whose key is shown once and stored hashed", async () => {
    const r = await t.admin("POST", "/tenants", { slug: "hashed-shop", name: "Хеш" });
    expect(r.status).toBe(201);
    expect(r.body.apiToken.length).toBeGreaterThanOrEqual(40);
    const [row] = await t.db.sql`select api_key_hash from tenant where slug = 'hashed-shop'`;
    expect(Buffer.from(row!.api_key_hash).toString("utf8")).not.toContain(r.body.apiToken);
    expect(row!.api_key_hash.length).toBe(32);
    const dup = await t.admin("POST", "/tenants", { slug: "hashed-shop", name: "Ещё" });
    expect(dup.status).toBe(409);
    const bad = await t.admin("POST", "/tenants", { slug: "Bad Slug!", name: "x" });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].parameter).toBe("slug");
  });

  test("program settings: defaults, partial update, validation", async () => {
    const shop = await t.createTenant();
    const g = await t.admin("GET", `/tenants/${shop.slug}/program`);
    expect(g.body).toMatchObject({
      earnPercent: 5,
      spendRate: 1,
      maxSpendPercent: 100,
      earnWhileRedeeming: false,
      accrualDelayDays: 0,
      excludedAssortmentIds: [],
      requireSpendVerification: false,
      requireRegistrationVerification: false,
    });
    expect(g.body.receiptTemplate).toContain("{earned}");
    const p = await t.admin("PUT", `/tenants/${shop.slug}/program`, { earnPercent: 2.5, accrualDelayDays: 14 });
    expect(p.status).toBe(200);
    expect(p.body.earnPercent).toBe(2.5);
    expect(p.body.accrualDelayDays).toBe(14);
    expect(p.body.spendRate).toBe(1);
    for (const bad of [{ earnPercent: 101 }, { earnPercent: 1.234 }, { spendRate: 0 }, { accrualDelayDays: -1 }, { earnWhileRedeeming: "yes" }]) {
      const r = await t.admin("PUT", `/tenants/${shop.slug}/program`, bad);
      expect(r.status).toBe(400);
      expect(r.body.errors[0].parameter).toBe(Object.keys(bad)[0]);
    }
    expect((await t.admin("GET", `/tenants/${shop.slug}/program`)).body.earnPercent).toBe(2.5);
    expect((await t.admin("GET", `/tenants/no-such-shop/program`)).status).toBe(404);
  });

  test("program settings: time zone and the per-receipt points limit", async () => {
    const shop = await t.createTenant();
    const g = await t.admin("GET", `/tenants/${shop.slug}/program`);
    expect(g.body).toMatchObject({ timezone: "Europe/Moscow", maxPointsPerReceipt: 100000 });
    const p = await t.admin("PUT", `/tenants/${shop.slug}/program`, { timezone: "Asia/Vladivostok", maxPointsPerReceipt: 5000 });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ timezone: "Asia/Vladivostok", maxPointsPerReceipt: 5000, earnPercent: 5 });
    for (const bad of [
      { timezone: "Mars/Olympus_Mons" },
      { timezone: "" },
      { maxPointsPerReceipt: -1 },
      { maxPointsPerReceipt: 10.5 },
      { noSuchSetting: 1 },
    ]) {
      const r = await t.admin("PUT", `/tenants/${shop.slug}/program`, bad);
      expect(r.status).toBe(400);
      expect(r.body.errors[0].parameter).toBe(Object.keys(bad)[0]);
    }
    // A rejected patch changes nothing, even the valid fields beside the bad one.
    const mixed = await t.admin("PUT", `/tenants/${shop.slug}/program`, { earnPercent: 9, timezone: "Nowhere/Land" });
    expect(mixed.status).toBe(400);
    expect(mixed.body.errors[0].parameter).toBe("timezone");
    const after = await t.admin("GET", `/tenants/${shop.slug}/program`);
    expect(after.body).toMatchObject({ timezone: "Asia/Vladivostok", maxPointsPerReceipt: 5000, earnPercent: 5 });
  });

  test("customer view, adjustments and the ledger", async () => {
    const shop = await t.createTenant();
    const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79201234567", statusCheck: "IGNORE" });
    const id = c.body.id;
    const a1 = await t.admin("POST", `/tenants/${shop.slug}/customers/${id}/adjustments`, { points: 100, reason: "подарок" }, { "idempotency-key": "k1" });
    expect(a1.status).toBe(201);
    expect(a1.body).toMatchObject({ kind: "adjustment", points: 100, reason: "подарок", pending: false });
    // The same key again changes nothing.
    const again = await t.admin("POST", `/tenants/${shop.slug}/customers/${id}/adjustments`, { points: 100, reason: "подарок" }, { "idempotency-key": "k1" });
    expect(again.body.id).toBe(a1.body.id);
    const misuse = await t.admin("POST", `/tenants/${shop.slug}/customers/${id}/adjustments`, { points: 5, reason: "другое" }, { "idempotency-key": "k1" });
    expect(misuse.status).toBe(409);
    await t.admin("POST", `/tenants/${shop.slug}/customers/${id}/adjustments`, { points: -30, reason: "ошибка кассира" });
    const tooMuch = await t.admin("POST", `/tenants/${shop.slug}/customers/${id}/adjustments`, { points: -71, reason: "слишком" });
    expect(tooMuch.status).toBe(409);
    expect((await t.admin("POST", `/tenants/${shop.slug}/customers/${id}/adjustments`, { points: 0, reason: "ноль" })).status).toBe(400);
    expect((await t.admin("POST", `/tenants/${shop.slug}/customers/${id}/adjustments`, { points: 1.5, reason: "дробь" })).status).toBe(400);

    const view = await t.admin("GET", `/tenants/${shop.slug}/customers/${id}`);
    expect(view.body).toMatchObject({ id, phone: "+79201234567", balance: 70, pendingBalance: 0 });
    expect(view.body.qrToken).toBeTruthy();
    const ledger = await t.admin("GET", `/tenants/${shop.slug}/customers/${id}/ledger`);
    expect(ledger.body.rows.map((r: any) => r.points)).toEqual([-30, 100]);
    const page = await t.admin("GET", `/tenants/${shop.slug}/customers/${id}/ledger?limit=1`);
    expect(page.body.rows).toHaveLength(1);
    const next = await t.admin("GET", `/tenants/${shop.slug}/customers/${id}/ledger?limit=1&before=${page.body.nextBefore}`);
    expect(next.body.rows[0].points).toBe(100);
    // Running balance agrees with the ledger.
    const [{ sum }] = (await t.db.sql<{ sum: number }[]>`select coalesce(sum(points), 0)::int as sum from ledger_entry where customer_id = ${id}`) as unknown as [{ sum: number }];
    expect(sum).toBe(70);
    const found = await t.admin("GET", `/tenants/${shop.slug}/customers?search=89201234567`);
    expect(found.body.rows[0].id).toBe(id);
    expect((await t.admin("GET", `/tenants/${shop.slug}/customers/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
    expect((await t.admin("GET", `/tenants/${shop.slug}/customers/not-a-uuid`)).status).toBe(404);
  });

  test("a rotated key replaces the old one", async () => {
    const shop = await t.createTenant();
    const r = await t.admin("POST", `/tenants/${shop.slug}/api-key`);
    expect(r.status).toBe(201);
    expect((await t.pos(shop.apiToken, "GET", "/counterparty?search=x")).status).toBe(401);
    expect((await t.pos(r.body.apiToken, "GET", "/counterparty?search=x")).status).toBe(200);
  });

  test("the ledger is append-only in the database itself", async () => {
    const shop = await t.createTenant();
    const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79201110000", statusCheck: "IGNORE" });
    await t.admin("POST", `/tenants/${shop.slug}/customers/${c.body.id}/adjustments`, { points: 5, reason: "x" });
    expect(t.db.sql`update ledger_entry set points = 500 where customer_id = ${c.body.id}`).rejects.toThrow(/append-only/);
    expect(t.db.sql`delete from ledger_entry where customer_id = ${c.body.id}`).rejects.toThrow(/append-only/);
  });
});
