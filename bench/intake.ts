// Benchmark of sale intake (POST /retaildemand answered 201) and settlement (sales fully
// posted by the workers). Run by hand, never in CI:   bun run bench:intake   (≈6–8 minutes)
//
// One run: recreates the database loyalty_bench_intake (BENCH_DATABASE_URL to change it;
// it is DROPPED each run and left afterwards for inspection), migrates it, makes a tenant
// with the real admin code and 100,000 customers in SQL (three quarters with points; their
// opening balances are ledger entries, so balances can be checked against the ledger; those
// with points have 1–20 earlier purchases, kept in bench_history, and their points in lots), and
// uses a queue prefix of its own in Redis (its keys are deleted at the end). Then:
//   1. intake — the real API alone (`bun src/main.ts --api`, no workers) driven by wrk +
//      intake-wrk.lua at 64 connections: unique sales (1–5 positions; anonymous, unknown
//      or named by МойСклад id, our id, phone or card; a third of the named spend points),
//      warm-up, then a measured run. Every answered sale must be stored, spends posted.
//   2. settlement — the sales stored in 1. are the first backlog; one worker process
//      (`bun workers/main.ts`) settles it while the run counts unsettled documents once a
//      second. Each further configuration (BENCH_SETTLE, e.g. 1x32 = one process with
//      WORKER_CONCURRENCY=32, 2x16 = two processes) gets a fresh backlog of BENCH_BATCH
//      sales sent through the API first. The rate reported is the steady state between
//      20% and 80% of the backlog; CPU per sale over the same window.
//   3. intake while settling — API and one worker at once, wrk as in 1.
//   Tables are vacuumed between phases, and analyzed as autovacuum would when it is off
//   (as on the bench machine's server): without statistics, plans go wrong as tables grow.
//   4. checks: every document settled once, each sale's ledger entries exactly as
//      expected (none missing, none twice), balances and purchase counts equal to what the
//      ledger and the documents say, no failed jobs.
// Prints a table and writes bench/results/intake-<timestamp>.json (git-ignored).
//
// Environment (all optional):
//   BENCH_DATABASE_URL  postgres://postgres@127.0.0.1:5432/loyalty_bench_intake — DROPPED each run
//   BENCH_REDIS_URL     redis://127.0.0.1:6379 (else REDIS_URL)
//   BENCH_SECONDS 10, BENCH_WARMUP_SECONDS 3, BENCH_CONNECTIONS 64, BENCH_WRK_THREADS 2,
//   BENCH_CUSTOMERS 100000, BENCH_SAMPLE 20000 (customers the sales name), BENCH_TEMPLATES 20000,
//   BENCH_SETTLE 1x16,1x32,2x16 (<processes>x<concurrency>; the first settles the intake backlog),
//   BENCH_BATCH 30000 (fresh backlog for each further configuration), BENCH_SETTLE_CAP_SECONDS 180,
//   BENCH_MIXED 1 (0: skip "intake while settling"), DB_POOL_SIZE (the API's, default as src/config.ts),
//   BENCH_PROFILE=1 the API and the workers write CPU profiles (bun --cpu-prof-md) into bench/results/ when stopped.
// Diagnosis afterwards, against the database a run left: `bun bench/intake-explain.ts`.
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import IORedis from "ioredis";
import { loadConfig } from "../src/config.ts";
import { createSql, type Sql } from "../src/db/client.ts";
import { Queues } from "../src/queue/queues.ts";
import { buildSaleTemplates, type LoadOutcome, sampleSaleCustomers, sendSales, writeTemplateFile } from "./intake-sales.ts";
import { createBenchTenant, generateCustomers, recreateDatabase } from "./seed.ts";
import { cpus, freePort, gitDescribe, machineMs, type Proc, processCpuMs, ROOT, serviceCommand, spawnLogged, stopProcess, waitHealthy } from "./lib.ts";

const env = process.env;
const num = (name: string, def: number) => {
  const v = Number(env[name] ?? def);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const defaults = loadConfig({});

interface SettleConfig {
  processes: number;
  concurrency: number;
}
function parseSettle(s: string): SettleConfig[] {
  return s.split(",").map((part) => {
    const m = /^\s*(\d+)(?:x(\d+))?\s*$/.exec(part);
    if (!m) throw new Error(`BENCH_SETTLE: "${part}" is not <processes>x<concurrency>`);
    return { processes: Number(m[1]), concurrency: m[2] ? Number(m[2]) : defaults.workerConcurrency };
  });
}

const cfg = {
  databaseUrl: env.BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/loyalty_bench_intake",
  redisUrl: env.BENCH_REDIS_URL || env.REDIS_URL || "redis://127.0.0.1:6379",
  seconds: num("BENCH_SECONDS", 10),
  warmupSeconds: num("BENCH_WARMUP_SECONDS", 3),
  connections: num("BENCH_CONNECTIONS", 64),
  wrkThreads: num("BENCH_WRK_THREADS", 2),
  customers: num("BENCH_CUSTOMERS", 100_000),
  sample: num("BENCH_SAMPLE", 20_000),
  templates: num("BENCH_TEMPLATES", 20_000),
  settle: parseSettle(env.BENCH_SETTLE ?? `1x${defaults.workerConcurrency},1x32,2x${defaults.workerConcurrency}`),
  batch: num("BENCH_BATCH", 30_000),
  capSeconds: num("BENCH_SETTLE_CAP_SECONDS", 180),
  mixed: env.BENCH_MIXED !== "0",
  profile: env.BENCH_PROFILE === "1",
  poolSize: loadConfig({ DB_POOL_SIZE: env.DB_POOL_SIZE }).dbPoolSize,
  defaultConcurrency: defaults.workerConcurrency,
  preflight: 300,
};

const fmt = (x: number, d = 0) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const hideUser = (url: string) => url.replace(/\/\/[^@/]*@/, "//");

// --- processes --------------------------------------------------------------------

const children: { name: string; proc: Proc }[] = [];

function start(name: string, cmd: string[], extraEnv: Record<string, string>, logFile: string): Proc {
  const proc = spawnLogged(cmd, extraEnv, logFile);
  children.push({ name, proc });
  return proc;
}

const stop = stopProcess;
const stopAll = () => Promise.all(children.map(({ proc }) => stop(proc)));

// --- CPU accounting (bench/lib.ts, plus per-process categories here) -----------------

type Category = "postgres" | "pgBg" | "redis" | "bench";

/**
 * CPU so far of each process of interest, by pid: backends of the bench database (by
 * process title), the cluster's own processes (WAL writer, checkpointer, background
 * writer, autovacuum), Redis; the run's own backends (poller, analyzer) and itself apart.
 * Kept per pid because backends come and go (a pool closes idle connections): a sum
 * would drop when one exits.
 */
async function scanCpuMs(dbName: string, benchPids: Set<number>): Promise<Map<number, { cat: Category; ms: number }>> {
  const out = new Map<number, { cat: Category; ms: number }>();
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (benchPids.has(pid)) {
      out.set(pid, { cat: "bench", ms: await processCpuMs(pid) });
      continue;
    }
    const title = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    let cat: Category | null = null;
    if (title.startsWith("postgres: ")) {
      // "postgres: [<cluster>: ]<user> <database> <client> <state>" or "postgres: [<cluster>: ]walwriter"
      if (/^postgres: (?:\S+: )?\S+ (\S+) /.exec(title)?.[1] === dbName) cat = "postgres";
      else if (/^postgres: (?:\S+: )?(walwriter|checkpointer|background writer|autovacuum|walsender)/.test(title)) cat = "pgBg";
    } else if (/(^|\/)redis-server/.test(title)) cat = "redis";
    if (cat) out.set(pid, { cat, ms: await processCpuMs(pid) });
  }
  return out;
}

interface CpuSnapshot {
  at: number;
  api: number;
  workers: number;
  procs: Map<number, { cat: Category; ms: number }>;
  busy: number;
  iowait: number;
}

interface Cpu {
  usPerSale: { api: number; workers: number; postgres: number; pgBg: number; redis: number; generator: number };
  /** Shares of all cores: busy, busy with anything but the processes above and the run's own, in iowait. */
  machineBusy: number;
  otherBusy: number;
  /** Share of all cores used by the run itself (orchestrator, its poller and analyzer backends). */
  benchBusy: number;
  iowait: number;
}

function cpuBetween(a: CpuSnapshot, b: CpuSnapshot, sales: number, generatorMs = 0): Cpu {
  const per = (ms: number) => (sales > 0 ? (ms * 1000) / sales : 0);
  const byCat: Record<Category, number> = { postgres: 0, pgBg: 0, redis: 0, bench: 0 };
  for (const [pid, p] of b.procs) byCat[p.cat] += Math.max(0, p.ms - (a.procs.get(pid)?.ms ?? 0));
  const d = (k: Category | "api" | "workers") => (k === "api" || k === "workers" ? Math.max(0, b[k] - a[k]) : byCat[k]);
  const capacity = (b.at - a.at) * cpus;
  const ours = d("api") + d("workers") + d("postgres") + d("pgBg") + d("redis") + generatorMs + d("bench");
  return {
    usPerSale: { api: per(d("api")), workers: per(d("workers")), postgres: per(d("postgres")), pgBg: per(d("pgBg")), redis: per(d("redis")), generator: per(generatorMs) },
    machineBusy: capacity > 0 ? (b.busy - a.busy) / capacity : 0,
    otherBusy: capacity > 0 ? Math.max(0, b.busy - a.busy - ours) / capacity : 0,
    benchBusy: capacity > 0 ? d("bench") / capacity : 0,
    iowait: capacity > 0 ? (b.iowait - a.iowait) / capacity : 0,
  };
}

// --- Postgres counters: this database's transactions and rows, the cluster's WAL ---

interface DbStats {
  xact_commit: number;
  tup_inserted: number;
  tup_updated: number;
  blks_hit: number;
  blks_read: number;
  wal_records: number;
  wal_fpi: number;
  wal_bytes: number;
  /** Pages of new MultiXact offsets (2,048 a page): row locks shared by concurrent transactions (foreign-key checks of one tenant row). */
  multixact_pages: number;
}

async function dbStats(sql: Sql): Promise<DbStats> {
  const [row] = await sql<DbStats[]>`
    select d.xact_commit, d.tup_inserted, d.tup_updated, d.blks_hit, d.blks_read,
      w.wal_records, w.wal_fpi, w.wal_bytes::bigint as wal_bytes,
      (select blks_zeroed from pg_stat_slru where name = 'MultiXactOffset') as multixact_pages
    from pg_stat_database d, pg_stat_wal w where d.datname = current_database()`;
  return row!;
}

/** Per sale, between two snapshots (backends report their counters at most once a second: approximate). */
function perSale(a: DbStats, b: DbStats, sales: number): Record<keyof DbStats, number> {
  const out = {} as Record<keyof DbStats, number>;
  for (const k of Object.keys(a) as (keyof DbStats)[]) out[k] = sales > 0 ? Math.round(((b[k] - a[k]) / sales) * 100) / 100 : 0;
  return out;
}

/** Tuples read through each index and by sequential scans so far (this database). */
async function scanStats(sql: Sql): Promise<Map<string, number>> {
  const rows = await sql<{ name: string; n: number }[]>`
    select relname || '.' || indexrelname as name, idx_tup_read as n from pg_stat_user_indexes
    union all
    select relname || ' (seq scan)', seq_tup_read from pg_stat_user_tables`;
  return new Map(rows.map((r) => [r.name, r.n]));
}

/** The indexes (and sequential scans) that read the most tuples per sale between two snapshots. */
function topScans(a: Map<string, number>, b: Map<string, number>, sales: number, n = 4): Record<string, number> {
  const out: [string, number][] = [];
  for (const [k, v] of b) out.push([k, (v - (a.get(k) ?? 0)) / Math.max(1, sales)]);
  out.sort((x, y) => y[1] - x[1]);
  return Object.fromEntries(out.slice(0, n).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

// --- load with wrk ----------------------------------------------------------------

interface WrkResult {
  requests: number;
  durationUs: number;
  latencyUs: { p50: number; p90: number; p99: number; max: number; mean: number };
  created: number;
  other: number;
  statusErrors: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  sample: string;
  generatorCpuMs: number;
  ids: string[];
}

async function wrk(baseUrl: string, templatesFile: string, apiKey: string, seconds: number, work: string): Promise<WrkResult> {
  const tag = crypto.randomUUID().slice(0, 8);
  const idsFile = join(work, `ids-${tag}.txt`);
  const cmd = ["wrk", "-t", String(cfg.wrkThreads), "-c", String(cfg.connections), "-d", `${seconds}s`, "--timeout", "5s",
    "-s", join(ROOT, "bench/intake-wrk.lua"), baseUrl, "--", templatesFile, apiKey, tag];
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...env, BENCH_IDS_FILE: idsFile } });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (!line) throw new Error(`wrk gave no result (exit ${proc.exitCode}):\n${out}\n${err}`);
  const usage = proc.resourceUsage();
  const generatorCpuMs = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1000 : 0;
  const ids = (await readFile(idsFile, "utf8").catch(() => "")).split("\n").filter(Boolean);
  return { ...JSON.parse(line.slice("BENCH_RESULT ".length)), generatorCpuMs, ids };
}

// --- report -----------------------------------------------------------------------

interface Row {
  phase: string;
  kind: "intake" | "settlement";
  /** Sales a second: answered 201 (intake) or settled (settlement, steady state). */
  rate: number;
  sales: number;
  seconds: number;
  p50ms: number | null;
  p99ms: number | null;
  errors: number | null;
  cpu: Cpu;
  detail: Record<string, unknown>;
}

function printTable(rows: Row[]) {
  const head = ["phase", "sales/s", "p50 ms", "p99 ms", "errors", "µs CPU/sale: API", "workers", "postgres", "pg bg", "redis", "wrk", "CPU busy", "bench", "other", "iowait"];
  const lines = rows.map((r) => [
    r.phase,
    fmt(r.rate),
    r.p50ms === null ? "—" : fmt(r.p50ms, 1),
    r.p99ms === null ? "—" : fmt(r.p99ms, 1),
    r.errors === null ? "—" : fmt(r.errors),
    fmt(r.cpu.usPerSale.api),
    fmt(r.cpu.usPerSale.workers),
    fmt(r.cpu.usPerSale.postgres),
    fmt(r.cpu.usPerSale.pgBg),
    fmt(r.cpu.usPerSale.redis),
    fmt(r.cpu.usPerSale.generator),
    `${fmt(r.cpu.machineBusy * 100)}%`,
    `${fmt(r.cpu.benchBusy * 100)}%`,
    `${fmt(r.cpu.otherBusy * 100)}%`,
    `${fmt(r.cpu.iowait * 100)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log("\n" + show(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(show(l));
}

/** The code the processes run: the trees of src/, sql/ and workers/ and any uncommitted change to them. */
function codeVersion(): string {
  const trees = spawnSync("git", ["rev-parse", "HEAD:src", "HEAD:sql", "HEAD:workers"], { cwd: ROOT }).stdout?.toString() ?? "";
  const diff = spawnSync("git", ["diff", "HEAD", "--", "src", "sql", "workers"], { cwd: ROOT }).stdout?.toString() ?? "";
  const untracked = spawnSync("git", ["status", "--porcelain", "--", "src", "sql", "workers"], { cwd: ROOT }).stdout?.toString() ?? "";
  return Bun.hash(trees + diff + untracked).toString(16);
}

async function logLines(file: string): Promise<number> {
  return (await readFile(file, "utf8").catch(() => "")).split("\n").filter(Boolean).length;
}

// --- the run ----------------------------------------------------------------------

const queuePrefix = `bench-intake-${Date.now().toString(36)}`;
let redisCleaned = false;

async function deleteRedisKeys(): Promise<number> {
  if (redisCleaned) return 0;
  redisCleaned = true;
  const redis = new IORedis(cfg.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
  let n = 0;
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${queuePrefix}:*`, "COUNT", 2000);
      cursor = next;
      if (keys.length) n += await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return n;
}

async function main() {
  // The processes load the code when they start: a change to src/ during the run mixes versions.
  const commitAtStart = gitDescribe();
  const codeAtStart = codeVersion();
  const dbName = decodeURIComponent(new URL(cfg.databaseUrl).pathname.slice(1));
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = join(ROOT, "bench/results");
  await mkdir(resultsDir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), "loyalty-bench-intake-"));
  if (!Bun.which("wrk")) throw new Error("wrk is not installed (apt-get install -y wrk)");
  let sql: Sql | undefined;
  let poller: Sql | undefined;
  let queues: Queues | undefined;
  let stopAnalyzer = async () => {};
  try {
    // 1. Database, tenant, customers with opening balances in the ledger.
    console.log(`recreating ${hideUser(cfg.databaseUrl)} and applying migrations…`);
    sql = await recreateDatabase(cfg.databaseUrl, 4);
    const tenant = await createBenchTenant(sql);
    console.log(`generating ${fmt(cfg.customers)} customers…`);
    const generation = await generateCustomers(sql, tenant.id, cfg.customers);
    await sql`
      insert into ledger_entry (tenant_id, customer_id, kind, points, released_at, idempotency_key, reason)
      select tenant_id, id, 'adjustment', balance, now(), 'bench:opening:' || id, 'opening balance (bench)'
      from customer where tenant_id = ${tenant.id} and balance <> 0`;
    // Members with points have bought before and their points sit in lots (as after any
    // settlement or rules pass): a chain's evening is mostly returning customers. The
    // history is kept in bench_history so the checks count only this run's sales.
    await sql`
      create table bench_history as
      select id as customer_id, 1 + abs(hashtext(id::text)) % 20 as n, (1 + abs(hashtext(id::text)) % 20)::bigint * 150000 as k
      from customer where tenant_id = ${tenant.id} and balance > 0`;
    await sql`update customer c set purchases_count = h.n, purchases_kopecks = h.k from bench_history h where c.tenant_id = ${tenant.id} and c.id = h.customer_id`;
    await sql`
      insert into points_lot (tenant_id, customer_id, entry_id, points, remaining, expires_at)
      select tenant_id, customer_id, id, points, points, null from ledger_entry
      where tenant_id = ${tenant.id} and idempotency_key like 'bench:opening:%' and points > 0`;
    await sql`update ledger_entry set lots_synced = true where tenant_id = ${tenant.id} and idempotency_key like 'bench:opening:%' and points > 0`;
    await sql`vacuum (analyze) ledger_entry`;
    await sql`vacuum (analyze) customer`;
    console.log(`  ${fmt(generation.totalSeconds, 1)} s`);

    const customers = await sampleSaleCustomers(sql, tenant.id, cfg.sample);
    const { templates, mix } = buildSaleTemplates(customers, cfg.templates);
    const templatesFile = join(work, "sales.jsonl");
    await writeTemplateFile(templatesFile, templates);
    console.log(
      `${fmt(mix.templates)} sale templates over ${fmt(customers.length)} customers: ${pct(mix.anonymous, mix.templates)} anonymous, ` +
        `${pct(mix.unmatched, mix.templates)} unknown customer, named by МойСклад id ${pct(mix.byMsId, mix.templates)} / our id ${pct(mix.byOurId, mix.templates)} / ` +
        `phone ${pct(mix.byPhone, mix.templates)} / card ${pct(mix.byCard, mix.templates)}; ${pct(mix.spending, mix.templates)} spend points; ` +
        `${fmt(mix.positions / mix.templates, 1)} positions, ${fmt(mix.meanBodyBytes)} bytes a body`,
    );

    poller = createSql(cfg.databaseUrl, { max: 1, applicationName: "loyalty-bench-poller" });
    const [{ pid: pollerPid } = { pid: 0 }] = await poller<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const benchPids = new Set([process.pid, pollerPid]);
    const [{ autovacuum } = { autovacuum: "on" }] = await sql<{ autovacuum: string }[]>`select current_setting('autovacuum') as autovacuum`;
    // Autovacuum may be off (it is on the bench machine's server). Its analyze is then
    // done here, with its default thresholds (50 rows + 10% changed), every 5 s on a
    // connection of its own: without it, tables that start empty keep "empty" statistics
    // and their plans go wrong as they grow (every notification read to find one).
    const analyzed: { table: string; atSeconds: number; ms: number }[] = [];
    if (autovacuum !== "on") {
      console.log("autovacuum is off on this server: the run analyzes tables as autovacuum would, and vacuums between phases");
      const analyzer = createSql(cfg.databaseUrl, { max: 1, applicationName: "loyalty-bench-analyze" });
      const [{ pid: analyzerPid } = { pid: 0 }] = await analyzer<{ pid: number }[]>`select pg_backend_pid() as pid`;
      benchPids.add(analyzerPid);
      const t0 = performance.now();
      let running: Promise<void> | null = null;
      const tick = async () => {
        const due = await analyzer<{ table: string }[]>`
          select s.relname as table from pg_stat_user_tables s join pg_class c on c.oid = s.relid
          where s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)`;
        for (const { table } of due) {
          const t = performance.now();
          await analyzer.unsafe(`analyze "${table.replaceAll('"', '""')}"`);
          analyzed.push({ table, atSeconds: Math.round((t - t0) / 100) / 10, ms: Math.round(performance.now() - t) });
        }
      };
      const timer = setInterval(() => {
        running ??= tick().catch(() => {}).finally(() => (running = null));
      }, 5000);
      stopAnalyzer = async () => {
        clearInterval(timer);
        await running;
        await analyzer.end({ timeout: 2 });
      };
    }
    queues = new Queues(cfg.redisUrl, queuePrefix);
    // Its connection queues no commands while connecting: wait until it answers.
    for (let i = 0; !(await queues.ping().catch(() => false)); i++) {
      if (i === 50) throw new Error(`Redis at ${hideUser(cfg.redisUrl)} does not answer`);
      await Bun.sleep(100);
    }

    // 2. The API alone.
    const apiPort = await freePort();
    const apiLog = join(resultsDir, `intake-${stamp}-api.log`);
    const common = { DATABASE_URL: cfg.databaseUrl, REDIS_URL: cfg.redisUrl, QUEUE_PREFIX: queuePrefix, LOG_LEVEL: "warn" };
    const profileDir = join(resultsDir, `intake-${stamp}-profile`);
    const profileFlags = cfg.profile ? ["--cpu-prof-md", `--cpu-prof-dir=${profileDir}`, "--cpu-prof-interval=250"] : [];
    const api = start("api", serviceCommand("src/main.ts", ["--api"], profileFlags),
      { ...common, DB_POOL_SIZE: String(cfg.poolSize), PORT: String(apiPort), HOST: "127.0.0.1", ADMIN_TOKEN: "bench-" + crypto.randomUUID() }, apiLog);
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    await waitHealthy("API", api, apiUrl + "/health", apiLog);
    console.log(`API pid ${api.pid} on ${apiPort}; pool ${cfg.poolSize}; queue prefix ${queuePrefix}; ${cfg.connections} connections, wrk ${cfg.wrkThreads} threads`);

    const workers: Proc[] = [];
    const workerLogs: string[] = [];
    const snapshot = async (): Promise<CpuSnapshot> => {
      const [apiMs, workerMs, scan, m] = await Promise.all([
        processCpuMs(api.pid),
        Promise.all(workers.map((w) => processCpuMs(w.pid))).then((xs) => xs.reduce((s, x) => s + x, 0)),
        scanCpuMs(dbName, benchPids),
        machineMs(),
      ]);
      return { at: performance.now(), api: apiMs, workers: workerMs, procs: scan, busy: m.busy, iowait: m.iowait };
    };
    const startWorkers = (processes: number, concurrency: number) => {
      for (let i = 0; i < processes; i++) {
        const log = join(resultsDir, `intake-${stamp}-worker-${workerLogs.length + 1}.log`);
        workerLogs.push(log);
        workers.push(start(`worker ${workerLogs.length}`, serviceCommand("workers/main.ts", [], profileFlags), { ...common, WORKER_CONCURRENCY: String(concurrency) }, log));
      }
    };
    const stopWorkers = async () => {
      await Promise.all(workers.map((w) => stop(w)));
      workers.length = 0;
    };
    const unsettled = async () => {
      const [{ n } = { n: 0 }] = await poller!<{ n: number }[]>`select count(*)::int as n from document where state = 'received'`;
      return n;
    };
    const documents = async () => {
      const [{ n } = { n: 0 }] = await sql!<{ n: number }[]>`select count(*)::int as n from document`;
      return n;
    };
    const settlementCounts = async () => {
      const c = await queues!.settlement.getJobCounts("waiting", "active", "delayed", "prioritized", "completed", "failed");
      return c as Record<string, number>;
    };
    const notificationsPending = async () => {
      const c = await queues!.notifications.getJobCounts("waiting", "active", "delayed", "prioritized");
      return Object.values(c).reduce((s, x) => s + x, 0);
    };
    /** Every id answered 201 is a stored document; documents added beyond them were in flight when the load stopped. */
    const checkStored = async (ids: string[], before: number, inFlightAllowance: number) => {
      const after = await documents();
      const [{ found } = { found: 0 }] = ids.length
        ? await sql!<{ found: number }[]>`select count(*)::int as found from document where id = any(${ids}::uuid[])`
        : [{ found: 0 }];
      const unique = new Set(ids).size;
      const stored = after - before;
      const extra = stored - found;
      const ok = found === ids.length && unique === ids.length && extra >= 0 && extra <= inFlightAllowance;
      return { answered201: ids.length, uniqueIds: unique, found, stored, storedWithoutAnswer: extra, ok };
    };

    const rows: Row[] = [];
    // Vacuum and analyze between phases, as autovacuum would have at some point (it may be
    // off; see above). Statistics also matter to generic plans kept by the processes:
    // ANALYZE invalidates them, so they are made again with the statistics.
    const vacuumSeconds: number[] = [];
    const maintain = async () => {
      const t = performance.now();
      await sql!`vacuum (analyze) document, customer, ledger_entry, notification`;
      vacuumSeconds.push((performance.now() - t) / 1000);
    };
    const checks: Record<string, unknown> = {};

    // Pre-flight: a few hundred sales through the API, each must be answered 201.
    const docs0 = await documents();
    const pre = await sendSales(apiUrl, tenant.apiToken, templates, cfg.preflight, 16);
    const preStored = await checkStored(pre.ids, docs0, 0);
    console.log(`pre-flight: ${pre.created}/${pre.sent} answered 201${pre.errorSample ? ` — first error: ${pre.errorSample}` : ""}`);
    if (pre.created !== pre.sent || !preStored.ok) throw new Error(`pre-flight failed: ${JSON.stringify({ pre: { ...pre, ids: undefined }, preStored })}`);
    checks.preflight = preStored;
    await maintain();

    // --- 1. intake, API only -------------------------------------------------------
    process.stdout.write(`intake (API only): warm-up ${cfg.warmupSeconds} s, run ${cfg.seconds} s… `);
    const docs1 = await documents();
    const warm = await wrk(apiUrl, templatesFile, tenant.apiToken, cfg.warmupSeconds, work);
    const d0 = await dbStats(poller);
    const x0 = await scanStats(poller);
    const i0 = await snapshot();
    const run = await wrk(apiUrl, templatesFile, tenant.apiToken, cfg.seconds, work);
    const i1 = await snapshot();
    await Bun.sleep(1100); // backends report their counters at most once a second
    const d1 = await dbStats(poller);
    const x1 = await scanStats(poller);
    const intakeRate = run.created / (run.durationUs / 1e6);
    console.log(`${fmt(intakeRate)} sales/s answered 201`);
    const intakeStored = await checkStored([...warm.ids, ...run.ids], docs1, 2 * cfg.connections);
    const intakeIds = [...warm.ids, ...run.ids];
    const [spends] = await sql<{ expected: number; posted: number; spent: number; matched: number; anonymous: number; unmatched: number }[]>`
      select count(*) filter (where d.customer_id is not null and d.points_spent > 0)::int as expected,
             count(l.id)::int as posted, coalesce(sum(-l.points), 0)::int as spent,
             count(*) filter (where d.match_status = 'matched')::int as matched,
             count(*) filter (where d.match_status = 'anonymous')::int as anonymous,
             count(*) filter (where d.match_status = 'unmatched')::int as unmatched
      from document d
      left join ledger_entry l on l.tenant_id = d.tenant_id and l.document_id = d.id and l.kind = 'spend'
      where d.id = any(${intakeIds}::uuid[])`;
    const queuedAfterIntake = await settlementCounts();
    const backlog = await unsettled();
    checks.intake = { ...intakeStored, spends, queued: queuedAfterIntake, unsettled: backlog };
    console.log(
      `  stored ${fmt(intakeStored.found)}/${fmt(intakeStored.answered201)} answered sales${intakeStored.storedWithoutAnswer ? ` (+${intakeStored.storedWithoutAnswer} in flight when wrk stopped)` : ""} ${intakeStored.ok ? "✓" : "✗"}; ` +
        `spends posted ${fmt(spends!.posted)}/${fmt(spends!.expected)} (${fmt(spends!.spent)} points) ${spends!.posted === spends!.expected && spends!.posted > 0 ? "✓" : "✗"}; ` +
        `matched ${fmt(spends!.matched)}, anonymous ${fmt(spends!.anonymous)}, unknown ${fmt(spends!.unmatched)}; ` +
        `queued ${fmt((queuedAfterIntake.waiting ?? 0) + (queuedAfterIntake.delayed ?? 0))} batch jobs (one per tenant per window) for ${fmt(backlog)} unsettled documents`,
    );
    rows.push({
      phase: "intake, API only",
      kind: "intake",
      rate: intakeRate,
      sales: run.created,
      seconds: run.durationUs / 1e6,
      p50ms: run.latencyUs.p50 / 1000,
      p99ms: run.latencyUs.p99 / 1000,
      errors: run.other + run.socketErrors.connect + run.socketErrors.read + run.socketErrors.write + run.socketErrors.timeout,
      cpu: cpuBetween(i0, i1, run.created, run.generatorCpuMs),
      detail: {
        wrk: { ...run, ids: undefined },
        warmup: { created: warm.created, other: warm.other },
        firstError: run.sample || warm.sample,
        postgresPerSale: perSale(d0, d1, run.created),
        tuplesReadPerSale: topScans(x0, x1, run.created),
      },
    });

    // --- 2. settlement -------------------------------------------------------------
    /** Workers on the current backlog; unsettled documents counted once a second. */
    const settle = async (label: string, c: SettleConfig): Promise<Row> => {
      const total = await unsettled();
      const samples: { t: number; settled: number; cpu: CpuSnapshot; db: DbStats; scans?: Map<string, number> }[] = [];
      const db0 = await dbStats(poller!);
      const s0 = await snapshot();
      const t0 = s0.at;
      startWorkers(c.processes, c.concurrency);
      samples.push({ t: 0, settled: 0, cpu: { ...s0, workers: 0 }, db: db0, scans: await scanStats(poller!) });
      process.stdout.write(`${label}: ${fmt(total)} sales… `);
      let capped = false;
      for (;;) {
        await Bun.sleep(1000 - ((performance.now() - t0) % 1000));
        const left = await unsettled();
        const cpu = await snapshot();
        samples.push({ t: (cpu.at - t0) / 1000, settled: total - left, cpu, db: await dbStats(poller!), scans: await scanStats(poller!) });
        if (left === 0) break;
        if (workers.some((w) => w.exitCode !== null)) throw new Error(`a worker exited (see ${workerLogs.at(-1)}.err)`);
        if (cpu.at - t0 > cfg.capSeconds * 1000) {
          capped = true;
          break;
        }
      }
      const last = samples.at(-1)!;
      // Steady state: from the first sample at ≥ 20% of the backlog to the first at ≥ 80%.
      const at = (share: number) => samples.findIndex((s) => s.settled >= share * last.settled);
      let a = at(0.2);
      let b = at(0.8);
      if (b - a < 2) {
        a = Math.max(0, samples.findIndex((s) => s.settled > 0) - 1);
        b = samples.length - 1;
      }
      const A = samples[a]!;
      const B = samples[b]!;
      const rate = (B.settled - A.settled) / (B.t - A.t);
      const firstSettled = samples.findIndex((s) => s.settled > 0);
      const startup = firstSettled > 0 ? samples[firstSettled - 1]!.t : 0;
      const overall = last.settled / Math.max(0.001, last.t - startup);
      console.log(
        `${fmt(rate)} settled/s steady (20–80%), ${fmt(overall)}/s over the whole backlog ` +
          `(${fmt(last.settled)} in ${fmt(last.t, 1)} s${capped ? `, capped at ${cfg.capSeconds} s` : ""})`,
      );
      // The messages the settlements queued ("+N баллов") are sent by the same processes.
      const tn = performance.now();
      while ((await notificationsPending()) > 0 && performance.now() - tn < 120_000) await Bun.sleep(500);
      const end = await snapshot();
      const messagesPending = await notificationsPending();
      if (capped) {
        process.stdout.write(`  draining the rest before the next phase… `);
        const td = performance.now();
        while ((await unsettled()) > 0 && performance.now() - td < 600_000) await Bun.sleep(1000);
        console.log(`${fmt((performance.now() - td) / 1000, 1)} s`);
      }
      await stopWorkers();
      return {
        phase: label,
        kind: "settlement",
        rate,
        sales: last.settled,
        seconds: last.t,
        p50ms: null,
        p99ms: null,
        errors: null,
        cpu: cpuBetween(A.cpu, B.cpu, B.settled - A.settled),
        detail: {
          processes: c.processes,
          concurrency: c.concurrency,
          backlog: total,
          overallRate: overall,
          startupSeconds: startup,
          window: { from: A.t, to: B.t, settled: B.settled - A.settled },
          postgresPerSale: perSale(A.db, B.db, B.settled - A.settled),
          tuplesReadPerSale: topScans(A.scans!, B.scans!, B.settled - A.settled),
          capped,
          messagesDoneAfterSeconds: (end.at - t0) / 1000,
          messagesPending,
          /** Worker CPU per sale from start until the messages were sent too. */
          workerUsPerSaleWithMessages: last.settled ? ((end.workers - 0) * 1000) / last.settled : 0,
          /** [seconds, settled so far, buffer hits so far, commits so far] */
          series: samples.map((s) => [Math.round(s.t * 10) / 10, s.settled, s.db.blks_hit - db0.blks_hit, s.db.xact_commit - db0.xact_commit]),
        },
      };
    };

    const label = (c: SettleConfig) =>
      `settle, ${c.processes} worker${c.processes > 1 ? "s" : ""} × ${c.concurrency}${c.concurrency === cfg.defaultConcurrency ? " (default)" : ""}`;
    const batches: Record<string, unknown>[] = [];
    for (const [i, c] of cfg.settle.entries()) {
      if (i > 0 || (await unsettled()) === 0) {
        process.stdout.write(`fresh backlog: ${fmt(cfg.batch)} sales through the API… `);
        const before = await documents();
        const load: LoadOutcome = await sendSales(apiUrl, tenant.apiToken, templates, cfg.batch, 32);
        const stored = await checkStored(load.ids, before, 0);
        batches.push({ ...load, ids: undefined, stored });
        console.log(`${fmt(load.created)} answered 201 in ${fmt(load.seconds, 1)} s, ${fmt(load.errors)} errors ${stored.ok ? "✓" : "✗"}`);
        if (!stored.ok) throw new Error(`backlog not stored as answered: ${JSON.stringify(stored)}${load.errorSample ? ` — ${load.errorSample}` : ""}`);
      }
      await maintain();
      rows.push(await settle(label(c), c));
    }
    checks.batches = batches;

    // --- 3. intake while settling ---------------------------------------------------
    if (cfg.mixed) {
      process.stdout.write(`intake while settling (API + 1 worker × ${cfg.defaultConcurrency}): run ${cfg.seconds} s… `);
      const before = await documents();
      await maintain();
      startWorkers(1, cfg.defaultConcurrency);
      await Bun.sleep(1500); // the worker's start, off the clock
      const left0 = await unsettled();
      const settledBefore = await poller<{ n: number }[]>`select count(*)::int as n from document where state = 'settled'`;
      const m0 = await snapshot();
      const r = await wrk(apiUrl, templatesFile, tenant.apiToken, cfg.seconds, work);
      const m1 = await snapshot();
      const settledAfter = await poller<{ n: number }[]>`select count(*)::int as n from document where state = 'settled'`;
      const left1 = await unsettled();
      const settledInRun = settledAfter[0]!.n - settledBefore[0]!.n;
      const secs = (m1.at - m0.at) / 1000;
      const intake = r.created / (r.durationUs / 1e6);
      console.log(`${fmt(intake)} sales/s answered 201, ${fmt(settledInRun / secs)} settled/s; backlog ${fmt(left0)} → ${fmt(left1)}`);
      const stored = await checkStored(r.ids, before, cfg.connections);
      process.stdout.write(`  draining the backlog… `);
      const td = performance.now();
      while ((await unsettled()) > 0 && performance.now() - td < 600_000) await Bun.sleep(500);
      const tn = performance.now();
      while ((await notificationsPending()) > 0 && performance.now() - tn < 120_000) await Bun.sleep(500);
      console.log(`${fmt((performance.now() - td) / 1000, 1)} s`);
      await stopWorkers();
      checks.mixed = stored;
      // One row per side; CPU of each process over the same window, per sale of that side.
      const errors = r.other + r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout;
      rows.push({
        phase: "intake while settling: intake",
        kind: "intake",
        rate: intake,
        sales: r.created,
        seconds: r.durationUs / 1e6,
        p50ms: r.latencyUs.p50 / 1000,
        p99ms: r.latencyUs.p99 / 1000,
        errors,
        cpu: cpuBetween(m0, m1, r.created, r.generatorCpuMs),
        detail: { note: "CPU columns: every process over the window, per sale taken in", firstError: r.sample },
      });
      rows.push({
        phase: "intake while settling: settle",
        kind: "settlement",
        rate: settledInRun / secs,
        sales: settledInRun,
        seconds: secs,
        p50ms: null,
        p99ms: null,
        errors: null,
        cpu: cpuBetween(m0, m1, settledInRun),
        detail: { note: "CPU columns: every process over the window, per sale settled", backlogBefore: left0, backlogAfter: left1 },
      });
    }

    // --- 4. checks ------------------------------------------------------------------
    console.log("checking documents, ledger and balances…");
    checks.final = await verify(sql, await settlementCounts(), await queues.notifications.getJobCounts("failed", "completed", "waiting"));
    const f = checks.final as Awaited<ReturnType<typeof verify>>;
    for (const line of f.lines) console.log(`  ${line}`);

    // --- report ---------------------------------------------------------------------
    const noisy = rows.filter((r) => r.cpu.otherBusy > 0.05);
    if (noisy.length) {
      console.log(`\n⚠ other processes used ${noisy.map((r) => `${fmt(r.cpu.otherBusy * 100)}% (${r.phase})`).join(", ")} of the CPU: figures are low and noisy, rerun on a quiet machine`);
    }
    printTable(rows);
    console.log("\nPostgres per sale (this database's commits and rows; WAL of the whole cluster):");
    for (const r of rows) {
      const p = r.detail.postgresPerSale as Record<keyof DbStats, number> | undefined;
      if (!p) continue;
      console.log(
        `  ${r.phase.padEnd(36)} commits ${fmt(p.xact_commit, 1)}, rows inserted ${fmt(p.tup_inserted, 1)}, updated ${fmt(p.tup_updated, 1)}, ` +
          `buffer hits ${fmt(p.blks_hit)}, WAL ${fmt(p.wal_records, 1)} records / ${fmt(p.wal_fpi, 1)} full pages / ${fmt(p.wal_bytes)} bytes, ` +
          `MultiXacts ≈ ${fmt(p.multixact_pages * 2048, 1)}`,
      );
      const top = r.detail.tuplesReadPerSale as Record<string, number> | undefined;
      if (top) console.log(`  ${"".padEnd(36)} tuples read per sale: ${Object.entries(top).map(([k, v]) => `${k} ${fmt(v, 1)}`).join(", ")}`);
    }
    // Goals of issue 13: intake ≥ 5,000 sales/s; settlement ≥ 4,000 with one worker process;
    // intake while settling ≥ 2,500 in and ≥ 2,000 settled per second.
    const intakeRow = rows[0]!;
    const settleRows = rows.filter((r) => r.kind === "settlement" && !r.phase.startsWith("intake while"));
    const bestSettle = Math.max(...settleRows.map((r) => r.rate));
    const mixedIn = rows.find((r) => r.phase === "intake while settling: intake");
    const mixedOut = rows.find((r) => r.phase === "intake while settling: settle");
    const mark = (ok: boolean) => (ok ? "✓" : "✗");
    console.log(
      `\ngoals (issue 13): intake ≥ 5,000 sales/s — ${fmt(intakeRow.rate)} ${mark(intakeRow.rate >= 5000)}; ` +
        `settlement ≥ 4,000 sales/s — best ${fmt(bestSettle)} ${mark(bestSettle >= 4000)}` +
        (mixedIn && mixedOut
          ? `; while settling ≥ 2,500 in / ≥ 2,000 settled — ${fmt(mixedIn.rate)} / ${fmt(mixedOut.rate)} ${mark(mixedIn.rate >= 2500 && mixedOut.rate >= 2000)}`
          : "") +
        `; checks ${f.ok ? "passed ✓" : "FAILED ✗"}`,
    );

    const resultFile = join(resultsDir, `intake-${stamp}.json`);
    const logs = { api: await logLines(apiLog + ".err"), workers: await Promise.all(workerLogs.map((l) => logLines(l + ".err"))) };
    await writeFile(
      resultFile,
      JSON.stringify(
        {
          at: new Date().toISOString(),
          commit: commitAtStart,
          ...(codeVersion() !== codeAtStart ? { codeChangedDuringRun: gitDescribe() } : {}),
          bun: Bun.version,
          cpus,
          config: { ...cfg, databaseUrl: hideUser(cfg.databaseUrl), redisUrl: hideUser(cfg.redisUrl), queuePrefix },
          postgres: { autovacuum, vacuumAnalyzeBetweenPhasesSeconds: vacuumSeconds, analyzedDuringRun: analyzed },
          generation,
          mix,
          warnOrErrorLines: logs,
          results: rows,
          checks,
        },
        null,
        2,
      ) + "\n",
    );
    if (codeVersion() !== codeAtStart) {
      console.log(`⚠ src/, sql/ or workers/ changed during the run (${commitAtStart} → ${gitDescribe()}): processes started later ran the newer code`);
    }
    console.log(`results: ${resultFile}`);
    console.log(`logs: ${apiLog}(.err) — ${logs.api} warn/error lines; workers ${logs.workers.join(", ")}`);
    console.log(`the bench database is left for inspection: psql ${cfg.databaseUrl}`);
    if (!f.ok) process.exitCode = 2;
  } finally {
    await stopAnalyzer().catch(() => {});
    await stopAll();
    await queues?.close().catch(() => {});
    const n = await deleteRedisKeys().catch((e) => (console.error(`could not delete Redis keys ${queuePrefix}:*: ${e}`), 0));
    if (n) console.log(`deleted ${fmt(n)} Redis keys under ${queuePrefix}:`);
    await poller?.end({ timeout: 2 }).catch(() => {});
    await sql?.end({ timeout: 2 }).catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

const pct = (n: number, of: number) => `${fmt((100 * n) / Math.max(1, of))}%`;

/** Documents, ledger, balances and jobs, against what the documents say they must be. */
async function verify(sql: Sql, settlementJobs: Record<string, number>, notificationJobs: Record<string, number>) {
  const [docs] = await sql<{ total: number; sales: number; settled: number; unsettled: number; no_settled_at: number }[]>`
    select count(*)::int as total, count(*) filter (where kind = 'sale')::int as sales,
      count(*) filter (where state = 'settled')::int as settled,
      count(*) filter (where state <> 'settled')::int as unsettled,
      count(*) filter (where state = 'settled' and settled_at is null)::int as no_settled_at
    from document`;
  // What each settled sale must have posted: its spend (at intake) and its accrual, once each.
  const [ledger] = await sql<{ expected: number; missing: number; unexpected: number; duplicated: number; wrong: number }[]>`
    with expected as (
      select d.tenant_id, d.id as document_id, d.customer_id, k.kind, k.points
      from document d
      cross join lateral (values ('spend', -d.points_spent), ('accrual', d.points_earned)) k(kind, points)
      where d.kind = 'sale' and d.state = 'settled' and d.customer_id is not null and k.points <> 0
    ), actual as (
      select tenant_id, document_id, kind, min(customer_id::text)::uuid as customer_id, sum(points)::bigint as points, count(*)::int as n
      from ledger_entry where document_id is not null
      group by tenant_id, document_id, kind
    )
    select count(e.document_id)::int as expected,
      count(*) filter (where a.document_id is null)::int as missing,
      count(*) filter (where e.document_id is null)::int as unexpected,
      count(*) filter (where a.n > 1)::int as duplicated,
      count(*) filter (where e.points <> a.points or e.customer_id <> a.customer_id)::int as wrong
    from expected e full join actual a
      on a.tenant_id = e.tenant_id and a.document_id = e.document_id and a.kind = e.kind`;
  const [balances] = await sql<{ customers: number; wrong: number; negative: number }[]>`
    select count(*)::int as customers,
      count(*) filter (where c.balance <> coalesce(l.released, 0) or c.pending_balance <> coalesce(l.pending, 0))::int as wrong,
      count(*) filter (where c.balance < 0)::int as negative
    from customer c
    left join (
      select tenant_id, customer_id,
        sum(points) filter (where released_at is not null) as released,
        sum(points) filter (where released_at is null) as pending
      from ledger_entry group by tenant_id, customer_id
    ) l on l.tenant_id = c.tenant_id and l.customer_id = c.id`;
  // A sale settled twice would count twice in purchases.
  const [purchases] = await sql<{ wrong: number }[]>`
    select count(*) filter (where c.purchases_count - coalesce(h.n, 0) <> coalesce(d.n, 0)
                              or c.purchases_kopecks - coalesce(h.k, 0) <> coalesce(d.k, 0))::int as wrong
    from customer c
    left join bench_history h on h.customer_id = c.id
    left join (
      select tenant_id, customer_id, count(*) as n, sum(total_kopecks) as k
      from document where kind = 'sale' and state = 'settled' and customer_id is not null
      group by tenant_id, customer_id
    ) d on d.tenant_id = c.tenant_id and d.customer_id = c.id`;
  const [messages] = await sql<{ expected: number; sent: number; duplicated: number }[]>`
    with expected as (
      select tenant_id, id::text as ref from document
      where kind = 'sale' and state = 'settled' and customer_id is not null and (points_spent > 0 or points_earned > 0)
    ), sent as (
      select tenant_id, ref, count(*)::int as n from notification where purpose = 'points' and status = 'sent' group by tenant_id, ref
    )
    select (select count(*)::int from expected) as expected,
      (select count(*)::int from expected e join sent s using (tenant_id, ref)) as sent,
      (select count(*)::int from sent where n > 1) as duplicated`;
  // Not a check: how many updates Postgres could make in place (HOT: no new index entries).
  const tables = await sql<{ table: string; inserted: number; updated: number; hot: number }[]>`
    select relname as table, n_tup_ins::int as inserted, n_tup_upd::int as updated, n_tup_hot_upd::int as hot
    from pg_stat_user_tables where relname in ('customer', 'document', 'ledger_entry', 'notification') order by relname`;
  const d = docs!;
  const l = ledger!;
  const b = balances!;
  const failedJobs = settlementJobs.failed ?? 0;
  const ok =
    d.unsettled === 0 && d.no_settled_at === 0 && l.missing === 0 && l.unexpected === 0 && l.duplicated === 0 && l.wrong === 0 &&
    b.wrong === 0 && purchases!.wrong === 0 && failedJobs === 0 && messages!.duplicated === 0;
  const mark = (good: boolean) => (good ? "✓" : "✗");
  const lines = [
    `documents: ${fmt(d.total)} (${fmt(d.sales)} sales), settled ${fmt(d.settled)}, not settled ${fmt(d.unsettled)} ${mark(d.unsettled === 0 && d.no_settled_at === 0)}`,
    `ledger entries of settled sales: ${fmt(l.expected)} expected; missing ${l.missing}, unexpected ${l.unexpected}, twice ${l.duplicated}, wrong points/customer ${l.wrong} ${mark(l.missing + l.unexpected + l.duplicated + l.wrong === 0)}`,
    `balances = ledger sums: ${fmt(b.customers - b.wrong)}/${fmt(b.customers)} customers ${mark(b.wrong === 0)} (${fmt(b.negative)} below zero: spends are not checked against the balance at intake)`,
    `purchase counts and sums = settled sales: ${purchases!.wrong} customers differ ${mark(purchases!.wrong === 0)}`,
    `settlement jobs (batches): ${fmt(settlementJobs.completed ?? 0)} completed kept, ${failedJobs} failed, ${fmt((settlementJobs.waiting ?? 0) + (settlementJobs.active ?? 0) + (settlementJobs.delayed ?? 0))} left ${mark(failedJobs === 0)}`,
    `points messages: ${fmt(messages!.sent)}/${fmt(messages!.expected)} sent (log channel), ${messages!.duplicated} twice ${mark(messages!.duplicated === 0)}; ` +
      `notification jobs failed ${notificationJobs.failed ?? 0}, waiting ${notificationJobs.waiting ?? 0}`,
    `(rows over the run, not a check: ${tables.map((t) => `${t.table} ${fmt(t.inserted)} inserted, ${fmt(t.updated)} updated of which ${fmt(t.hot)} in place (HOT)`).join("; ")})`,
  ];
  return { ok, documents: d, ledger: l, balances: b, purchases: purchases!, messages: messages!, settlementJobs, notificationJobs, tables, lines };
}

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${signal}: stopping the processes this run started`);
    void stopAll()
      .then(() => deleteRedisKeys())
      .catch(() => {})
      .finally(() => process.exit(130));
  });
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  async (e) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    await stopAll();
    await deleteRedisKeys().catch(() => {});
    process.exit(1);
  },
);
