import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";

let t: TestContext;
let shop: TestTenant;

beforeAll(async () => {
  t = await testContext();
  shop = await t.createTenant();
});
afterAll(() => t.close());

const create = (body: unknown, key = shop.apiToken) => t.pos(key, "POST", "/counterparty", body);
const search = (q: string, key = shop.apiToken) =>
  t.pos(key, "GET", `/counterparty?search=${encodeURIComponent(q)}&retailStoreId=3f9f7a38-0000-0000-0000-000000000001`);

describe("POST /counterparty", () => {
  test("creates a customer with a normalised phone and answers 201", async () => {
    const r = await create({
      meta: { href: "https://api.moysklad.ru/api/remap/1.2/entity/counterparty/11111111-1111-4111-8111-111111111111" },
      name: "Иванова Мария",
      phone: "8 (903) 111-22-33",
      email: "m@example.com",
      birthDate: "1990-05-17 00:00:00",
      sex: "FEMALE",
      statusCheck: "IGNORE",
    });
    expect(r.status).toBe(201);
    expect(r.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.body.msId).toBe("11111111-1111-4111-8111-111111111111");
    expect(r.body.phone).toBe("+79031112233");
    expect(r.body.birthDate).toBe("1990-05-17 00:00:00");
  });

  test("creating an existing customer links and updates instead of duplicating", async () => {
    const first = await create({ phone: "+7 903 222-33-44", name: "Пётр", statusCheck: "IGNORE" });
    const again = await create({
      phone: "9032223344",
      discountCardNumber: "CARD-777",
      meta: { id: "22222222-2222-4222-8222-222222222222" },
      statusCheck: "IGNORE",
    });
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.name).toBe("Пётр");
    expect(again.body.discountCardNumber).toBe("CARD-777");
    expect(again.body.msId).toBe("22222222-2222-4222-8222-222222222222");
    const count = await t.db.sql`select count(*)::int as n from customer where tenant_id = ${shop.id} and phone = '79032223344'`;
    expect(count[0]!.n).toBe(1);
  });

  test("phone of one customer and card of another → 409, nothing changes", async () => {
    await create({ phone: "+79035550001", statusCheck: "IGNORE" });
    await create({ discountCardNumber: "C-5550002", phone: "+79035550002", statusCheck: "IGNORE" });
    const r = await create({ phone: "+79035550001", discountCardNumber: "C-5550002", statusCheck: "IGNORE" });
    expect(r.status).toBe(409);
    expect(r.body.errors[0].code).toBe(40901);
    const rows = await t.db.sql`select phone, card_number from customer where tenant_id = ${shop.id} and phone in ('79035550001','79035550002') order by phone`;
    expect(rows.map((x) => x.card_number)).toEqual([null, "C-5550002"]);
  });

  test("concurrent creates of the same person make one customer", async () => {
    const replies = await Promise.all(
      Array.from({ length: 8 }, () => create({ phone: "+79036660000", name: "Гонка", statusCheck: "IGNORE" })),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
  });

  test("bad phone, missing identity and wrong types are 400 with errors[]", async () => {
    const badPhone = await create({ phone: "абв", statusCheck: "IGNORE" });
    expect(badPhone.status).toBe(400);
    expect(badPhone.body.errors[0].parameter).toBe("phone");
    const nothing = await create({ name: "Без телефона" });
    expect(nothing.status).toBe(400);
    const wrongSex = await create({ phone: "+79030000001", sex: "X" });
    expect(wrongSex.status).toBe(400);
    expect(wrongSex.body.errors[0].parameter).toBe("sex");
    expect(wrongSex.body.errors[0].error_message).toContain("MALE");
    const [{ n }] = (await t.db.sql<{ n: number }[]>`select count(*)::int as n from customer where phone = '79030000001'`) as unknown as [{ n: number }];
    expect(n).toBe(0);
  });

  test("registration verification: UNCHECKED → 412 code 28001, CHECKED creates", async () => {
    const other = await t.createTenant();
    const put = await t.admin("PUT", `/tenants/${other.slug}/program`, { requireRegistrationVerification: true });
    expect(put.status).toBe(200);
    expect(put.body.requireRegistrationVerification).toBe(true);
    const unchecked = await create({ phone: "+79037770000", statusCheck: "UNCHECKED" }, other.apiToken);
    expect(unchecked.status).toBe(412);
    expect(unchecked.body.errors[0].code).toBe(28001);
    expect(unchecked.body.errors[0].error).toBe("Необходимо подтверждение создания покупателя.");
    const checked = await create({ phone: "+79037770000", statusCheck: "CHECKED" }, other.apiToken);
    expect(checked.status).toBe(201);
    // An existing customer needs no new confirmation.
    const again = await create({ phone: "+79037770000", statusCheck: "UNCHECKED" }, other.apiToken);
    expect(again.status).toBe(201);
  });
});

describe("GET /counterparty (search)", () => {
  let mariaId: string;
  let qr: string;
  beforeAll(async () => {
    const r = await create({ phone: "+79041234567", name: "Смирнова Анна", discountCardNumber: "2000123456789", statusCheck: "IGNORE" });
    mariaId = r.body.id;
    const [row] = await t.db.sql`select qr_token from customer where id = ${mariaId}`;
    qr = row!.qr_token;
    await create({ phone: "+79041234000", name: "Смирнов Борис", statusCheck: "IGNORE" });
  });

  for (const notation of ["+7 904 123-45-67", "89041234567", "9041234567", "+79041234567", "7 (904) 123 45 67"]) {
    test(`finds by phone written as ${notation}`, async () => {
      const r = await search(notation);
      expect(r.status).toBe(200);
      expect(r.body.rows[0].id).toBe(mariaId);
      expect(r.body.rows[0].phone).toBe("+79041234567");
      expect(r.body.rows[0].discountCardNumber).toBe("2000123456789");
    });
  }

  test("finds by card number", async () => {
    const r = await search("2000123456789");
    expect(r.body.rows.map((x: any) => x.id)).toEqual([mariaId]);
  });

  test("finds by QR payload: the token, a URL ending in it, a URL carrying the card", async () => {
    for (const payload of [qr, `https://card.example.ru/c/${qr}`, "https://shop.example/loyalty?card=2000123456789&utm=x"]) {
      const r = await search(payload);
      expect(r.body.rows[0]?.id).toBe(mariaId);
    }
  });

  test("a customer matched by two keys at once (phone and card) is listed once", async () => {
    const c = await create({ phone: "+79081239999", discountCardNumber: "79081239999", statusCheck: "IGNORE" });
    const r = await search("79081239999");
    expect(r.body.rows.map((x: any) => x.id)).toEqual([c.body.id]);
  });

  test("exact match comes before prefix matches", async () => {
    const r = await search("+79041234567");
    expect(r.body.rows[0].id).toBe(mariaId);
    const prefix = await search("8904123");
    expect(prefix.body.rows.length).toBe(2);
  });

  test("finds by name prefix, case-insensitive", async () => {
    const r = await search("смирнов");
    expect(r.body.rows.map((x: any) => x.name).sort()).toEqual(["Смирнов Борис", "Смирнова Анна"]);
  });

  test("no match is an empty list", async () => {
    const r = await search("nobody-here");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ rows: [] });
  });

  test("rows are capped at 20", async () => {
    for (let i = 0; i < 25; i++) await create({ phone: `+7905000${String(i).padStart(4, "0")}`, statusCheck: "IGNORE" });
    const r = await search("+7905000");
    expect(r.body.rows.length).toBe(20);
  });

  test("search parameter is required", async () => {
    const r = await t.pos(shop.apiToken, "GET", "/counterparty");
    expect(r.status).toBe(400);
    expect(r.body.errors[0].parameter).toBe("search");
  });
});

describe("POST /counterparty/detail", () => {
  test("balance by МойСклад id, our id, card, phone; remembers the МойСклад id", async () => {
    const c = await create({ phone: "+79061112233", discountCardNumber: "D-1", statusCheck: "IGNORE" });
    await t.admin("POST", `/tenants/${shop.slug}/customers/${c.body.id}/adjustments`, { points: 42, reason: "test" });
    const byOurs = await t.pos(shop.apiToken, "POST", "/counterparty/detail", { meta: { id: c.body.id } });
    expect(byOurs.body).toEqual({ bonusProgram: { agentBonusBalance: 42 } });
    const byCard = await t.pos(shop.apiToken, "POST", "/counterparty/detail", { discountCardNumber: "D-1" });
    expect(byCard.body.bonusProgram.agentBonusBalance).toBe(42);
    const msId = "33333333-3333-4333-8333-333333333333";
    const byPhone = await t.pos(shop.apiToken, "POST", "/counterparty/detail", {
      meta: { href: `https://api.moysklad.ru/api/remap/1.2/entity/counterparty/${msId}` },
      phone: "89061112233",
    });
    expect(byPhone.body.bonusProgram.agentBonusBalance).toBe(42);
    const [row] = await t.db.sql`select ms_id from customer where id = ${c.body.id}`;
    expect(row!.ms_id).toBe(msId);
    const byMs = await t.pos(shop.apiToken, "POST", "/counterparty/detail", { meta: { id: msId } });
    expect(byMs.body.bonusProgram.agentBonusBalance).toBe(42);
  });

  test("unknown customer → 404 errors[]", async () => {
    const r = await t.pos(shop.apiToken, "POST", "/counterparty/detail", { meta: { id: "44444444-4444-4444-8444-444444444444" } });
    expect(r.status).toBe(404);
    expect(r.body.errors[0].code).toBe(40401);
  });
});

describe("tenant isolation", () => {
  test("one merchant's key never sees another's customers", async () => {
    const a = await t.createTenant();
    const b = await t.createTenant();
    const ca = await create({ phone: "+79071234567", discountCardNumber: "ISO-1", name: "Изолированный", statusCheck: "IGNORE" }, a.apiToken);
    expect(ca.status).toBe(201);
    for (const q of ["+79071234567", "ISO-1", "Изолированный"]) {
      expect((await search(q, b.apiToken)).body.rows).toEqual([]);
    }
    const detail = await t.pos(b.apiToken, "POST", "/counterparty/detail", { meta: { id: ca.body.id } });
    expect(detail.status).toBe(404);
    // The same phone may belong to a different person at another merchant.
    const cb = await create({ phone: "+79071234567", statusCheck: "IGNORE" }, b.apiToken);
    expect(cb.status).toBe(201);
    expect(cb.body.id).not.toBe(ca.body.id);
  });
});
