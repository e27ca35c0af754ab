// Load benchmark of the POS's interactive calls against a reference endpoint.
// Run by hand, never in CI:   bun run bench        (≈2 minutes with the defaults)
//
// One run: recreates the bench database (default loyalty_bench on 127.0.0.1:5432, see
// BENCH_DATABASE_URL), migrates it, makes a tenant with the real admin code and 1M
// customers in SQL; starts the real API (`bun src/main.ts --api`) and a reference
// endpoint (bare Bun.serve + postgres.js, one indexed lookup a request) as processes of
// their own; checks a sample of answers in full; then drives each target with the same
// load generator (wrk if installed, else bench/load.ts) at 64 connections for a fixed
// time after a warm-up, and prints requests/s, latency, errors and the ratio of each
// API call to the reference. Results go to bench/results/<timestamp>.json. The bench
// database is left in place for inspection.
//
// Environment (all optional):
//   BENCH_DATABASE_URL  postgres://postgres@127.0.0.1:5432/loyalty_bench — the database in it is DROPPED
//   BENCH_RUNTIME bun (or deno: the API runs under node_modules/.bin/deno), BENCH_SECONDS 10, BENCH_WARMUP_SECONDS 3, BENCH_CONNECTIONS 64, BENCH_CUSTOMERS 1000000,
//   BENCH_SAMPLE 20000 (distinct customers the requests name), BENCH_TARGETS reference,recalc,search,
//   BENCH_ROUNDS 1 (rounds of all targets; the table shows medians, ratios per round),
//   BENCH_CHECK_EVERY 50 (the generator checks every Nth 2xx body; 0: no per-response work, statuses ≥ 400 still counted),
//   BENCH_GENERATOR wrk|bun (default: wrk when on PATH), BENCH_WRK_THREADS 2,
//   BENCH_REUSE=1 keep the existing bench database (skip generation; rotates the tenant's key),
//   BENCH_PROFILE=1 the API writes a CPU profile (bun --cpu-prof-md) into bench/results/ when stopped,
//   DB_POOL_SIZE (default as the API's, see src/config.ts).
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config.ts";
import type { Sql } from "../src/db/client.ts";
import { createSql } from "../src/db/client.ts";
import { cpus, freePort, gitDescribe, machineMs, type Proc, processCpuMs, ROOT, benchRuntime, serviceCommand, spawnLogged, stopProcess, waitHealthy } from "./lib.ts";
import { rotateApiKey } from "../src/loyalty/tenants.ts";
import { type BenchRequest, buildTargets, checkAnswer, sampleCustomers, type Target, writeRequestFile } from "./requests.ts";
import { createBenchTenant, DEFAULT_BENCH_URL, generateCustomers, type GenerateTimings, recreateDatabase } from "./seed.ts";

const env = process.env;
const num = (name: string, def: number) => {
  const v = Number(env[name] ?? def);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};

const cfg = {
  databaseUrl: env.BENCH_DATABASE_URL || DEFAULT_BENCH_URL,
  seconds: num("BENCH_SECONDS", 10),
  warmupSeconds: num("BENCH_WARMUP_SECONDS", 3),
  connections: num("BENCH_CONNECTIONS", 64),
  customers: num("BENCH_CUSTOMERS", 1_000_000),
  sample: num("BENCH_SAMPLE", 20_000),
  targets: (env.BENCH_TARGETS ?? "reference,recalc,search").split(",").map((s) => s.trim()),
  generator: env.BENCH_GENERATOR ?? (Bun.which("wrk") ? "wrk" : "bun"),
  wrkThreads: num("BENCH_WRK_THREADS", 2),
  rounds: num("BENCH_ROUNDS", 1),
  reuse: env.BENCH_REUSE === "1",
  profile: env.BENCH_PROFILE === "1",
  poolSize: loadConfig({ DB_POOL_SIZE: env.DB_POOL_SIZE }).dbPoolSize,
  checkEvery: Number(env.BENCH_CHECK_EVERY ?? 50),
  preflight: 300,
};

// --- processes --------------------------------------------------------------------

const children: { name: string; proc: Proc }[] = [];

function start(name: string, cmd: string[], extraEnv: Record<string, string>, logFile: string): Proc {
  const proc = spawnLogged(cmd, extraEnv, logFile);
  children.push({ name, proc });
  return proc;
}

const stopAll = () => Promise.all(children.map(({ proc }) => stopProcess(proc, 5000)));

// --- CPU accounting (bench/lib.ts) ---------------------------------------------------

/** CPU of the Postgres backends serving the bench database (by their process title). */
async function benchBackendsCpuMs(dbName: string): Promise<number> {
  let total = 0;
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const title = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    // "postgres: [<cluster>: ]<user> <database> <client> <state>"
    if (/^postgres: (?:\S+: )?\S+ (\S+) /.exec(title)?.[1] === dbName) total += await processCpuMs(Number(pid));
  }
  return total;
}

// --- load -------------------------------------------------------------------------

interface LoadResult {
  requests: number;
  durationUs: number;
  latencyUs: { p50: number; p90: number; p99: number; max: number; mean: number };
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  checked: number;
  badBody: number;
  badSample: string;
  generatorCpuMs: number;
}

async function drive(baseUrl: string, file: string, key: string, target: Target, seconds: number): Promise<LoadResult> {
  const cmd =
    cfg.generator === "wrk"
      ? ["wrk", "-t", String(cfg.wrkThreads), "-c", String(cfg.connections), "-d", `${seconds}s`, "--timeout", "5s",
         "-s", join(ROOT, "bench/wrk.lua"), baseUrl, "--", file, key, target.marker, String(cfg.checkEvery)]
      : [process.execPath, join(ROOT, "bench/load.ts"), baseUrl, file, key, target.marker, String(cfg.checkEvery),
         String(seconds), String(cfg.connections)];
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (!line) throw new Error(`${cfg.generator} gave no result (exit ${proc.exitCode}):\n${out}\n${err}`);
  const usage = proc.resourceUsage();
  const generatorCpuMs = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1000 : 0;
  return { ...JSON.parse(line.slice("BENCH_RESULT ".length)), generatorCpuMs };
}

/** Every answer of the first `n` requests, checked in full (16 at a time). */
async function preflight(baseUrl: string, key: string, requests: BenchRequest[], n: number) {
  const sample = requests.slice(0, n);
  const failures: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < sample.length) {
        const q = sample[next++]!;
        const res = await fetch(baseUrl + q.path, {
          method: q.method,
          headers: { "Lognex-Discount-API-Auth-Token": key, "Content-Type": "application/json" },
          body: q.body,
        });
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // left as text; the check reports it
        }
        const problem = checkAnswer(q, res.status, body);
        if (problem) failures.push(`${q.method} ${decodeURIComponent(q.path)}: ${problem}`);
      }
    }),
  );
  return { checked: sample.length, failed: failures.length, examples: failures.slice(0, 5) };
}

// --- report -----------------------------------------------------------------------

interface Row {
  target: Target["name"];
  label: string;
  rps: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
  maxMs: number;
  non2xx: number;
  socketErrors: number;
  checked: number;
  badBody: number;
  badSample: string;
  ratio: number | null;
  cpuUsPerRequest: { server: number; postgres: number; generator: number };
  /** Share of all cores busy during the run, and busy with anything but server, its backends and the generator. */
  machineBusy: number;
  otherBusy: number;
  preflight: { checked: number; failed: number; examples: string[] };
}

type Preflight = Awaited<ReturnType<typeof preflight>>;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** One row from several rounds of a target: medians, errors summed. */
function summarize(runs: Row[]): Row {
  const med = (f: (r: Row) => number) => median(runs.map(f));
  const sum = (f: (r: Row) => number) => runs.reduce((s, r) => s + f(r), 0);
  const first = runs[0]!;
  return {
    ...first,
    rps: med((r) => r.rps),
    p50ms: med((r) => r.p50ms),
    p90ms: med((r) => r.p90ms),
    p99ms: med((r) => r.p99ms),
    maxMs: Math.max(...runs.map((r) => r.maxMs)),
    non2xx: sum((r) => r.non2xx),
    socketErrors: sum((r) => r.socketErrors),
    checked: sum((r) => r.checked),
    badBody: sum((r) => r.badBody),
    badSample: runs.find((r) => r.badSample)?.badSample ?? "",
    ratio: first.ratio === null ? null : med((r) => r.ratio!),
    cpuUsPerRequest: {
      server: med((r) => r.cpuUsPerRequest.server),
      postgres: med((r) => r.cpuUsPerRequest.postgres),
      generator: med((r) => r.cpuUsPerRequest.generator),
    },
    machineBusy: med((r) => r.machineBusy),
    otherBusy: med((r) => r.otherBusy),
  };
}

/** What issue 13 asks of each interactive call at 64 connections. */
const GOAL = { ratio: 0.85, p99ms: 15 };

const fmt = (x: number, d = 0) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

function printTable(rows: Row[]) {
  const head = ["target", "req/s", "p50 ms", "p99 ms", "non-2xx", "sock err", "bad body", "vs ref", "µs CPU/req: server", "postgres", "load gen", "CPU busy", "other"];
  const lines = rows.map((r) => [
    r.label,
    fmt(r.rps),
    fmt(r.p50ms, 2),
    fmt(r.p99ms, 2),
    fmt(r.non2xx),
    fmt(r.socketErrors),
    `${r.badBody}/${r.checked}`,
    r.ratio === null ? "—" : fmt(r.ratio, 2),
    fmt(r.cpuUsPerRequest.server),
    fmt(r.cpuUsPerRequest.postgres),
    fmt(r.cpuUsPerRequest.generator),
    `${fmt(r.machineBusy * 100)}%`,
    `${fmt(r.otherBusy * 100)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log("\n" + show(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(show(l));
}

// --- the run ----------------------------------------------------------------------

async function prepare(): Promise<{ sql: Sql; tenantId: string; apiKey: string; generation: GenerateTimings | null }> {
  if (cfg.reuse) {
    const sql = createSql(cfg.databaseUrl, { max: 4, applicationName: "loyalty-bench" });
    const { id, apiToken } = await rotateApiKey(sql, "bench");
    const [{ n } = { n: 0 }] = await sql<{ n: number }[]>`select count(*)::int as n from customer where tenant_id = ${id}`;
    console.log(`reusing ${cfg.databaseUrl.replace(/\/\/[^@/]*@/, "//")}: ${fmt(n)} customers`);
    return { sql, tenantId: id, apiKey: apiToken, generation: null };
  }
  console.log(`recreating ${cfg.databaseUrl.replace(/\/\/[^@/]*@/, "//")} and applying migrations…`);
  const sql = await recreateDatabase(cfg.databaseUrl, 4);
  const tenant = await createBenchTenant(sql);
  console.log(`generating ${fmt(cfg.customers)} customers…`);
  const generation = await generateCustomers(sql, tenant.id, cfg.customers);
  console.log(
    `  ${fmt(generation.totalSeconds, 1)} s (insert ${fmt(generation.insertSeconds, 1)} s, indexes ${fmt(generation.indexSeconds, 1)} s, vacuum+analyze ${fmt(generation.vacuumSeconds, 1)} s)`,
  );
  return { sql, tenantId: tenant.id, apiKey: tenant.apiToken, generation };
}

async function main() {
  const dbName = decodeURIComponent(new URL(cfg.databaseUrl).pathname.slice(1));
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = join(ROOT, "bench/results");
  await mkdir(resultsDir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), "loyalty-bench-"));
  let sql: Sql | undefined;
  try {
    if (cfg.generator === "bun") console.log("wrk not found: using bench/load.ts (costs more CPU; `apt-get install -y wrk` for the usual figures)");
    const prepared = await prepare();
    sql = prepared.sql;
    const { tenantId, apiKey, generation } = prepared;

    const customers = await sampleCustomers(sql, tenantId, cfg.sample);
    const targets = buildTargets(customers).filter((t) => cfg.targets.includes(t.name));
    const files = new Map<string, string>();
    for (const t of targets) {
      const file = join(work, `${t.name}.tsv`);
      await writeRequestFile(file, t.requests);
      files.set(t.name, file);
    }

    const apiPort = await freePort();
    const refPort = await freePort();
    const apiLog = join(resultsDir, `${stamp}-api.log`);
    const refLog = join(resultsDir, `${stamp}-reference.log`);
    const adminToken = "bench-" + crypto.randomUUID();
    const common = { DATABASE_URL: cfg.databaseUrl, DB_POOL_SIZE: String(cfg.poolSize), LOG_LEVEL: "warn", HOST: "127.0.0.1" };
    // With BENCH_PROFILE=1 the API writes a CPU profile (markdown) when it is stopped.
    const profileDir = join(resultsDir, `${stamp}-api-profile`);
    const profileFlags = cfg.profile ? ["--cpu-prof-md", `--cpu-prof-dir=${profileDir}`, "--cpu-prof-interval=250"] : [];
    const api = start("api", serviceCommand("src/main.ts", ["--api"], profileFlags), { ...common, PORT: String(apiPort), ADMIN_TOKEN: adminToken }, apiLog);
    const ref = start("reference", [process.execPath, "bench/reference.ts"], { ...common, PORT: String(refPort), BENCH_TENANT_ID: tenantId }, refLog);
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const refUrl = `http://127.0.0.1:${refPort}`;
    await Promise.all([waitHealthy("API", api, apiUrl + "/health", apiLog), waitHealthy("reference", ref, refUrl + "/health", refLog)]);
    console.log(`API (${benchRuntime()}) pid ${api.pid} on ${apiPort}, reference pid ${ref.pid} on ${refPort}; pool ${cfg.poolSize}, ${cfg.connections} connections, ${cfg.generator}`);

    const endpoint = (t: Target) => (t.name === "reference" ? { base: refUrl, server: ref } : { base: apiUrl, server: api });
    const preflights = new Map<string, Preflight>();
    for (const t of targets) {
      const pre = await preflight(endpoint(t).base, apiKey, t.requests, cfg.preflight);
      preflights.set(t.name, pre);
      console.log(`${t.label}: pre-flight ${pre.checked - pre.failed}/${pre.checked} answers correct`);
      for (const ex of pre.examples) console.log(`  ✗ ${ex}`);
    }

    /** Warm-up, then one measured run of one target. */
    const measure = async (t: Target): Promise<Row> => {
      const { base, server } = endpoint(t);
      const file = files.get(t.name)!;
      await drive(base, file, apiKey, t, cfg.warmupSeconds);
      const cpu = () => Promise.all([processCpuMs(server.pid), benchBackendsCpuMs(dbName), machineMs().then((m) => m.busy), performance.now()]);
      const [srv0, pg0, m0, w0] = await cpu();
      const r = await drive(base, file, apiKey, t, cfg.seconds);
      const [srv1, pg1, m1, w1] = await cpu();
      const perReq = (ms: number) => (r.requests ? (ms * 1000) / r.requests : 0);
      const capacityMs = (w1 - w0) * cpus;
      const ours = srv1 - srv0 + (pg1 - pg0) + r.generatorCpuMs;
      return {
        target: t.name,
        label: t.label,
        rps: r.requests / (r.durationUs / 1e6),
        p50ms: r.latencyUs.p50 / 1000,
        p90ms: r.latencyUs.p90 / 1000,
        p99ms: r.latencyUs.p99 / 1000,
        maxMs: r.latencyUs.max / 1000,
        non2xx: r.non2xx,
        socketErrors: r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout,
        checked: r.checked,
        badBody: r.badBody,
        badSample: r.badSample,
        ratio: null,
        cpuUsPerRequest: { server: perReq(srv1 - srv0), postgres: perReq(pg1 - pg0), generator: perReq(r.generatorCpuMs) },
        machineBusy: (m1 - m0) / capacityMs,
        otherBusy: Math.max(0, m1 - m0 - ours) / capacityMs,
        preflight: preflights.get(t.name)!,
      };
    };

    // Rounds of reference, recalc, search: each ratio compares runs minutes apart at most,
    // and the median of several rounds shrugs off a burst of foreign load.
    const rounds: Row[][] = [];
    for (let round = 1; round <= cfg.rounds; round++) {
      const rows: Row[] = [];
      for (const t of targets) {
        process.stdout.write(`${cfg.rounds > 1 ? `round ${round}/${cfg.rounds}: ` : ""}${t.label}: warm-up ${cfg.warmupSeconds} s, run ${cfg.seconds} s… `);
        const row = await measure(t);
        rows.push(row);
        console.log(`${fmt(row.rps)} req/s${row.otherBusy > 0.05 ? ` (other processes: ${fmt(row.otherBusy * 100)}% CPU)` : ""}`);
      }
      const reference = rows.find((r) => r.target === "reference");
      for (const r of rows) if (reference && r !== reference) r.ratio = r.rps / reference.rps;
      rounds.push(rows);
    }
    const rows = targets.map((t) => summarize(rounds.map((rs) => rs.find((r) => r.target === t.name)!)));

    const noisy = rows.filter((r) => r.otherBusy > 0.05);
    if (noisy.length) {
      console.log(`\n⚠ other processes used ${noisy.map((r) => `${fmt(r.otherBusy * 100)}%`).join(", ")} of the CPU during ${noisy.map((r) => r.target).join(", ")}: figures are low and noisy, rerun on a quiet machine`);
    }
    if (cfg.rounds > 1) console.log(`\nmedians of ${cfg.rounds} rounds (errors summed):`);
    printTable(rows);
    for (const r of rows) if (r.badSample) console.log(`  ${r.target}: first bad answer: ${r.badSample.slice(0, 200)}`);
    if (rows.some((r) => r.ratio !== null)) {
      const mark = (ok: boolean) => (ok ? "✓" : "✗");
      console.log(`\ngoals (issue 13): ≥ ${GOAL.ratio} of the reference's req/s and p99 ≤ ${GOAL.p99ms} ms, each call`);
      for (const r of rows.filter((x) => x.ratio !== null)) {
        console.log(
          `  ${r.label.padEnd(26)} ${fmt(r.ratio!, 2)} of the reference ${mark(r.ratio! >= GOAL.ratio)}   ` +
            `p99 ${fmt(r.p99ms, 1)} ms ${mark(r.p99ms <= GOAL.p99ms)}   (p90 ${fmt(r.p90ms, 1)}, max ${fmt(r.maxMs, 0)} ms)`,
        );
      }
    }

    const resultFile = join(resultsDir, `${stamp}.json`);
    const apiLogLines = (await readFile(apiLog + ".err", "utf8").catch(() => "")).split("\n").filter(Boolean).length;
    await writeFile(
      resultFile,
      JSON.stringify(
        {
          at: new Date().toISOString(),
          commit: gitDescribe(),
          bun: Bun.version,
          apiRuntime: benchRuntime(),
          cpus,
          config: { ...cfg, databaseUrl: cfg.databaseUrl.replace(/\/\/[^@/]*@/, "//") },
          generation,
          apiWarnOrErrorLines: apiLogLines,
          results: rows,
          rounds,
        },
        null,
        2,
      ) + "\n",
    );
    console.log(`results: ${resultFile}`);
    console.log(`API log: ${apiLog}(.err) — ${apiLogLines} warn/error lines`);
    console.log(`the bench database is left for inspection: psql ${cfg.databaseUrl}`);
  } finally {
    await stopAll();
    if (cfg.profile) console.log(`API CPU profile: ${join(resultsDir, `${stamp}-api-profile`)}/`);
    await sql?.end({ timeout: 2 }).catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the processes this run started`);
    void stopAll().finally(() => process.exit(130));
  });
}

main().then(
  () => process.exit(0),
  async (e) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    await stopAll();
    process.exit(1);
  },
);
