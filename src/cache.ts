// A small in-process cache with a lifetime per entry. Several API instances each keep
// their own copy, so lifetimes are short and writers invalidate their own copy at once.

export class TtlCache<K, V> {
  private readonly map = new Map<K, { value: V; expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get(key: K, now = Date.now()): V | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    if (hit.expires <= now) {
      this.map.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: K, value: V, ttlMs = this.ttlMs, now = Date.now()): void {
    if (ttlMs <= 0) return;
    if (this.map.size >= this.maxEntries) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, { value, expires: now + ttlMs });
  }

  deleteWhere(pred: (value: V, key: K) => boolean): void {
    for (const [k, v] of this.map) if (pred(v.value, k)) this.map.delete(k);
  }
}
