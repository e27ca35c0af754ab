import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { newCode } from "../src/loyalty/codes.ts";
import { jobId } from "../src/queue/queues.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { closeShopWithQueues, openShopWithQueues, type TestQueues } from "./support/redis.ts";

let t: TestContext;
let q: TestQueues;
let shop: TestTenant;

beforeAll(async () => {
  ({ t, q, shop } = await openShopWithQueues());
  await t.admin("PUT", `/tenants/${shop.slug}/program`, { requireRegistrationVerification: true, requireSpendVerification: true });
});
afterAll(() => closeShopWithQueues({ t, q }));

const verifyRegistration = (phone: string, key = shop.apiToken) =>
  t.pos(key, "POST", "/counterparty/verify", { meta: { href: "syncid://pos/abc" }, phone, name: "Новый" });

describe("confirmation codes", () => {
  test("codes are uniformly random digits of the configured length", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const c = newCode(6);
      expect(c).toMatch(/^\d{6}$/);
      seen.add(c);
    }
    expect(seen.size).toBeGreaterThan(1950);
    expect(newCode(4)).toMatch(/^\d{4}$/);
  });

  test("registration: 412/28001, then a code by SMS (queued first), then CHECKED creates the customer", async () => {
    const phone = "+79221234567";
    const first = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, statusCheck: "UNCHECKED" });
    expect(first.status).toBe(412);
    expect(first.body.errors[0].code).toBe(28001);

    const v = await verifyRegistration(phone);
    expect(v.status).toBe(200);
    expect(v.body.verificationCode).toMatch(/^\d{6}$/);
    expect(v.body.timeForRepeat).toBe(60);
    expect(v.body.messageForCashier).toBe("Код отправлен на номер +7 922 ***-**-67");
    expect(v.body.messageForCashier.length).toBeLessThanOrEqual(140);

    // The job names the code's row; the code itself is in Postgres only.
    const [row] = await t.db.sql`select id, code, purpose, phone, expires_at > now() as live from verification_code where phone = '79221234567'`;
    expect(row).toMatchObject({ code: v.body.verificationCode, purpose: "registration", live: true });
    const job = await q.queues.notifications.getJob(jobId.codeMessage(row!.id));
    expect(job?.data).toEqual({ type: "code", tenantId: shop.id, codeId: row!.id });
    expect(JSON.stringify(job?.data)).not.toContain(v.body.verificationCode);
    expect(job?.opts.priority).toBe(1);

    const created = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, statusCheck: "CHECKED" });
    expect(created.status).toBe(201);
  });

  test("a second code before timeForRepeat → 429 saying when to ask again; other phones are not affected", async () => {
    const a = await verifyRegistration("+79221110001");
    expect(a.status).toBe(200);
    const again = await verifyRegistration("89221110001");
    expect(again.status).toBe(429);
    expect(again.body.errors[0].code).toBe(42901);
    expect(again.body.errors[0].error_message).toMatch(/через \d+ с/);
    expect((await verifyRegistration("+79221110002")).status).toBe(200);
  });

  test("the pause counts per phone and purpose: a customer who just registered can confirm a spend at once; the hourly limit counts both", async () => {
    const other = await t.createTenant();
    await t.admin("PUT", `/tenants/${other.slug}/program`, { requireSpendVerification: true, codeRepeatSeconds: 60, codesPerPhonePerHour: 3 });
    const phone = "+79226660000";
    expect((await verifyRegistration(phone, other.apiToken)).status).toBe(200);
    const c = await t.pos(other.apiToken, "POST", "/counterparty", { phone, statusCheck: "IGNORE" });
    expect(c.status).toBe(201);
    const spendCode = () => t.pos(other.apiToken, "POST", "/retaildemand/verify", { counterpartyId: c.body.id });
    expect((await spendCode()).status).toBe(200);
    // Each purpose still has its own pause.
    const secondSpend = await spendCode();
    expect(secondSpend.status).toBe(429);
    expect(secondSpend.body.errors[0].error_message).toMatch(/через \d+ с/);
    expect((await verifyRegistration(phone, other.apiToken)).status).toBe(429);
    // The hourly limit per phone counts codes of every purpose: 2 so far, one more allowed.
    await t.db.sql`update verification_code set created_at = created_at - interval '61 seconds' where tenant_id = ${other.id}`;
    expect((await spendCode()).status).toBe(200);
    await t.db.sql`update verification_code set created_at = created_at - interval '61 seconds' where tenant_id = ${other.id}`;
    const fourth = await verifyRegistration(phone, other.apiToken);
    expect(fourth.status).toBe(429);
    expect(fourth.body.errors[0].error_message).toContain("за последний час");
  });

  test("concurrent requests for one phone issue one code", async () => {
    const replies = await Promise.all(Array.from({ length: 6 }, () => verifyRegistration("+79221119999")));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
    expect(replies.filter((r) => r.status === 429)).toHaveLength(5);
  });

  test("per-phone hourly and per-tenant hourly limits", async () => {
    const other = await t.createTenant();
    await t.admin("PUT", `/tenants/${other.slug}/program`, { codeRepeatSeconds: 10, codesPerPhonePerHour: 2, codesPerTenantPerHour: 3 });
    const phone = "+79223330000";
    // Age the earlier codes past timeForRepeat instead of waiting.
    const age = () => t.db.sql`update verification_code set created_at = created_at - interval '11 seconds' where tenant_id = ${other.id}`;
    expect((await verifyRegistration(phone, other.apiToken)).status).toBe(200);
    await age();
    expect((await verifyRegistration(phone, other.apiToken)).status).toBe(200);
    await age();
    const third = await verifyRegistration(phone, other.apiToken);
    expect(third.status).toBe(429);
    expect(third.body.errors[0].error_message).toContain("за последний час");
    expect((await verifyRegistration("+79223330001", other.apiToken)).status).toBe(200);
    await age();
    const flood = await verifyRegistration("+79223330002", other.apiToken);
    expect(flood.status).toBe(429);
    expect(flood.body.errors[0].error_message).toContain("лимит");
  });

  test("code length and lifetime follow the program; expired codes are wiped", async () => {
    const other = await t.createTenant();
    await t.admin("PUT", `/tenants/${other.slug}/program`, { codeLength: 4, codeTtlSeconds: 30 });
    const v = await verifyRegistration("+79224440000", other.apiToken);
    expect(v.body.verificationCode).toMatch(/^\d{4}$/);
    const [row] = await t.db.sql`select extract(epoch from expires_at - created_at)::int as ttl from verification_code where tenant_id = ${other.id}`;
    expect(row!.ttl).toBe(30);
    await t.db.sql`update verification_code set expires_at = now() - interval '1 second' where tenant_id = ${other.id}`;
    const { releasePending } = await import("../workers/sweeper.ts");
    await releasePending(t.db.sql);
    const [after] = await t.db.sql`select code from verification_code where tenant_id = ${other.id}`;
    expect(after!.code).toBeNull();
  });

  test("spend: recalc asks for verification; the code goes to the phone on record", async () => {
    const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79225550000", statusCheck: "IGNORE" });
    await t.admin("POST", `/tenants/${shop.slug}/customers/${c.body.id}/adjustments`, { points: 50, reason: "x" });
    const rc = await t.pos(shop.apiToken, "POST", "/retaildemand/recalc", {
      agent: { meta: { id: c.body.id } },
      positions: [{ assortment: { meta: { id: "p" } }, price: 100, quantity: 1 }],
      bonusProgram: { transactionType: "SPENDING" },
    });
    expect(rc.body.needVerification).toBe(true);
    const v = await t.pos(shop.apiToken, "POST", "/retaildemand/verify", { counterpartyId: c.body.id, phone: "+79990000000" });
    expect(v.status).toBe(200);
    expect(v.body.messageForCashier).toContain("***-**-00");
    const [row] = await t.db.sql`select phone, purpose, customer_id from verification_code where customer_id = ${c.body.id}`;
    expect(row).toEqual({ phone: "79225550000", purpose: "spend", customer_id: c.body.id });
    const unknown = await t.pos(shop.apiToken, "POST", "/retaildemand/verify", { counterpartyId: "12345678-1234-4234-8234-123456789012" });
    expect(unknown.status).toBe(404);
  });

  test("no phone → 400; a process without queues → 503 and no code is left behind", async () => {
    expect((await verifyRegistration("")).status).toBe(400);
    const noQueues = await testContext();
    try {
      const s = await noQueues.createTenant();
      const r = await noQueues.pos(s.apiToken, "POST", "/counterparty/verify", { phone: "+79226660000" });
      expect(r.status).toBe(503);
      expect(r.body.errors[0].code).toBe(50301);
    } finally {
      await noQueues.close();
    }
  });
});
