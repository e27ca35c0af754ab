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

  ledger(movements: LedgerMovement[]): void {
    if (movements.length === 0) return;
    const m = this.redis.multi();
    for (const e of movements) {
      m.hincrby(this.key, `ledger_entries|${e.kind}`, 1);
      m.hincrby(this.key, `ledger_points|${e.kind}`, e.points);
    }
    void m.exec().catch(() => {});
  }

  message(channel: string, outcome: string): void {
    void this.redis.hincrby(this.key, `messages|${channel}|${outcome}`, 1).catch(() => {});
  }

  settlementLag(seconds: number): void {
    const s = Math.max(0, seconds);
    const m = this.redis.multi();
    LAG_BUCKETS.forEach((le, i) => {
      if (s <= le) m.hincrby(this.key, `lag_bucket|${i}`, 1);
    });
    m.hincrbyfloat(this.key, "lag_sum", s);
    m.hincrby(this.key, "lag_count", 1);
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
