// Where the database time of the interactive calls goes. Runs the API's own query
// functions (resolveCustomer, searchCustomers) against the bench database that
// `bun run bench` left, one connection, one query at a time, and prints per case:
// how Postgres planned it (pg_prepared_statements: custom or generic plans), the
// backend's CPU per query under each plan_cache_mode, and EXPLAIN ANALYZE timings.
//   bun bench/explain.ts            add --plans to print the plans themselves
import { readFile } from "node:fs/promises";
import postgres from "postgres";
import type { Sql } from "../src/db/client.ts";
import { customerRef, resolveCustomer, searchCustomers } from "../src/loyalty/customers.ts";
import { buildTargets, sampleCustomers } from "./requests.ts";
import { DEFAULT_BENCH_URL } from "./seed.ts";

const url = process.env.BENCH_DATABASE_URL || DEFAULT_BENCH_URL;
const showPlans = process.argv.includes("--plans");
const N = Number(process.env.EXPLAIN_N ?? 1000);

let captured: { query: string; params: unknown[] } | null = null;
const sql = postgres(url, {
  max: 1,
  types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
  transform: { undefined: null },
  onnotice: () => {},
  debug: (_conn, query, params) => {
    captured = { query, params };
  },
}) as unknown as Sql;

const [tenant] = await sql<{ id: string }[]>`select id from tenant where slug = 'bench'`;
if (!tenant) throw new Error(`no bench tenant in ${url}: run \`bun run bench\` first`);
const tenantId = tenant.id;
const [c] = await sql<{ id: string; ms_id: string; phone: string; card_number: string; qr_token: string; name: string }[]>`
  select id, ms_id, phone, card_number, qr_token, name from customer
  where tenant_id = ${tenantId} and ms_id is not null and name like 'Шуб%' limit 1`;
if (!c) throw new Error("no sample customer");

const CLK_TCK = 100;
async function backendCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

const cases: [string, (s: Sql) => Promise<unknown>][] = [
  ["reference: select id, balance by phone", (s) => s`select id, balance from customer where tenant_id = ${tenantId} and phone = ${c.phone}`],
  ["resolve by phone", (s) => resolveCustomer(s, tenantId, customerRef({ phone: "8" + c.phone.slice(1) }))],
  ["resolve by МойСклад id", (s) => resolveCustomer(s, tenantId, customerRef({ meta: { id: c.ms_id } }))],
  ["resolve by card", (s) => resolveCustomer(s, tenantId, customerRef({ discountCardNumber: c.card_number }))],
  ["search full phone 8…", (s) => searchCustomers(s, tenantId, "8" + c.phone.slice(1))],
  ["search card number", (s) => searchCustomers(s, tenantId, c.card_number)],
  ["search QR token", (s) => searchCustomers(s, tenantId, c.qr_token)],
  ["search QR URL", (s) => searchCustomers(s, tenantId, `https://bonus.example.ru/c/${c.qr_token}`)],
  ["search name prefix (rare)", (s) => searchCustomers(s, tenantId, c.name.slice(0, 4))],
  ["search name prefix (common)", (s) => searchCustomers(s, tenantId, "Иванов")],
];

const reserved = await sql.reserve();
const r = reserved as unknown as Sql;
const [{ pid }] = (await r`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];

console.log(`${url.replace(/\/\/[^@/]*@/, "//")}, ${N} sequential calls per case on one connection (backend pid ${pid})\n`);
const head = `${"case".padEnd(40)} ${"plans in auto mode".padEnd(22)} ${"PG CPU µs/query: auto".padStart(22)} ${"custom".padStart(7)} ${"generic".padStart(8)}   ${"EXPLAIN ANALYZE (custom): planning / execution ms".padStart(12)}`;
console.log(head);
console.log("-".repeat(head.length));

for (const [name, run] of cases) {
  const cpu: Record<string, number> = {};
  let plans = "";
  let statement = "";
  const planCounts = async () => {
    const [ps] = await r<{ generic: number; custom: number }[]>`
      select generic_plans::int as generic, custom_plans::int as custom from pg_prepared_statements where statement = ${statement}`;
    return ps ?? { generic: 0, custom: 0 };
  };
  for (const mode of ["auto", "force_custom_plan", "force_generic_plan"]) {
    await r.unsafe(`set plan_cache_mode = ${mode}`);
    for (let i = 0; i < 10; i++) await run(r);
    statement = captured!.query;
    const counts = mode === "auto" ? await planCounts() : null;
    const before = await backendCpuMs(pid);
    for (let i = 0; i < N; i++) await run(r);
    cpu[mode] = ((await backendCpuMs(pid)) - before) * (1000 / N);
    if (counts) {
      const after = await planCounts();
      plans = `${after.custom - counts.custom} custom, ${after.generic - counts.generic} generic`;
    }
  }
  await r.unsafe("set plan_cache_mode = auto");
  await run(r);
  const { query, params } = captured!;
  const plan = await r.unsafe<{ "QUERY PLAN": string }[]>(`explain (analyze, buffers) ${query}`, params as any[]);
  const lines = plan.map((p) => p["QUERY PLAN"]);
  const ms = (label: string) => lines.find((l) => l.startsWith(label))?.replace(/.*: /, "").replace(" ms", "") ?? "?";
  console.log(
    `${name.padEnd(40)} ${plans.padEnd(22)} ${cpu.auto!.toFixed(0).padStart(22)} ${cpu.force_custom_plan!.toFixed(0).padStart(7)} ${cpu.force_generic_plan!.toFixed(0).padStart(8)}   ${ms("Planning Time")} / ${ms("Execution Time")}`,
  );
  if (showPlans) console.log("\n" + lines.map((l) => "    " + l).join("\n") + "\n");
}

// The load run's request mixes, one query each, as the API sends them.
const mixes = buildTargets(await sampleCustomers(r, tenantId, N));
const mix = (name: string) => mixes.find((t) => t.name === name)!.requests;
const phones = mix("reference").map((q) => q.path.split("=")[1]!);
const agents = mix("recalc").map((q) => customerRef(JSON.parse(q.body!).agent));
const texts = mix("search").map((q) => decodeURIComponent(q.path.split("search=")[1]!));
console.log(`\nthe load run's mixes, ${N} distinct requests each, PG CPU µs/query (wall µs) by plan_cache_mode:`);
console.log(`  ${"".padEnd(30)} ${"auto".padStart(14)} ${"force_generic".padStart(14)}`);
for (const [name, run] of [
  ["reference query", (i: number) => r`select id, balance from customer where tenant_id = ${tenantId} and phone = ${phones[i]!}`],
  ["recalc: resolveCustomer", (i: number) => resolveCustomer(r, tenantId, agents[i]!)],
  ["search: searchCustomers", (i: number) => searchCustomers(r, tenantId, texts[i]!)],
] as const) {
  const cells: string[] = [];
  for (const mode of ["auto", "force_generic_plan"]) {
    await r.unsafe(`set plan_cache_mode = ${mode}`);
    for (let i = 0; i < Math.min(200, N); i++) await run(i);
    const before = await backendCpuMs(pid);
    const t0 = performance.now();
    for (let i = 0; i < N; i++) await run(i);
    const cpu = ((await backendCpuMs(pid)) - before) * (1000 / N);
    cells.push(`${cpu.toFixed(0)} (${(((performance.now() - t0) * 1000) / N).toFixed(0)})`.padStart(14));
  }
  console.log(`  ${name.padEnd(30)} ${cells.join(" ")}`);
}
await r.unsafe("set plan_cache_mode = auto");

reserved.release();
await sql.end({ timeout: 2 });
