// The overview: does the program pay off? Totals and per-day series for a period, read
// from the sales (document) and the points ledger. Days are the merchant's calendar days,
// in the time zone of their program settings.
//
// Why the day boundaries are computed here and not with Postgres's `at time zone`: the
// program reads every other local time (sales, birthdays, promotions, burning) through
// localtime.ts/moment.ts, i.e. the runtime's time zone data, and Postgres has its own.
// The two can disagree — a zone one of them does not know yet, and "+03:00", which the
// settings accept as a zone and Postgres would read the POSIX way, as UTC−3. So the
// midnights are instants from moment.ts, and Postgres only sorts rows between them
// (width_bucket over the array of midnights).
import type { Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { localTime } from "../loyalty/localtime.ts";
import { zonedToEpochMs } from "../loyalty/moment.ts";

export const MAX_PERIOD_DAYS = 366;
export const DEFAULT_PERIOD_DAYS = 30;

export interface Period {
  from: string; // YYYY-MM-DD, inclusive
  to: string; // YYYY-MM-DD, inclusive
}

export interface DayStats {
  day: string;
  receipts: number;
  memberReceipts: number;
  memberKopecks: number;
  allKopecks: number;
  pointsEarned: number;
  pointsSpent: number;
  pointsBurned: number;
  newCustomers: number;
  returningCustomers: number;
}

export interface Totals {
  receipts: number;
  memberReceipts: number;
  memberKopecks: number;
  allKopecks: number;
  /** Receipts with a known customer, percent with 1 decimal (0 when no receipts). */
  memberShare: number;
  pointsEarned: number;
  pointsSpent: number;
  pointsBurned: number;
  newCustomers: number;
  returningCustomers: number;
  /** Members' average receipt, kopecks (0 when none). */
  memberAverageKopecks: number;
}

export interface TopCustomer {
  id: string;
  name: string | null;
  phone: string | null;
  erased: boolean;
  receipts: number;
  kopecks: number;
  balance: number;
}

export interface Stats {
  period: Period;
  totals: Totals;
  days: DayStats[];
  top: TopCustomer[];
}

const DAY_MS = 86_400_000;
const isoDay = (d: Date) => d.toISOString().slice(0, 10);

function parseDay(s: string, name: string): Date {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(s) ? new Date(`${s}T00:00:00Z`) : null;
  if (!d || Number.isNaN(d.getTime()) || isoDay(d) !== s) throw errors.validation(`${name}: дата ГГГГ-ММ-ДД.`, name);
  return d;
}

/**
 * The period asked for, defaulting to the last 30 days up to today in the merchant's zone
 * (today included); a clear error otherwise.
 */
export function resolvePeriod(from: string | undefined, to: string | undefined, timeZone: string, now = new Date()): Period {
  const toDay = parseDay(to || localTime(now, timeZone).date, "to");
  const fromDay = from ? parseDay(from, "from") : new Date(toDay.getTime() - (DEFAULT_PERIOD_DAYS - 1) * DAY_MS);
  if (fromDay > toDay) throw errors.validation("Начало периода позже конца.", "from");
  if ((toDay.getTime() - fromDay.getTime()) / DAY_MS + 1 > MAX_PERIOD_DAYS) {
    throw errors.validation(`Период — не больше ${MAX_PERIOD_DAYS} дней.`, "from");
  }
  return { from: isoDay(fromDay), to: isoDay(toDay) };
}

/** The period's days and the instants where each begins in `timeZone`, plus the end of the last. */
function periodDays(period: Period, timeZone: string): { days: string[]; bounds: string[] } {
  const days: string[] = [];
  const bounds: string[] = [];
  const last = new Date(`${period.to}T00:00:00Z`).getTime() + DAY_MS;
  for (let t = new Date(`${period.from}T00:00:00Z`).getTime(); t <= last; t += DAY_MS) {
    const d = new Date(t);
    if (t < last) days.push(isoDay(d));
    bounds.push(new Date(zonedToEpochMs(timeZone, d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), 0, 0, 0)).toISOString());
  }
  return { days, bounds };
}

export async function overviewStats(sql: Sql, tenantId: string, period: Period, timeZone: string): Promise<Stats> {
  const { days: dayNames, bounds } = periodDays(period, timeZone);
  const start = bounds[0]!;
  const end = bounds[bounds.length - 1]!;
  // 1 for the first day of the period, 2 for the second… (rows outside are filtered out).
  const dayOf = (col: string) => sql`width_bucket(${sql.unsafe(col)}, ${bounds}::timestamptz[])`;
  const moment = "coalesce(moment, received_at)";

  const [sales, points, people, top] = await Promise.all([
    sql<{ day: number; receipts: number; member_receipts: number; member_kopecks: number; all_kopecks: number }[]>`
      select ${dayOf(moment)} as day, count(*)::int as receipts,
        count(*) filter (where match_status = 'matched')::int as member_receipts,
        coalesce(sum(total_kopecks) filter (where match_status = 'matched'), 0)::bigint as member_kopecks,
        coalesce(sum(total_kopecks), 0)::bigint as all_kopecks
      from document
      where tenant_id = ${tenantId} and kind = 'sale'
        and coalesce(moment, received_at) >= ${start} and coalesce(moment, received_at) < ${end}
      group by 1`,
    sql<{ day: number; earned: number; spent: number; burned: number }[]>`
      select ${dayOf("created_at")} as day,
        coalesce(sum(points) filter (where kind in ('accrual', 'welcome', 'birthday')), 0)::bigint as earned,
        coalesce(-sum(points) filter (where kind = 'spend'), 0)::bigint as spent,
        coalesce(-sum(points) filter (where kind = 'expiry'), 0)::bigint as burned
      from ledger_entry
      where tenant_id = ${tenantId} and created_at >= ${start} and created_at < ${end}
      group by 1`,
    // New: the customer's first sale ever falls on that day; returning: a sale that day
    // that is not their first.
    sql<{ day: number | null; new_customers: number; returning_customers: number }[]>`
      with sale as (
        select customer_id, coalesce(moment, received_at) as at, ${dayOf(moment)} as day from document
        where tenant_id = ${tenantId} and kind = 'sale' and match_status = 'matched'
          and coalesce(moment, received_at) >= ${start} and coalesce(moment, received_at) < ${end}
      ), first as (
        select d.customer_id, min(coalesce(d.moment, d.received_at)) as first_at from document d
        where d.tenant_id = ${tenantId} and d.kind = 'sale' and d.customer_id in (select customer_id from sale)
        group by d.customer_id
      )
      select s.day,
        count(distinct s.customer_id) filter (where s.at = f.first_at)::int as new_customers,
        count(distinct s.customer_id) filter (where s.at > f.first_at)::int as returning_customers
      from sale s join first f using (customer_id)
      group by grouping sets ((s.day), ())`,
    sql<{ id: string; name: string | null; phone: string | null; erased: boolean; receipts: number; kopecks: number; balance: number }[]>`
      select c.id, c.name, c.phone, c.erased_at is not null as erased, t.receipts, t.kopecks, c.balance
      from (
        select customer_id, count(*)::int as receipts, sum(total_kopecks)::bigint as kopecks from document
        where tenant_id = ${tenantId} and kind = 'sale' and match_status = 'matched'
          and coalesce(moment, received_at) >= ${start} and coalesce(moment, received_at) < ${end}
        group by customer_id order by 3 desc, 1 limit 10
      ) t join customer c on c.tenant_id = ${tenantId} and c.id = t.customer_id
      order by t.kopecks desc, c.id`,
  ]);

  const byDay = <T extends { day: number | null }>(rows: T[]) => new Map(rows.filter((r) => r.day !== null).map((r) => [r.day!, r]));
  const s = byDay(sales);
  const p = byDay(points);
  const c = byDay(people);
  const days: DayStats[] = dayNames.map((day, i) => {
    const sd = s.get(i + 1);
    const pd = p.get(i + 1);
    const cd = c.get(i + 1);
    return {
      day,
      receipts: sd?.receipts ?? 0,
      memberReceipts: sd?.member_receipts ?? 0,
      memberKopecks: sd?.member_kopecks ?? 0,
      allKopecks: sd?.all_kopecks ?? 0,
      pointsEarned: pd?.earned ?? 0,
      pointsSpent: pd?.spent ?? 0,
      pointsBurned: pd?.burned ?? 0,
      newCustomers: cd?.new_customers ?? 0,
      returningCustomers: cd?.returning_customers ?? 0,
    };
  });
  const sum = (k: keyof DayStats) => days.reduce((a, d) => a + (d[k] as number), 0);
  const overall = people.find((r) => r.day === null);
  const receipts = sum("receipts");
  const memberReceipts = sum("memberReceipts");
  const memberKopecks = sum("memberKopecks");
  return {
    period,
    totals: {
      receipts,
      memberReceipts,
      memberKopecks,
      allKopecks: sum("allKopecks"),
      memberShare: receipts ? Math.round((memberReceipts * 1000) / receipts) / 10 : 0,
      pointsEarned: sum("pointsEarned"),
      pointsSpent: sum("pointsSpent"),
      pointsBurned: sum("pointsBurned"),
      // Distinct over the whole period: a customer who came on two days counts once.
      newCustomers: overall?.new_customers ?? 0,
      returningCustomers: overall?.returning_customers ?? 0,
      memberAverageKopecks: memberReceipts ? Math.round(memberKopecks / memberReceipts) : 0,
    },
    days,
    top: top.map((t) => ({ ...t })),
  };
}
