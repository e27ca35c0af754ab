// The API's pool keeps one generic plan per statement and connection (src/db/client.ts),
// made the first time the statement runs: in a fresh database, while `customer` is empty
// and has never been analyzed. That plan must already be the one that holds at a million
// customers — every read of `customer` an index probe on the key the till sent — or the
// first merchant to grow gets a scan of all their customers on every recalc and search.
// (Postgres re-plans only when the table is analyzed; this server may run without
// autovacuum.) The statements are the API's own, captured as they are sent.
import postgres from "postgres";
import type { Sql } from "../src/db/client.ts";
import { customerRef, resolveCustomer, searchCustomers, upsertCustomer } from "../src/loyalty/customers.ts";
import { createTenant } from "../src/loyalty/tenants.ts";
import { createTestDatabase, type TestDatabase } from "./support/db.ts";
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";

let db: TestDatabase;
let tenantId: string;
let sent: { query: string; params: unknown[] }[] = [];
let statements = 0;
let capturing: Sql;

beforeAll(async () => {
  db = await createTestDatabase({ max: 2 });
  tenantId = (await createTenant(db.sql, { slug: "plans", name: "Планы" })).id;
  capturing = postgres(db.url, {
    max: 1,
    transform: { undefined: null },
    onnotice: () => {},
    debug: (_connection, query, params) => void sent.push({ query, params: params as unknown[] }),
  }) as unknown as Sql;
  await capturing`select 1`; // the client's own first queries (its type lookup) are not ours
});
afterAll(async () => {
  await (capturing as unknown as postgres.Sql).end({ timeout: 2 });
  await db.drop();
});

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Index Cond"?: string;
  Filter?: string;
  Plans?: PlanNode[];
}

const literal = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? `array[${v.map(literal).join(", ")}]` : `'${String(v).replaceAll("'", "''")}'`;

/** Every node of the generic plan each statement `run` sends gets, as the API's pool makes it. */
async function genericPlans(run: (sql: Sql) => Promise<unknown>, roundTrips: number): Promise<PlanNode[]> {
  sent = [];
  await run(capturing);
  expect(sent.length).toBe(roundTrips);
  const nodes: PlanNode[] = [];
  const conn = await db.sql.reserve();
  try {
    await conn.unsafe("set plan_cache_mode = force_generic_plan");
    for (const { query, params } of sent) {
      const name = `plan_${++statements}`;
      await conn.unsafe(`prepare ${name} as ${query}`);
      const [{ types }] = (await conn`
        select parameter_types::text[] as types from pg_prepared_statements where name = ${name}`) as unknown as [{ types: string[] }];
      // EXPLAIN EXECUTE takes no bound parameters: the values go in as typed literals.
      const args = types.map((type, k) => `${literal(params[k])}::${type}`).join(", ");
      const [row] = await conn.unsafe(`explain (format json) execute ${name}(${args})`);
      const walk = (n: PlanNode) => {
        nodes.push(n);
        for (const child of n.Plans ?? []) walk(child);
      };
      walk((row!["QUERY PLAN"] as { Plan: PlanNode }[])[0]!.Plan);
    }
  } finally {
    conn.release();
  }
  return nodes;
}

/** Reads of `customer`: each an index scan whose condition holds the key, nothing filtered after. */
function expectKeyProbes(nodes: PlanNode[]) {
  const reads = nodes.filter((n) => n["Relation Name"] === "customer");
  expect(reads.length).toBeGreaterThan(0);
  for (const n of reads) {
    const shown = `${n["Node Type"]} ${n["Index Name"] ?? ""} cond ${n["Index Cond"] ?? "-"} filter ${n.Filter ?? "-"}`;
    expect({ shown, type: n["Node Type"] }).toEqual({ shown, type: "Index Scan" });
    // tenant_id and the key: never the merchant's whole range with the key as a filter.
    expect({ shown, keyed: /tenant_id = .* AND /.test(n["Index Cond"] ?? "") }).toEqual({ shown, keyed: true });
    expect({ shown, filter: n.Filter ?? null }).toEqual({ shown, filter: null });
  }
}

const lookups: [string, Parameters<typeof customerRef>[0]][] = [
  ["МойСклад id", { meta: { id: "0a1b2c3d-0000-4000-8000-000000000001" } }],
  ["МойСклад id that is not a UUID", { meta: { href: "https://api.moysklad.ru/api/remap/1.2/entity/counterparty/doc-example-7" } }],
  ["card", { discountCardNumber: "2000000000017" }],
  ["phone", { phone: "+7 903 000-00-01" }],
  ["every key at once", { meta: { id: "0a1b2c3d-0000-4000-8000-000000000002" }, discountCardNumber: "C-2", phone: "89030000002" }],
];

const searches: [string, string][] = [
  ["a full phone", "+7 (903) 000-00-03"],
  ["a card number", "2000000000024"],
  ["a QR token", "q4Wb0x-Z9f1TtY2nq8RkLw"],
  ["a QR URL", "https://card.example.ru/c/q4Wb0x-Z9f1TtY2nq8RkLw?card=2000000000024"],
  ["a phone being typed", "8903000"],
  ["a name prefix", "Иванов И"],
  ["two letters", "ив"],
];

function planTests(when: string) {
  describe(when, () => {
    for (const [name, ref] of lookups) {
      test(`resolving a customer by ${name} probes the key's index`, async () => {
        expectKeyProbes(await genericPlans((sql) => resolveCustomer(sql, tenantId, customerRef(ref)), 1));
      });
    }
    for (const [name, text] of searches) {
      // Nobody matches exactly here: the exact probes, then the prefix and name ranges.
      test(`searching ${name} probes indexes`, async () => {
        expectKeyProbes(await genericPlans((sql) => searchCustomers(sql, tenantId, text), 2));
      });
    }
  });
}

planTests("in a fresh database (customer empty, never analyzed)");

describe("with a few customers, still never analyzed", () => {
  beforeAll(async () => {
    for (let i = 0; i < 30; i++) {
      await upsertCustomer(db.sql, tenantId, {
        msId: null,
        syncId: null,
        name: `Иванов Иван ${i}`,
        legalFirstName: null,
        legalMiddleName: null,
        legalLastName: null,
        phone: `79030001${String(i).padStart(3, "0")}`,
        card: `20000001${String(i).padStart(5, "0")}`,
        email: null,
        birthDate: null,
        sex: null,
        statusCheck: "IGNORE",
      });
    }
  });
  planTests("the same plans");
});
