import postgres from "postgres";

export type Sql = postgres.Sql<{}>;
/** What a query helper needs: the pool or a transaction (both extend postgres.js's ISql). */
export type Queryable = postgres.ISql<{}>;

export interface DbOptions {
  max?: number;
  /** Name shown in pg_stat_activity, so an operator can tell the API from a worker. */
  applicationName?: string;
  /**
   * Keep one generic plan per prepared statement instead of letting Postgres re-plan.
   * For the API's interactive calls (tenant-scoped key lookups) re-planning cost more
   * than the query (search: ~0.5 ms a call). Off for workers: a generic plan made while
   * a table was still tiny would stick to a sequential scan until the next ANALYZE.
   */
  genericPlans?: boolean;
  /**
   * Server-side limits per connection: a statement running longer, or waiting longer for
   * a row lock, is cancelled (SQLSTATE 57014 / 55P03) and the caller answers 503 instead
   * of holding its connection. Interactive pools get short ones, workers longer ones.
   */
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
}

export function createSql(url: string, opts: DbOptions = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    idle_timeout: 60,
    connect_timeout: 5,
    // bigint columns (balances, ledger ids) arrive as JS numbers: every value we keep
    // stays far below 2^53, and numbers keep arithmetic on the hot path simple.
    types: {
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
    transform: { undefined: null },
    onnotice: () => {},
    connection: {
      application_name: opts.applicationName ?? "loyalty",
      ...(opts.genericPlans ? { plan_cache_mode: "force_generic_plan" } : {}),
      ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
      ...(opts.lockTimeoutMs ? { lock_timeout: opts.lockTimeoutMs } : {}),
    },
  });
}
