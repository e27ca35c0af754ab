import { afterAll, beforeAll, expect, test } from "./support/test.ts";
import { GroupCommit } from "../src/db/group-commit.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { sale, saleReturn } from "./support/sales.ts";

// Group commit of intake: concurrent sales and returns share a transaction, and each is
// still stored exactly once, answered only after its group committed, with a failure
// kept to its own caller.
let t: TestContext;
let shop: TestTenant;
beforeAll(async () => {
  t = await testContext();
  shop = await t.createTenant();
  await t.db.sql`create table group_probe (id int primary key, at timestamptz not null default clock_timestamp())`;
});
afterAll(() => t.close());

test("units arriving while a group commits share the next one; a failing unit fails alone", async () => {
  const commit = new GroupCommit(t.db.sql, { maxGroup: 16, maxInFlight: 1 });
  const ids = Array.from({ length: 48 }, (_, i) => i + 1);
  // Unit 30 collides with unit 7's key: its whole group rolls back, then every unit of
  // that group runs again alone — only 30 is refused.
  const outcomes = await Promise.allSettled(
    ids.map((i) => commit.run(async (q) => (await q`insert into group_probe (id) values (${i === 30 ? 7 : i}) returning id`)[0]!.id)),
  );
  const refused = outcomes.flatMap((o, i) => (o.status === "rejected" ? [ids[i]] : []));
  expect(refused).toEqual([30]);
  expect(outcomes.filter((o) => o.status === "fulfilled").map((o) => (o as PromiseFulfilledResult<number>).value)).toEqual(
    ids.filter((i) => i !== 30),
  );
  const [count] = await t.db.sql<{ n: number }[]>`select count(*)::int as n from group_probe`;
  expect(count!.n).toBe(47);
  // The first unit ran alone; the other 47 waited for it and went in groups of ≤ 16.
  expect(commit.stats.units).toBe(48);
  expect(commit.stats.groups).toBeLessThanOrEqual(1 + Math.ceil(47 / 16) + 1);
  expect(commit.stats.retriedAlone).toBeGreaterThan(1);
});

test("an idle committer runs each unit at once, in its own transaction", async () => {
  const commit = new GroupCommit(t.db.sql);
  for (const i of [101, 102, 103]) await commit.run((q) => q`insert into group_probe (id) values (${i})`);
  expect(commit.stats).toEqual({ units: 3, groups: 3, retriedAlone: 0 });
});

// Two shapes of concurrency: sales grouped into shared transactions, and (INTAKE_GROUP_MAX=1)
// each sale its own statement on its own pooled connection. Either way a customer's spends
// are posted from the balance as it is when each is stored, never from a stale read.
let alone: TestContext;
beforeAll(async () => {
  alone = await testContext({}, { INTAKE_GROUP_MAX: "1" });
});
afterAll(() => alone.close());

test("concurrent sales through the API, grouped: each stored once, redeliveries answered with the same id, spends never beyond the balance", async () => {
  await concurrentSales(t, shop);
});

test("concurrent sales through the API, each alone: the same", async () => {
  await concurrentSales(alone, await alone.createTenant());
});

async function concurrentSales(t: TestContext, shop: TestTenant): Promise<void> {
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79160001122", statusCheck: "IGNORE" });
  expect(c.status).toBe(201);
  const customerId = c.body.id as string;
  const a = await t.admin("POST", `/tenants/${shop.slug}/customers/${customerId}/adjustments`, { points: 100, reason: "старт" });
  expect(a.status).toBe(201);

  // 20 sales spending 10 points each against a balance of 100, every one delivered twice
  // at once, plus anonymous sales and returns in between.
  const sales = Array.from({ length: 20 }, () =>
    sale({ customerId, lines: [{ id: "c1a1a1a1-0000-4000-8000-000000000001", price: 500, quantity: 1, discountedPrice: 490 }], spend: 10 }),
  );
  const anonymous = Array.from({ length: 10 }, () => sale({ agent: null, lines: [{ id: "c1a1a1a1-0000-4000-8000-000000000002", price: 100, quantity: 2 }] }));
  // Sales that spend nothing are stored by one statement per group: the customer's, each
  // delivered twice at once, and some for a card nobody has.
  const spendless = Array.from({ length: 10 }, () => sale({ customerId, lines: [{ id: "c1a1a1a1-0000-4000-8000-000000000003", price: 300, quantity: 1 }] }));
  const unknown = Array.from({ length: 5 }, () => sale({ agent: { discountCardNumber: "NOBODY-7" }, lines: [{ id: "c1a1a1a1-0000-4000-8000-000000000004", price: 50, quantity: 1 }] }));
  const returns = sales.slice(0, 3).map((s) => saleReturn({ saleId: s.id, lines: [{ id: "c1a1a1a1-0000-4000-8000-000000000001", price: 500, quantity: 1, discountedPrice: 490 }] }));
  const calls = [
    ...sales.flatMap((s) => [() => t.pos(shop.apiToken, "POST", "/retaildemand", s.body), () => t.pos(shop.apiToken, "POST", "/retaildemand", s.body)]),
    ...anonymous.map((s) => () => t.pos(shop.apiToken, "POST", "/retaildemand", s.body)),
    ...returns.map((r) => () => t.pos(shop.apiToken, "POST", "/retailsalesreturn", r.body)),
    ...spendless.flatMap((s) => [() => t.pos(shop.apiToken, "POST", "/retaildemand", s.body), () => t.pos(shop.apiToken, "POST", "/retaildemand", s.body)]),
    ...unknown.map((s) => () => t.pos(shop.apiToken, "POST", "/retaildemand", s.body)),
  ];
  // The customer's row is held elsewhere while the sales arrive, so they all read the
  // balance before any of them may move it: the widest window two tills can have.
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let held!: () => void;
  const isHeld = new Promise<void>((r) => (held = r));
  const holder = t.db.sql.begin(async (tx) => {
    await tx`select 1 from customer where id = ${customerId} for update`;
    held();
    await released;
  });
  await isHeld;
  const answered = Promise.all(calls.map((call) => call()));
  for (let i = 0; i < 100; i++) {
    const [w] = await t.db.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
    if (w!.n >= 2) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  release();
  await holder;
  const replies = await answered;
  expect(replies.map((r) => r.status)).toEqual(calls.map(() => 201));

  const saleIds = sales.map((_, i) => [replies[2 * i]!.body.id, replies[2 * i + 1]!.body.id]);
  for (const [first, again] of saleIds) expect(again).toBe(first);
  const from = 2 * sales.length + anonymous.length + returns.length;
  for (let i = 0; i < spendless.length; i++) expect(replies[from + 2 * i + 1]!.body.id).toBe(replies[from + 2 * i]!.body.id);

  const statuses = await t.db.sql<{ match_status: string; n: number }[]>`
    select match_status, count(*)::int as n from document where tenant_id = ${shop.id} and kind = 'sale' group by 1 order by 1`;
  expect([...statuses]).toEqual([
    { match_status: "anonymous", n: 10 },
    { match_status: "matched", n: 30 },
    { match_status: "unmatched", n: 5 },
  ]);

  const docs = await t.db.sql<{ kind: string; n: number; distinct_times: number }[]>`
    select kind, count(*)::int as n, count(distinct received_at)::int as distinct_times
    from document where tenant_id = ${shop.id} group by kind order by kind`;
  expect([...docs]).toEqual([
    { kind: "return", n: 3, distinct_times: 3 },
    { kind: "sale", n: 45, distinct_times: 45 },
  ]);

  // Exactly 100 points were there to spend: ten sales posted theirs, ten hold theirs for
  // an operator, and the balance is what the ledger says.
  const spends = await t.db.sql<{ posted: number; held: number }[]>`
    select points_spent as posted, held_spend_points as held from document
    where tenant_id = ${shop.id} and customer_id = ${customerId} and kind = 'sale'`;
  expect(spends.reduce((s, d) => s + d.posted, 0)).toBe(100);
  expect(spends.reduce((s, d) => s + d.held, 0)).toBe(100);
  const [bal] = await t.db.sql<{ balance: number; ledger: number }[]>`
    select c.balance, (select coalesce(sum(points), 0)::int from ledger_entry e where e.customer_id = c.id and e.released_at is not null) as ledger
    from customer c where c.id = ${customerId}`;
  expect(bal).toEqual({ balance: 0, ledger: 0 });
}
