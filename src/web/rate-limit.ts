// Fixed one-minute windows per key (a client address, a card), in this process's memory.
// Meant for the public web-card endpoints: cheap enough to run before any database call.
// With several API processes each counts its own share.

const WINDOW_MS = 60_000;

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly perMinute: number,
    /** Bound on remembered keys, so a flood of distinct keys cannot grow memory. */
    private readonly maxKeys = 100_000,
  ) {}

  /** 0 when the request may go on; otherwise seconds until the key's window reopens. */
  take(key: string, now = Date.now()): number {
    let w = this.windows.get(key);
    if (!w || now - w.start >= WINDOW_MS) {
      if (!w && this.windows.size >= this.maxKeys) this.forgetOld(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    if (w.count >= this.perMinute) return Math.max(1, Math.ceil((w.start + WINDOW_MS - now) / 1000));
    w.count++;
    return 0;
  }

  private forgetOld(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= WINDOW_MS) this.windows.delete(k);
    if (this.windows.size >= this.maxKeys) this.windows.clear();
  }
}
