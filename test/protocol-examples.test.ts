// The public LoyaltyAPI 1.0 documentation's own example requests, as the documentation
// prints them (test/fixtures/protocol-examples, copied from its source), answered with the
// status the documentation gives. Their numbers do not always add up — a real POS can send
// the same — and a completed sale or return is still stored (and flagged), never refused.
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext, TestTenant } from "./support/app.ts";
import { closeShopWithQueues, openShopWithQueues, type TestQueues } from "./support/redis.ts";

const example = (name: string) => JSON.parse(readFileSync(join(import.meta.dirname, "fixtures/protocol-examples", name), "utf8"));

let t: TestContext;
let q: TestQueues;
let shop: TestTenant;

beforeAll(async () => {
  ({ t, q, shop } = await openShopWithQueues());
});
afterAll(() => closeShopWithQueues({ t, q }));

const pos = (method: string, path: string, body?: unknown) => t.pos(shop.apiToken, method, path, body);

describe("the documentation's examples", () => {
  test("POST /counterparty → 201; the customer is then found by the documentation's search", async () => {
    const r = await pos("POST", "/counterparty", example("create-counterparty.request.json"));
    expect(r.status).toBe(201);
    const found = await pos("GET", "/counterparty?search=MTIzNDU2Nzg5MA&retailStoreId=2b5eb22f-139e-11e6-9464-e4de00000073");
    expect(found.status).toBe(200);
    const shape = example("search-counterparty.response.json").rows[0];
    expect(Object.keys(found.body.rows[0]).sort()).toEqual(Object.keys(shape).sort());
    expect(found.body.rows[0]).toMatchObject({ msId: shape.msId, name: shape.name, discountCardNumber: shape.discountCardNumber, sex: "MALE" });
  });

  test("POST /counterparty with confirmation required and UNCHECKED → the documentation's 412 / 28001", async () => {
    const other = await t.createTenant();
    await t.admin("PUT", `/tenants/${other.slug}/program`, { requireRegistrationVerification: true });
    const body = { ...example("create-counterparty.request.json"), statusCheck: "UNCHECKED" };
    const r = await t.pos(other.apiToken, "POST", "/counterparty", body);
    expect(r.status).toBe(412);
    const documented = example("create-counterparty-needs-code.response-412.json");
    expect(r.body.errors[0].code).toBe(documented.errors[0].code);
    expect(Object.keys(r.body.errors[0])).toEqual(expect.arrayContaining(["error", "code", "error_message"]));
  });

  test("GET /counterparty?search=9039993344 (the documentation's search) → 200", async () => {
    const r = await pos("GET", "/counterparty?search=9039993344&retailStoreId=2b5eb22f-139e-11e6-9464-e4de00000073");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ rows: [] });
  });

  test("POST /counterparty/detail → 200 with the documented shape", async () => {
    const r = await pos("POST", "/counterparty/detail", example("counterparty-detail.request.json"));
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(Object.keys(example("counterparty-detail.response.json")));
    expect(r.body.bonusProgram.agentBonusBalance).toBe(0);
  });

  test("POST /counterparty/verify (meta with an href only) → 200 with the documented fields", async () => {
    const r = await pos("POST", "/counterparty/verify", example("counterparty-verify.request.json"));
    expect(r.status).toBe(200);
    const documented = example("counterparty-verify.response.json");
    for (const k of Object.keys(documented)) expect(r.body).toHaveProperty(k);
    expect(r.body.verificationCode).toMatch(/^\d+$/);
  });

  test("POST /retaildemand/verify → 200 (found by phone; a registration code a moment ago does not hold it up)", async () => {
    await pos("POST", "/counterparty", { phone: "+79011231122", name: "Ромашкова Варвара Никитична", statusCheck: "IGNORE" });
    const r = await pos("POST", "/retaildemand/verify", example("retaildemand-verify.request.json"));
    expect(r.status).toBe(200);
    for (const k of Object.keys(example("retaildemand-verify.response.json"))) expect(r.body).toHaveProperty(k);
  });

  test("POST /retaildemand/recalc → 200 with the documented fields for every position", async () => {
    const r = await pos("POST", "/retaildemand/recalc", example("recalc.request.json"));
    expect(r.status).toBe(200);
    const documented = example("recalc.response.json");
    expect(Object.keys(r.body).sort()).toEqual(Object.keys(documented).sort());
    expect(Object.keys(r.body.bonusProgram).sort()).toEqual(Object.keys(documented.bonusProgram).sort());
    for (const p of r.body.positions) {
      expect(p).toHaveProperty("discountPercent");
      expect(p).toHaveProperty("discountedPrice");
      expect(p.pack).toEqual(documented.positions[0].pack);
    }
    // 123.456 × 123.45 = 15 240.64 ₽ at 5 %: 762 points.
    expect(r.body.bonusProgram.bonusValueToEarn).toBe(762);
  });

  test("POST /retaildemand (payments that do not add up, empty meta) → 201, stored once, flagged in words", async () => {
    const body = example("retaildemand.request.json");
    const r = await pos("POST", "/retaildemand", body);
    expect(r.status).toBe(201);
    const again = await pos("POST", "/retaildemand", body);
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(r.body.id);
    const [doc] = await t.db.sql`select flag_reason, customer_id, moment from document where id = ${r.body.id}`;
    expect(doc!.flag_reason).toContain("Оплата (361.05 ₽) не сходится с суммой позиций по ценам со скидкой (7771.56 ₽)");
    expect(doc!.customer_id).not.toBeNull();
    // "2016-04-18 15:06:00" is Moscow time (the merchant's zone by default): 12:06 UTC.
    expect((doc!.moment as Date).toISOString()).toBe("2016-04-18T12:06:00.000Z");
  });

  test("POST /retailsalesreturn (noCashSum in kopecks, empty links) → 201, flagged", async () => {
    const r = await pos("POST", "/retailsalesreturn", example("retailsalesreturn.request.json"));
    expect(r.status).toBe(201);
    const [doc] = await t.db.sql`select state, flag_reason from document where id = ${r.body.id}`;
    expect(doc!.state).toBe("flagged");
    expect(doc!.flag_reason).toContain("Возврат без ссылки на продажу");
  });

  test("GET /giftcard?name=123456 → 200 with the documented fields", async () => {
    // A shop of its own: the example sale above paid with certificate 123456.
    const shop = await t.createTenant();
    const pos = (method: string, path: string) => t.pos(shop.apiToken, method, path);
    const issued = await t.admin("POST", `/tenants/${shop.slug}/giftcards`, { name: "123456", initialBalance: 1000, expireDate: "2030-07-14 00:00:00" });
    expect(issued.status).toBe(201);
    const r = await pos("GET", "/giftcard?name=123456&retailStoreId=2b5eb22f-139e-11e6-9464-e4de00000073");
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(Object.keys(example("giftcard.response.json")).sort());
    expect(r.body).toMatchObject({ name: "123456", status: "CAN_BE_USED", currentBalance: 1000, initialBalance: 1000 });
  });

  test("every error has the documented errors[] shape", async () => {
    const documented = example("error.response.json");
    const r = await t.pos("not-a-key", "POST", "/counterparty/detail", example("counterparty-detail.request.json"));
    expect(r.status).toBe(401);
    expect(Object.keys(r.body)).toEqual(Object.keys(documented));
    for (const k of ["error", "code", "error_message"]) expect(r.body.errors[0]).toHaveProperty(k);
  });
});
