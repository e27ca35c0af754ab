// Where the API process's CPU goes per request, measured in-process and one request at
// a time against the bench database that `bun run bench` left: the whole Elysia
// handler (app.handle, as Bun.serve calls it) versus the database call it makes, for
// the same request mixes as the load run. Bun.serve's own HTTP work is not included.
//   bun bench/cpu.ts                  (BENCH_DATABASE_URL as for bench/run.ts)
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { createSql } from "../src/db/client.ts";
import { customerRef, resolveCustomer, searchCustomers } from "../src/loyalty/customers.ts";
import { rotateApiKey, TenantDirectory } from "../src/loyalty/tenants.ts";
import { buildTargets, sampleCustomers } from "./requests.ts";
import { DEFAULT_BENCH_URL } from "./seed.ts";

const url = process.env.BENCH_DATABASE_URL || DEFAULT_BENCH_URL;
const N = Number(process.env.CPU_N ?? 3000);
const sql = createSql(url, { max: 1, applicationName: "loyalty-bench-cpu" });
const { id: tenantId, apiToken } = await rotateApiKey(sql, "bench");
const tenants = new TenantDirectory(sql, 60_000);
const app = createApp({ config: { ...loadConfig({}), adminToken: "bench-cpu-admin-token" }, sql, tenants });
const targets = buildTargets(await sampleCustomers(sql, tenantId, N));
const byName = (n: string) => targets.find((t) => t.name === n)!.requests;

/** CPU and wall time per call of `run(i)`, i = 0..N-1, after a warm-up. */
async function measure(label: string, run: (i: number) => Promise<unknown>) {
  for (let i = 0; i < Math.min(500, N); i++) await run(i);
  Bun.gc(true);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await run(i);
  const wall = ((performance.now() - t0) * 1000) / N;
  const cpu = process.cpuUsage(cpu0);
  const us = (cpu.user + cpu.system) / N;
  console.log(`${label.padEnd(58)} ${us.toFixed(0).padStart(6)} µs CPU  ${wall.toFixed(0).padStart(6)} µs wall`);
  return us;
}

const handle = (q: { method: string; path: string; body?: string }) =>
  app
    .handle(
      new Request("http://localhost" + q.path, {
        method: q.method,
        headers: { "Lognex-Discount-API-Auth-Token": apiToken, "Content-Type": "application/json" },
        body: q.body,
      }),
    )
    .then(async (r) => {
      const text = await r.text();
      if (r.status !== 200) throw new Error(`${q.method} ${q.path}: ${r.status} ${text.slice(0, 300)}`);
      return text;
    });

console.log(`${N} sequential calls each, one connection, in this process\n`);
const phones = byName("reference").map((q) => q.path.split("=")[1]!);
await measure("reference query (select id, balance … phone = $2)", (i) =>
  sql`select id, balance from customer where tenant_id = ${tenantId} and phone = ${phones[i]!}`,
);

const recalc = byName("recalc");
const agents = recalc.map((q) => customerRef(JSON.parse(q.body!).agent));
const dbRecalc = await measure("recalc: resolveCustomer only", (i) => resolveCustomer(sql, tenantId, agents[i]!));
const fullRecalc = await measure("recalc: app.handle (auth, validation, engine, encode, JSON)", (i) => handle(recalc[i]!));

const search = byName("search");
const texts = search.map((q) => decodeURIComponent(q.path.split("search=")[1]!));
const dbSearch = await measure("search: searchCustomers only", (i) => searchCustomers(sql, tenantId, texts[i]!));
const fullSearch = await measure("search: app.handle (auth, validation, rows, JSON)", (i) => handle(search[i]!));

console.log(`\nbeyond the database call: recalc ${(fullRecalc - dbRecalc).toFixed(0)} µs, search ${(fullSearch - dbSearch).toFixed(0)} µs per request`);
await sql.end({ timeout: 2 });
