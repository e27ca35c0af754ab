// Metrics that several processes contribute to (workers settle, send and post points; API
// processes take sales) are kept in one Redis hash, so any API process can report the
// whole deployment's figures at /metrics and workers need no port of their own.
// Writes are fire-and-forget: a metric lost while Redis is away never fails a sale.
import type { Cluster, Redis } from "ioredis";

/** Upper bounds (seconds) of the settlement-lag histogram: sale moment → settled. */
export const LAG_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400];

export type LedgerMovementKind = "accrual" | "spend" | "refund" | "clawback" | "adjustment";

export interface LedgerMovement {
  kind: LedgerMovementKind | string;
  points: number;
}

export interface SharedSnapshot {
  ledgerEntries: Map<string, number>;
  ledgerPoints: Map<string, number>;
  /** "channel|outcome" → messages */
  messages: Map<string, number>;
  lag: { buckets: number[]; sum: number; count: number };
  smsBalanceRub: number | null;
  smsBalanceAt: number | null;
}

/** The hash's key; the hash tag keeps it in one Redis Cluster slot. */
export const sharedMetricsKey = (base: string) => `${base}:{metrics}`;

export class SharedMetrics {
  private readonly key: string;

  constructor(
    private readonly redis: Redis | Cluster,
    base: string,
  ) {
    this.key = sharedMetricsKey(base);
  }

  /** Ledger movements, summed per kind first: one round trip for a whole batch. */
  ledger(movements: LedgerMovement[]): void {
    if (movements.length === 0) return;
    const byKind = new Map<string, { entries: number; points: number }>();
    for (const e of movements) {
      const k = byKind.get(e.kind) ?? { entries: 0, points: 0 };
      k.entries++;
      k.points += e.points;
      byKind.set(e.kind, k);
    }
    const m = this.redis.multi();
    for (const [kind, k] of byKind) {
      m.hincrby(this.key, `ledger_entries|${kind}`, k.entries);
      m.hincrby(this.key, `ledger_points|${kind}`, k.points);
    }
    void m.exec().catch(() => {});
  }

  /** Message outcomes, counted per channel and outcome first. */
  messages(outcomes: { channel: string; status: string }[]): void {
    if (outcomes.length === 0) return;
    const counts = new Map<string, number>();
    for (const o of outcomes) counts.set(`messages|${o.channel}|${o.status}`, (counts.get(`messages|${o.channel}|${o.status}`) ?? 0) + 1);
    const m = this.redis.multi();
    for (const [field, n] of counts) m.hincrby(this.key, field, n);
    void m.exec().catch(() => {});
  }

  message(channel: string, outcome: string): void {
    this.messages([{ channel, status: outcome }]);
  }

  /** Seconds from each document's moment to its settlement, into the histogram in one round trip. */
  settlementLags(seconds: number[]): void {
    if (seconds.length === 0) return;
    const buckets = LAG_BUCKETS.map(() => 0);
    let sum = 0;
    for (const raw of seconds) {
      const s = Math.max(0, raw);
      sum += s;
      LAG_BUCKETS.forEach((le, i) => {
        if (s <= le) buckets[i]!++;
      });
    }
    const m = this.redis.multi();
    buckets.forEach((n, i) => {
      if (n > 0) m.hincrby(this.key, `lag_bucket|${i}`, n);
    });
    m.hincrbyfloat(this.key, "lag_sum", sum);
    m.hincrby(this.key, "lag_count", seconds.length);
    void m.exec().catch(() => {});
  }

  async smsBalance(rubles: number, at = Date.now()): Promise<void> {
    await this.redis.hset(this.key, "sms_balance_rub", String(rubles), "sms_balance_at", String(at));
  }

  async snapshot(): Promise<SharedSnapshot> {
    const h = await this.redis.hgetall(this.key);
    const snap: SharedSnapshot = {
      ledgerEntries: new Map(),
      ledgerPoints: new Map(),
      messages: new Map(),
      lag: { buckets: LAG_BUCKETS.map(() => 0), sum: Number(h.lag_sum ?? 0), count: Number(h.lag_count ?? 0) },
      smsBalanceRub: h.sms_balance_rub !== undefined ? Number(h.sms_balance_rub) : null,
      smsBalanceAt: h.sms_balance_at !== undefined ? Number(h.sms_balance_at) : null,
    };
    for (const [field, value] of Object.entries(h)) {
      const [family, a, b] = field.split("|");
      const n = Number(value);
      if (family === "ledger_entries") snap.ledgerEntries.set(a!, n);
      else if (family === "ledger_points") snap.ledgerPoints.set(a!, n);
      else if (family === "messages") snap.messages.set(`${a}|${b}`, n);
      else if (family === "lag_bucket") snap.lag.buckets[Number(a)] = n;
    }
    return snap;
  }
}
