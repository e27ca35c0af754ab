// GET /metrics in Prometheus' text format (prom-client: the Prometheus client the Node
// world maintains, with histograms, per-scrape collectors and the exposition format done
// right). What each family comes from:
// - this API process: request durations per route pattern and status, POS errors by code;
// - computed when scraped, for the whole deployment (so workers need no port): queue depth
//   and the age of the oldest waiting job (Redis), Postgres connections by process kind
//   and state (pg_stat_activity), the oldest unsettled document (Postgres);
// - added to by every process in one Redis hash (src/metrics/shared.ts): ledger movements
//   by kind, messages by channel and outcome, settlement lag, the SMS.ru balance.
// The deployment-wide families carry the same values on every API process: dashboards
// take max() over instances (see dashboard.json).
import { Elysia } from "elysia";
import { Counter, Gauge, Registry } from "prom-client";
import { adminAuth } from "../admin/auth.ts";
import type { AppDeps } from "../deps.ts";
import { answeredErrorCode } from "../http-errors.ts";
import { errorFields, log } from "../log.ts";
import { within } from "../within.ts";
// Read at request time only, so the import cycle with app.ts is harmless.
import { MOYSKLAD_PREFIX } from "../moysklad/auth.ts";
import { LAG_BUCKETS, type SharedSnapshot } from "./shared.ts";

/** Every family /metrics exports (the dashboard test checks panels against this list). */
export const METRIC_NAMES = [
  "loyalty_http_request_duration_seconds",
  "loyalty_pos_errors_total",
  "loyalty_queue_jobs",
  "loyalty_queue_oldest_waiting_seconds",
  "loyalty_settlement_lag_seconds",
  "loyalty_unsettled_oldest_seconds",
  "loyalty_ledger_entries_total",
  "loyalty_ledger_points_total",
  "loyalty_messages_total",
  "loyalty_sms_balance_rubles",
  "loyalty_sms_balance_age_seconds",
  "loyalty_pg_connections",
  "loyalty_pg_pool_max",
  "loyalty_metrics_scrape_errors_total",
] as const;

/**
 * The request-duration histogram. It is observed on every request, and prom-client's
 * histogram validates and hashes the label object on each observation; this keeps one
 * series per (route, method, status) in a Map and hands prom-client the same histogram
 * (cumulative buckets, sum, count) when scraped.
 */
class RequestDurations {
  private readonly series = new Map<string, { labels: Record<"route" | "method" | "status", string>; buckets: number[]; sum: number; count: number }>();

  constructor(
    private readonly name: string,
    private readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  observe(route: string, method: string, status: string, seconds: number): void {
    const key = `${route}\t${method}\t${status}`;
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: { route, method, status }, buckets: this.bounds.map(() => 0), sum: 0, count: 0 }));
    s.sum += seconds;
    s.count++;
    const i = this.bounds.findIndex((le) => seconds <= le);
    if (i !== -1) s.buckets[i]!++;
  }

  /** The family as prom-client exports it (its get() is all the registry calls). */
  metric() {
    const { name, help, bounds, series } = this;
    return {
      name,
      help,
      type: "histogram",
      aggregator: "sum",
      collect() {},
      reset() {},
      async get() {
        const values = [];
        for (const s of series.values()) {
          let below = 0;
          bounds.forEach((le, i) => {
            below += s.buckets[i]!;
            values.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le }, value: below });
          });
          values.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le: "+Inf" }, value: s.count });
          values.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
          values.push({ metricName: `${name}_count`, labels: s.labels, value: s.count });
        }
        return { name, help, type: "histogram", aggregator: "sum", values };
      },
    };
  }
}

function createRegistry(deps: AppDeps) {
  const registry = new Registry();
  const registers = [registry];

  const httpDuration = new RequestDurations(
    "loyalty_http_request_duration_seconds",
    "HTTP request duration by route pattern, method and status (this API process)",
    [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  registry.registerMetric(httpDuration.metric() as any);
  const posErrors = new Counter({
    name: "loyalty_pos_errors_total",
    help: "Error answers to the POS (МойСклад Loyalty API) by protocol error code and status",
    labelNames: ["code", "status"] as const,
    registers,
  });
  const scrapeErrors = new Counter({
    name: "loyalty_metrics_scrape_errors_total",
    help: "Parts of /metrics that could not be read (Postgres or Redis not answering)",
    labelNames: ["source"] as const,
    registers,
  });

  // One read of the shared hash per scrape, shared by the families below.
  let snapshot: Promise<SharedSnapshot | null> | null = null;
  const shared = () =>
    (snapshot ??= deps.queues
      ? within(2000, deps.queues.metrics.snapshot()).catch((e) => {
          scrapeErrors.inc({ source: "redis" });
          log.warn("metrics: shared counters not read", errorFields(e));
          return null;
        })
      : Promise.resolve(null));

  new Gauge({
    name: "loyalty_queue_jobs",
    help: "Jobs per queue and state (waiting counts prioritized jobs too)",
    labelNames: ["queue", "state"] as const,
    registers,
    async collect() {
      this.reset();
      for (const q of deps.queues?.all() ?? []) {
        try {
          const c = await within(2000, q.getJobCounts("waiting", "prioritized", "active", "delayed", "failed"));
          this.set({ queue: q.name, state: "waiting" }, (c.waiting ?? 0) + (c.prioritized ?? 0));
          for (const s of ["active", "delayed", "failed"] as const) this.set({ queue: q.name, state: s }, c[s] ?? 0);
        } catch (e) {
          scrapeErrors.inc({ source: "redis" });
        }
      }
    },
  });
  new Gauge({
    name: "loyalty_queue_oldest_waiting_seconds",
    help: "Age of the oldest job waiting in each queue (0 when none waits)",
    labelNames: ["queue"] as const,
    registers,
    async collect() {
      this.reset();
      for (const q of deps.queues?.all() ?? []) {
        const at = await within(2000, deps.queues!.oldestWaitingAt(q)).catch(() => undefined);
        if (at === undefined) continue;
        this.set({ queue: q.name }, at === null ? 0 : Math.max(0, (Date.now() - at) / 1000));
      }
    },
  });
  new Gauge({
    name: "loyalty_unsettled_oldest_seconds",
    help: "How long the oldest stored sale or return has waited for settlement (0 when none)",
    registers,
    async collect() {
      try {
        const [r] = await within(
          2000,
          deps.sql<{ age: number | null }[]>`
            select extract(epoch from now() - min(received_at))::float8 as age from document where state = 'received'`,
        );
        this.set(r?.age ?? 0);
      } catch {
        scrapeErrors.inc({ source: "postgres" });
      }
    },
  });
  new Gauge({
    name: "loyalty_pg_connections",
    help: "Postgres connections of this database by process kind (application_name) and state",
    labelNames: ["application", "state"] as const,
    registers,
    async collect() {
      this.reset();
      try {
        const rows = await within(
          2000,
          deps.sql<{ application: string; state: string; n: number }[]>`
            select application_name as application, coalesce(state, 'unknown') as state, count(*)::int as n
            from pg_stat_activity where datname = current_database() and application_name like 'loyalty%'
            group by 1, 2`,
        );
        for (const r of rows) this.set({ application: r.application, state: r.state }, r.n);
      } catch {
        scrapeErrors.inc({ source: "postgres" });
      }
    },
  });
  new Gauge({
    name: "loyalty_pg_pool_max",
    help: "Connections this API process's pool may open (DB_POOL_SIZE)",
    registers,
    collect() {
      this.set(deps.config.dbPoolSize);
    },
  });

  new Counter({
    name: "loyalty_ledger_entries_total",
    help: "Points ledger entries posted, by kind (whole deployment)",
    labelNames: ["kind"] as const,
    registers,
    async collect() {
      const s = await shared();
      this.reset();
      for (const [kind, n] of s?.ledgerEntries ?? []) this.inc({ kind }, n);
    },
  });
  new Gauge({
    // A signed sum (spends and clawbacks are negative): a gauge, since a counter may only rise.
    name: "loyalty_ledger_points_total",
    help: "Sum of points moved by ledger entries, by kind (signed; whole deployment)",
    labelNames: ["kind"] as const,
    registers,
    async collect() {
      const s = await shared();
      this.reset();
      for (const [kind, n] of s?.ledgerPoints ?? []) this.set({ kind }, n);
    },
  });
  new Counter({
    name: "loyalty_messages_total",
    help: "Messages to customers by channel (sms, push, log) and outcome (sent, failed)",
    labelNames: ["channel", "outcome"] as const,
    registers,
    async collect() {
      const s = await shared();
      this.reset();
      for (const [key, n] of s?.messages ?? []) {
        const [channel, outcome] = key.split("|");
        this.inc({ channel, outcome }, n);
      }
    },
  });
  new Gauge({
    name: "loyalty_sms_balance_rubles",
    help: "SMS.ru account balance, roubles (refreshed by the workers; absent until first read)",
    labelNames: ["provider"] as const,
    registers,
    async collect() {
      const s = await shared();
      this.reset();
      if (s?.smsBalanceRub != null) this.set({ provider: "smsru" }, s.smsBalanceRub);
    },
  });
  new Gauge({
    name: "loyalty_sms_balance_age_seconds",
    help: "How old the SMS.ru balance figure is",
    labelNames: ["provider"] as const,
    registers,
    async collect() {
      const s = await shared();
      this.reset();
      if (s?.smsBalanceAt != null) this.set({ provider: "smsru" }, Math.max(0, (Date.now() - s.smsBalanceAt) / 1000));
    },
  });
  // A histogram whose buckets live in Redis (every worker observes into it): prom-client
  // takes any object with get(), so its exposition format stays prom-client's.
  registry.registerMetric({
    name: "loyalty_settlement_lag_seconds",
    help: "From the sale or return moment to its settlement (whole deployment)",
    type: "histogram",
    aggregator: "sum",
    collect() {},
    reset() {},
    async get() {
      const s = await shared();
      const lag = s?.lag ?? { buckets: LAG_BUCKETS.map(() => 0), sum: 0, count: 0 };
      const name = "loyalty_settlement_lag_seconds";
      return {
        name,
        help: this.help,
        type: "histogram",
        aggregator: "sum",
        values: [
          ...LAG_BUCKETS.map((le, i) => ({ metricName: `${name}_bucket`, labels: { le }, value: lag.buckets[i] ?? 0 })),
          { metricName: `${name}_bucket`, labels: { le: "+Inf" }, value: lag.count },
          { metricName: `${name}_sum`, labels: {}, value: lag.sum },
          { metricName: `${name}_count`, labels: {}, value: lag.count },
        ],
      };
    },
  } as any);

  return {
    registry,
    httpDuration,
    posErrors,
    async render(): Promise<string> {
      snapshot = null;
      try {
        return await registry.metrics();
      } finally {
        snapshot = null;
      }
    },
  };
}

/**
 * Request timing for every route (hooks registered globally: use it before the feature
 * controllers) and GET /metrics behind the admin bearer token.
 */
export function metricsController(deps: AppDeps) {
  const m = createRegistry(deps);
  const started = new WeakMap<Request, number>();
  const endpoint = new Elysia({ detail: { tags: ["Служебное"] } })
    .use(adminAuth(deps.config.adminToken))
    .get(
      "/metrics",
      async () =>
        new Response(await m.render(), { headers: { "content-type": m.registry.contentType, "cache-control": "no-store" } }),
      { detail: { summary: "Метрики Prometheus (Bearer ADMIN_TOKEN)", security: [{ adminBearer: [] }] } },
    );
  return new Elysia({ name: "metrics" })
    .onRequest(({ request }) => {
      started.set(request, performance.now());
    })
    .onAfterResponse({ as: "global" }, ({ request, route, set, path, responseValue }) => {
      const t0 = started.get(request);
      if (t0 === undefined) return;
      // An error answer is a Response made by http-errors; set.status does not see it.
      const status = String(responseValue instanceof Response ? responseValue.status : (set.status ?? 200));
      m.httpDuration.observe(route || "unmatched", request.method, status, (performance.now() - t0) / 1000);
      const code = answeredErrorCode.get(request);
      if (code !== undefined && path.startsWith(MOYSKLAD_PREFIX)) m.posErrors.inc({ code: String(code), status });
    })
    .use(endpoint);
}
