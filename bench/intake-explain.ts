// Where the database time of sale intake and settlement goes, against the database
// bench/intake.ts left (loyalty_bench_intake). One connection, one thing at a time:
//   1. round-trip and commit baselines: `select 1`; a commit that writes (and flushes) WAL;
//   2. the real code, sequentially, on EXPLAIN_N fresh sales: storeSale (intake),
//      settleDocument (settlement), the notifications processor (the "+N баллов" message)
//      — statements and round trips per sale, Postgres backend CPU, client CPU, wall time;
//   3. every statement those run, captured and replayed under EXPLAIN (ANALYZE, BUFFERS,
//      WAL) with the app's generic plans (PREPARE + EXPLAIN EXECUTE, plan_cache_mode =
//      force_generic_plan), in transactions rolled back: execution and trigger (foreign
//      key) time, WAL records / full-page images / bytes, buffers, averaged over sales.
// It adds EXPLAIN_N settled sales (and their ledger entries and messages) to the database,
// consistently: a later check of ledger against balances still holds.
//   bun bench/intake-explain.ts          EXPLAIN_N=300 (sequential runs), EXPLAIN_K=40 (explained sales), --plans
import { readFile } from "node:fs/promises";
import type { Job } from "bullmq";
import postgres from "postgres";
import type { Sql } from "../src/db/client.ts";
import { customerRef, hasRef } from "../src/loyalty/customers.ts";
import { acceptSale, type ReportedSale } from "../src/loyalty/intake.ts";
import { commitAlone } from "../src/db/group-commit.ts";
import { settleDocument } from "../src/loyalty/settlement.ts";
import { TenantDirectory, type TenantContext } from "../src/loyalty/tenants.ts";
import { readSale } from "../src/moysklad/document-reading.ts";
import { LogSender } from "../src/notify/log-sender.ts";
import type { NotificationJob } from "../src/queue/queues.ts";
import { notificationsProcessor } from "../workers/notifications.ts";
import { buildSaleTemplates, fillTemplate, sampleSaleCustomers } from "./intake-sales.ts";

const url = process.env.BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/loyalty_bench_intake";
const N = Number(process.env.EXPLAIN_N ?? 300);
const K = Number(process.env.EXPLAIN_K ?? 40);
const showPlans = process.argv.includes("--plans");

interface Captured {
  query: string;
  params: unknown[];
  types: number[];
}
let capture: Captured[] | null = null;
// As the app's pool (src/db/client.ts), on one connection, with every statement captured.
const sql = postgres(url, {
  max: 1,
  idle_timeout: 0,
  types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
  transform: { undefined: null },
  onnotice: () => {},
  connection: { application_name: "loyalty-bench-explain", plan_cache_mode: "force_generic_plan" },
  debug: (_c, query, params, types) => {
    capture?.push({ query, params: [...params], types: [...types] });
  },
}) as unknown as Sql;

const CLK_TCK = 100;
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}
const clientCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const fmt = (x: number, d = 0) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

const tenant = await new TenantDirectory(sql, 0).bySlug("bench");
if (!tenant) throw new Error(`no bench tenant in ${url}: run \`bun run bench:intake\` first`);
const [{ pid } = { pid: 0 }] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
const [{ unsettled } = { unsettled: 0 }] = await sql<{ unsettled: number }[]>`select count(*)::int as unsettled from document where state = 'received'`;
if (unsettled > 0) console.log(`note: ${unsettled} documents are not settled (a run still going, or stopped early?)`);

/** What POST /retaildemand does before its statement: the same reader and use case. */
function reportedOf(t: TenantContext, body: any): ReportedSale {
  const read = readSale(body, { timeZone: t.program.settings.timezone, isExcluded: (id) => t.program.rules.excludedAssortmentIds.has(id) });
  const ref = read.agent ? customerRef(read.agent) : null;
  return {
    externalKey: read.externalKey,
    name: read.name,
    moment: read.moment,
    retailStoreId: read.retailStoreId,
    customer: ref && hasRef(ref) ? ref : null,
    sums: read.sums,
    moneyLines: read.moneyLines,
    paidKopecks: read.paidKopecks,
    pointsSpentReported: read.pointsSpent,
    pointsEarnReported: read.pointsEarnReported,
    anomalies: read.anomalies,
    body,
  };
}

const customers = await sampleSaleCustomers(sql, tenant.id, 5000);
const { templates } = buildSaleTemplates(customers, N + K, 4242);
const bodies = templates.map((tpl) => JSON.parse(fillTemplate(tpl, crypto.randomUUID())));
const silent = { sms: null, push: null, log: new LogSender(() => {}) };
const notify = notificationsProcessor(sql, silent);
const fakeJob = (data: NotificationJob) => ({ id: "bench", data, attemptsMade: 0, opts: { attempts: 10 } }) as unknown as Job<NotificationJob>;

// --- 1. baselines ------------------------------------------------------------------

async function perCall(n: number, fn: () => Promise<unknown>) {
  for (let i = 0; i < 20; i++) await fn();
  const [b0, c0, w0] = [await cpuMs(pid), clientCpuMs(), performance.now()];
  for (let i = 0; i < n; i++) await fn();
  const [b1, c1, w1] = [await cpuMs(pid), clientCpuMs(), performance.now()];
  return { backendUs: ((b1 - b0) * 1000) / n, clientUs: ((c1 - c0) * 1000) / n, wallUs: ((w1 - w0) * 1000) / n };
}

console.log(`${url.replace(/\/\/[^@/]*@/, "//")}: one connection (backend pid ${pid}), plan_cache_mode = force_generic_plan (as the API pool)\n`);
const B = 2000;
const baselines = {
  "select 1 (one round trip)": await perCall(B, () => sql`select 1`),
  "begin; select 1; commit (read-only)": await perCall(B, () => sql.begin((tx) => tx`select 1`)),
  "begin; take an xid; commit (WAL flush)": await perCall(B, () => sql.begin((tx) => tx`select pg_current_xact_id()`)),
};

// --- 2. the real code, sequentially --------------------------------------------------

type Stage = { statements: number; backendUs: number; clientUs: number; wallUs: number };
async function stage(items: unknown[], fn: (item: any, i: number) => Promise<unknown>): Promise<Stage> {
  capture = [];
  const [b0, c0, w0] = [await cpuMs(pid), clientCpuMs(), performance.now()];
  for (const [i, item] of items.entries()) await fn(item, i);
  const [b1, c1, w1] = [await cpuMs(pid), clientCpuMs(), performance.now()];
  const statements = capture.length / items.length;
  capture = null;
  const n = items.length;
  return { statements, backendUs: ((b1 - b0) * 1000) / n, clientUs: ((c1 - c0) * 1000) / n, wallUs: ((w1 - w0) * 1000) / n };
}

const realBodies = bodies.slice(0, N);
const docIds: string[] = [];
const intake = await stage(realBodies, async (body) => {
  const s = await acceptSale(commitAlone(sql), tenant, reportedOf(tenant, body));
  docIds.push(s.documentId);
});
const messages: NotificationJob[] = [];
const settlement = await stage(docIds, async (id) => {
  const o = await settleDocument(sql, tenant.id, id);
  if (o.status !== "settled") throw new Error(`document ${id}: ${o.status}`);
  if (o.message) messages.push({ type: "points", tenantId: tenant.id, ...o.message });
});
const notification = messages.length ? await stage(messages, (m) => notify(fakeJob(m))) : null;

// --- 3. each statement under EXPLAIN ANALYZE -----------------------------------------

interface StatementCost {
  label: string;
  n: number;
  executionUs: number;
  planningUs: number;
  triggerUs: number;
  triggers: Map<string, number>;
  walRecords: number;
  walFpi: number;
  walBytes: number;
  hit: number;
  dirtied: number;
  plan: string;
}
const costs = new Map<string, StatementCost>();
const ROLLBACK = new Error("rollback");

function labelOf(q: string): string {
  const s = q.replace(/\s+/g, " ").trim();
  if (/^with c as/.test(s)) return "intake: find customer + insert document + spend + balance (storeSale)";
  if (/^select \* from document .* for update/.test(s)) return "lock the document (select * … for update)";
  if (/pointsMessageTemplate/.test(s)) return "program's message templates";
  if (/^insert into ledger_entry/.test(s)) return "insert ledger entry (accrual)";
  if (/^update customer set balance/.test(s)) return "customer balance += points";
  if (/^update customer set pending_balance/.test(s)) return "customer pending balance += points";
  if (/^update customer set purchases_count/.test(s)) return "customer purchases += 1 (returning balance)";
  if (/^update document set state = 'settled'/.test(s)) return "document → settled";
  if (/^update document set state = 'received'/.test(s)) return "release returns waiting for the sale";
  if (/^update document set notice_text/.test(s)) return "document notice_text";
  if (/^update document set customer_id/.test(s)) return "document: customer matched late";
  if (/from customer .*union all/.test(s) || /^\(select .* from customer/.test(s)) return "resolve customer again (unmatched)";
  if (/from notification/.test(s) && /^select channel/.test(s)) return "message: sent already?";
  if (/from customer c join tenant/.test(s)) return "message: customer's phone and shop";
  if (/^insert into notification/.test(s)) return "message: record it sent";
  return s.slice(0, 60);
}

const num = (x: unknown) => (typeof x === "number" ? x : 0);
function walk(node: any, f: (n: any) => void) {
  f(node);
  for (const c of node.Plans ?? []) walk(c, f);
}

let prepared = 0;
/** Set by a run: statements captured before it are set-up, replayed but not explained. */
let explainFrom = 0;
/**
 * Captures the statements of one run of `run` (rolled back), then replays them in order
 * in another transaction (rolled back too), each explained as the app's generic plan.
 * A set-up statement that returns a new document's id has that id swapped in later ones.
 */
async function explainAll(run: (tx: Sql) => Promise<unknown>) {
  capture = [];
  explainFrom = 0;
  await sql.begin(async (tx) => {
    await run(tx as unknown as Sql);
    throw ROLLBACK;
  }).catch((e) => {
    if (e !== ROLLBACK) throw e;
  });
  const all = capture.map((c, i) => ({ ...c, setup: i < explainFrom }));
  const statements = all.filter((c) => !/^(begin|commit|rollback|savepoint|release)/i.test(c.query.trim()));
  capture = null;
  await sql.begin(async (tx) => {
    const swap: [string, string][] = [];
    const fix = (v: unknown) => (typeof v === "string" ? swap.reduce((x, [a, b]) => x.replaceAll(a, b), v) : v);
    for (const st of statements) {
      if (st.setup) {
        const params = st.params.map((v, i) => (st.types[i] ? (tx as any).typed(fix(v), st.types[i]) : fix(v)));
        const rows = await tx.unsafe(st.query, params as any[]);
        const id = (rows as any)[0]?.id;
        const old = (st as any).returnedId as string | undefined;
        if (id && old) swap.push([old, id]);
        continue;
      }
      const name = `bench_s${prepared++}`;
      await tx.unsafe(`prepare ${name} as ${st.query}`);
      // EXECUTE's arguments take the types PREPARE inferred, spelled out.
      const [{ types = [] } = {}] = await tx.unsafe(
        `select parameter_types::text[] as types from pg_prepared_statements where name = '${name}'`,
      ) as unknown as { types: string[] }[];
      // EXPLAIN takes no parameters of its own: the values go in as literals.
      const args = st.params.map((v, i) => `${literal(fix(v))}::${types[i] ?? "text"}`).join(", ");
      const [row] = await tx.unsafe(`explain (analyze, buffers, wal, format json) execute ${name}${args ? `(${args})` : ""}`);
      await tx.unsafe(`deallocate ${name}`);
      const plan = (row as any)["QUERY PLAN"][0];
      const label = labelOf(st.query);
      const c = costs.get(label) ?? {
        label, n: 0, executionUs: 0, planningUs: 0, triggerUs: 0, triggers: new Map(), walRecords: 0, walFpi: 0, walBytes: 0, hit: 0, dirtied: 0, plan: "",
      };
      c.n++;
      c.executionUs += num(plan["Execution Time"]) * 1000;
      c.planningUs += num(plan["Planning Time"]) * 1000;
      for (const t of plan.Triggers ?? []) {
        c.triggerUs += num(t.Time) * 1000;
        const tname = String(t["Constraint Name"] ?? t["Trigger Name"]);
        c.triggers.set(tname, (c.triggers.get(tname) ?? 0) + num(t.Time) * 1000);
      }
      // WAL and buffers: the top node's figures include its children's; add the CTEs' own.
      let wr = 0, fpi = 0, wb = 0, hit = 0, dirtied = 0;
      const top = plan.Plan;
      wr += num(top["WAL Records"]); fpi += num(top["WAL FPI"]); wb += num(top["WAL Bytes"]);
      hit += num(top["Shared Hit Blocks"]); dirtied += num(top["Shared Dirtied Blocks"]);
      walk(top, (nd) => {
        if (nd !== top && nd["Parent Relationship"] === "InitPlan" && nd["Subplan Name"]?.startsWith("CTE")) {
          wr += num(nd["WAL Records"]); fpi += num(nd["WAL FPI"]); wb += num(nd["WAL Bytes"]);
        }
      });
      c.walRecords += wr; c.walFpi += fpi; c.walBytes += wb; c.hit += hit; c.dirtied += dirtied;
      if (!c.plan) c.plan = textPlan(top);
      costs.set(label, c);
    }
    throw ROLLBACK;
  }).catch((e) => {
    if (e !== ROLLBACK) throw e;
  });
}

function literal(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const text = v instanceof Date ? v.toISOString() : typeof v === "string" ? v : JSON.stringify(v);
  return `'${text.replaceAll("'", "''")}'`;
}

function textPlan(node: any, depth = 0): string {
  const what = [node["Node Type"], node["Relation Name"] ?? "", node["Index Name"] ? `using ${node["Index Name"]}` : "", node["Subplan Name"] ?? ""]
    .filter(Boolean).join(" ");
  const line = `${"  ".repeat(depth)}${what} (actual ${node["Actual Total Time"]} ms, rows ${node["Actual Rows"]})`;
  return [line, ...(node.Plans ?? []).map((c: any) => textPlan(c, depth + 1))].join("\n");
}

// Intake of fresh sales; then settlement and message of fresh sales stored first in the
// same transaction (the store is set-up, not explained). Everything is rolled back.
const extra = bodies.slice(N, N + K);
for (const body of extra) await explainAll((tx) => acceptSale(commitAlone(tx), tenant, reportedOf(tenant, body)));
for (const body of extra) {
  await explainAll(async (tx) => {
    const s = await acceptSale(commitAlone(tx), tenant, reportedOf(tenant, body));
    (capture!.at(-1) as any).returnedId = s.documentId;
    explainFrom = capture!.length;
    const o = await settleInTx(tx, s.documentId);
    if (o.message) await notificationsProcessor(tx, silent)(fakeJob({ type: "points", tenantId: tenant.id, ...o.message }));
  });
}

/** settleDocument on an open transaction: its sql.begin becomes a savepoint there. */
function settleInTx(tx: Sql, id: string) {
  const t = tx as any;
  const wrapped: any = (...a: unknown[]) => t(...a);
  Object.assign(wrapped, t, { begin: (fn: (s: unknown) => unknown) => t.savepoint(fn) });
  return settleDocument(wrapped as Sql, tenant!.id, id);
}

// --- report ----------------------------------------------------------------------------

const row = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
function table(head: string[], lines: string[][]) {
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  console.log(row(head, widths));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(row(l, widths));
  console.log();
}

table(
  ["baseline (one connection)", "PG backend µs", "client µs", "wall µs"],
  Object.entries(baselines).map(([k, v]) => [k, fmt(v.backendUs), fmt(v.clientUs), fmt(v.wallUs)]),
);
table(
  [`real code, ${N} sales one after another`, "statements", "PG backend µs/sale", "client µs/sale", "wall µs/sale"],
  [
    ["intake: storeSale", fmt(intake.statements, 1), fmt(intake.backendUs), fmt(intake.clientUs), fmt(intake.wallUs)],
    ["settlement: settleDocument (with begin/commit)", fmt(settlement.statements, 1), fmt(settlement.backendUs), fmt(settlement.clientUs), fmt(settlement.wallUs)],
    ...(notification
      ? [[`message: notifications processor (${messages.length} of ${N} sales)`, fmt(notification.statements, 1), fmt(notification.backendUs), fmt(notification.clientUs), fmt(notification.wallUs)]]
      : []),
  ],
);
console.log(`EXPLAIN (ANALYZE, BUFFERS, WAL) of each statement, generic plans, mean per execution over ${K} sales (intake of fresh ones; settlement and message of one stored in the same rolled-back transaction):`);
const sorted = [...costs.values()];
table(
  ["statement", "runs", "exec µs", "of it FK/triggers µs", "plan µs", "WAL recs", "WAL FPI", "WAL bytes", "buf hit", "dirtied"],
  sorted.map((c) => [
    c.label,
    fmt(c.n),
    fmt(c.executionUs / c.n),
    fmt(c.triggerUs / c.n),
    fmt(c.planningUs / c.n),
    fmt(c.walRecords / c.n, 1),
    fmt(c.walFpi / c.n, 2),
    fmt(c.walBytes / c.n),
    fmt(c.hit / c.n, 1),
    fmt(c.dirtied / c.n, 1),
  ]),
);
for (const c of sorted) {
  if (c.triggers.size) console.log(`  ${c.label}: ${[...c.triggers].map(([t, us]) => `${t} ${fmt(us / c.n)} µs`).join(", ")}`);
}
const indexes = await sql<{ table: string; n: number; names: string }[]>`
  select tablename as table, count(*)::int as n, string_agg(indexname, ', ' order by indexname) as names
  from pg_indexes where schemaname = current_schema() and tablename in ('customer', 'document', 'ledger_entry', 'notification')
  group by tablename order by tablename`;
const hot = await sql<{ table: string; updated: number; hot: number }[]>`
  select relname as table, n_tup_upd::int as updated, n_tup_hot_upd::int as hot from pg_stat_user_tables
  where relname in ('customer', 'document') order by relname`;
console.log("\nindexes a non-HOT update must add an entry to:");
for (const i of indexes) console.log(`  ${i.table}: ${i.n} (${i.names})`);
console.log(`updates made in place (HOT) so far: ${hot.map((h) => `${h.table} ${fmt(h.hot)}/${fmt(h.updated)}`).join(", ")}`);
if (showPlans) for (const c of sorted) console.log(`\n${c.label}:\n${c.plan}`);
await sql.end({ timeout: 2 });
