// Import and export of the merchant's cabinet, measured (run by hand: `bun bench/cabinet.ts`).
//
// Recreates the database `loyalty_bench_cabinet` on 127.0.0.1:5432 (BENCH_DATABASE_URL to
// change it; dropped each run, left afterwards), then:
//   1. imports a 100,000-row CSV (BENCH_IMPORT_ROWS) through runImport — the code the queue
//      job runs — and again (the re-upload that must change nothing);
//   2. fills 1,000,000 customers and 1,000,000 ledger entries (BENCH_EXPORT_ROWS) with SQL
//      and streams both CSV exports through the same Response the API returns, counting
//      bytes without keeping them.
// Prints wall time, rows/s, CPU of this process and of its Postgres backend, and the peak
// RSS / heap of this process (sampled every 50 ms) for each phase.
import { readFileSync } from "node:fs";
import postgres from "postgres";
import { createImport, runImport } from "../src/cabinet/import.ts";
import { csvResponse, customersCsv, ledgerCsv } from "../src/cabinet/export.ts";
import { createSql } from "../src/db/client.ts";
import { migrate } from "../src/db/migrate.ts";
import { createTenant } from "../src/loyalty/tenants.ts";
import { CLK_TCK } from "./lib.ts";

const SERVER = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const DB = "loyalty_bench_cabinet";
const IMPORT_ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 100_000);
const EXPORT_ROWS = Number(process.env.BENCH_EXPORT_ROWS ?? 1_000_000);
/** Which exports to run: "customers,ledger" (default) or either alone. */
const EXPORTS = (process.env.BENCH_EXPORTS ?? "customers,ledger").split(",");

const admin = postgres(SERVER, { max: 1, onnotice: () => {} });
await admin.unsafe(`drop database if exists ${DB} with (force)`);
await admin.unsafe(`create database ${DB}`);
const url = new URL(SERVER);
url.pathname = `/${DB}`;
// One connection: the import job and the export each use one at a time, and its backend's
// CPU can be read from /proc.
const sql = createSql(url.toString(), { max: 1, applicationName: "bench-cabinet" });
await migrate(sql);
const [{ pid }] = (await sql`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];

function backendCpuMs(): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const x = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return ((Number(x[11]) + Number(x[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

async function measure<T>(name: string, rows: number, run: () => Promise<T>): Promise<T> {
  Bun.gc(true);
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  sample();
  const timer = setInterval(sample, 50);
  const cpu0 = process.cpuUsage();
  const be0 = backendCpuMs();
  const t0 = performance.now();
  const out = await run();
  const wall = performance.now() - t0;
  clearInterval(timer);
  sample();
  const cpu = process.cpuUsage(cpu0);
  const mb = (b: number) => (b / 1024 / 1024).toFixed(0);
  console.log(
    `${name.padEnd(28)} ${String(rows).padStart(9)} rows  ${(wall / 1000).toFixed(1).padStart(6)} s  ${Math.round(rows / (wall / 1000)).toLocaleString("en").padStart(9)} rows/s` +
      `  cpu bun ${((cpu.user + cpu.system) / 1000 / 1000).toFixed(1)} s, postgres ${(((backendCpuMs() - be0) / 1000)).toFixed(1)} s` +
      `  peak rss ${mb(peakRss)} MB, heap ${mb(peakHeap)} MB`,
  );
  return out;
}

const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(`cabinet bench: ${IMPORT_ROWS} import rows, ${EXPORT_ROWS} export rows; load average before: ${load}`);

// 1. Import.
const tenant = await createTenant(sql, { slug: "bench", name: "Бенчмарк" });
const lines = ["телефон;имя;карта;дата рождения;баланс"];
for (let i = 1; i <= IMPORT_ROWS; i++) lines.push(`8 901 ${String(i).padStart(7, "0")};Покупатель ${i};C${i};0${(i % 9) + 1}.02.1985;${i % 500}`);
const file = new TextEncoder().encode(lines.join("\r\n"));
console.log(`file: ${(file.byteLength / 1024 / 1024).toFixed(1)} MB`);
for (const name of IMPORT_ROWS > 0 ? ["import (new customers)", "import again (no change)"] : []) {
  const row = await createImport(sql, tenant.id, file, "bench.csv");
  const done = await measure(name, IMPORT_ROWS, () => runImport(sql, tenant.id, row.id));
  if (done?.state !== "done" || done.failed !== 0) throw new Error(`import ended ${done?.state}, ${done?.failed} failed`);
}

// 2. Export.
const big = await createTenant(sql, { slug: "bench-export", name: "Выгрузка" });
await sql`
  insert into customer (tenant_id, phone, name, card_number, balance)
  select ${big.id}, '7902' || lpad(g::text, 7, '0'), 'Покупатель ' || g, 'K' || g, 1
  from generate_series(1, ${EXPORT_ROWS}) g`;
await sql`
  insert into ledger_entry (tenant_id, customer_id, kind, points, released_at, idempotency_key, reason)
  select ${big.id}, id, 'import', 1, now(), 'import:' || id, 'bench' from customer where tenant_id = ${big.id}`;
await sql`analyze customer`;
await sql`analyze ledger_entry`;

async function drain(res: Response): Promise<number> {
  let bytes = 0;
  const reader = res.body!.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return bytes;
    bytes += value.byteLength;
  }
}
for (const [name, lines] of [
  ["export customers.csv", () => customersCsv(sql, big.id)],
  ["export ledger.csv", () => ledgerCsv(sql, big.id)],
] as const) {
  if (!EXPORTS.some((e) => name.includes(e))) continue;
  const bytes = await measure(name, EXPORT_ROWS, () => drain(csvResponse(lines(), "x.csv")));
  console.log(`${"".padEnd(28)} ${(bytes / 1024 / 1024).toFixed(0)} MB of CSV`);
}

await sql.end();
await admin.end();
