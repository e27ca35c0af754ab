// Exact conversions between the protocol's JSON numbers (roubles, units,
// percents) and the integers the engine computes with. Money never lives in a
// float past this module: a JSON number is turned into an integer count of the
// smallest unit once, and turned back only for output.

const MILLI = 1000;

/**
 * `x` with at most `decimals` decimals as an integer count of 10^-decimals, or
 * null. Decimal fractions such as 0.1 have no exact binary form, so `x * scale`
 * lands near an integer rather than on it: the absolute bound absorbs noise from
 * client-side arithmetic (0.1 + 0.2), the relative one the representation error
 * of large values, whose spacing between doubles exceeds 1e-6 once scaled.
 */
function parseScaled(x: number, scale: number): number | null {
  if (typeof x !== "number" || !Number.isFinite(x) || x < 0) return null;
  const scaled = x * scale;
  const rounded = Math.round(scaled);
  const tolerance = Math.max(1e-6, scaled * 1e-15);
  if (Math.abs(scaled - rounded) >= tolerance) return null;
  if (!Number.isSafeInteger(rounded)) return null;
  return rounded + 0; // -0 → 0, so callers never print "-0"
}

/** Roubles (≤ 2 decimals) → integer kopecks; null if invalid or too precise. */
export function parseKopecks(x: number): number | null {
  return parseScaled(x, 100);
}

/** Quantity (≤ 3 decimals) → integer thousandths; 0 is accepted, callers decide. */
export function parseMilli(x: number): number | null {
  return parseScaled(x, MILLI);
}

/** Percent (≤ 2 decimals) → integer hundredths of a percent: 5 → 500, 2.5 → 250. */
export function parsePercentHundredths(x: number): number | null {
  return parseScaled(x, 100);
}

function assertSafeInteger(name: string, v: number): void {
  if (!Number.isSafeInteger(v)) throw new RangeError(`${name} must be a safe integer, got ${v}`);
}

/**
 * Integer kopecks → roubles as a JSON number. IEEE division is correctly
 * rounded, so k / 100 is the double nearest to the exact decimal, and while
 * doubles are finer than a kopeck (below 2^46 roubles, ~7·10^13) JSON.stringify
 * prints exactly that decimal, with at most two decimals.
 */
export function kopecksToRoubles(k: number): number {
  assertSafeInteger("kopecks", k);
  return k / 100 + 0;
}

/** Kopecks as a roubles string with exactly two decimals: 17100 → "171.00". */
export function formatRoubles(k: number): string {
  assertSafeInteger("kopecks", k);
  const sign = k < 0 ? "-" : "";
  const abs = Math.abs(k);
  const frac = abs % 100;
  return `${sign}${(abs - frac) / 100}.${frac < 10 ? "0" : ""}${frac}`;
}

// Integer division helpers. A product of two safe integers is exact in a double
// only while it stays ≤ 2^53, so they take the float path when it is safe (the
// common case, and much cheaper) and fall back to BigInt otherwise. `%` and
// division of an exact multiple are exact in IEEE arithmetic, which is why the
// float path subtracts the remainder before dividing.

function bigToSafe(b: bigint): number {
  const n = Number(b);
  if (!Number.isSafeInteger(n)) throw new RangeError(`integer result ${b} exceeds 2^53`);
  return n;
}

/** floor(a·b / c) for integers a, b ≥ 0 and c > 0. */
export function mulDivFloor(a: number, b: number, c: number): number {
  const product = a * b;
  if (Number.isSafeInteger(product)) {
    const rem = product % c;
    return (product - rem) / c;
  }
  return bigToSafe((BigInt(a) * BigInt(b)) / BigInt(c));
}

/** round(a·b / c), halves away from zero, for integers a, b ≥ 0 and c > 0. */
export function mulDivRound(a: number, b: number, c: number): number {
  const product = a * b;
  if (Number.isSafeInteger(product)) {
    const rem = product % c;
    const q = (product - rem) / c;
    return rem * 2 >= c ? q + 1 : q;
  }
  const bc = BigInt(c);
  const p = BigInt(a) * BigInt(b);
  const rem = p % bc;
  const q = p / bc;
  return bigToSafe(rem * 2n >= bc ? q + 1n : q);
}

/**
 * Price × quantity rounded to the kopeck, halves away from zero — the sum the
 * till prints for a position. price_kop × qty_milli can exceed 2^53 (100 000 ₽
 * × 100 000 units already does), hence the BigInt fallback.
 */
export function lineSumKopecks(priceKopecks: number, quantityMilli: number): number {
  assertSafeInteger("priceKopecks", priceKopecks);
  assertSafeInteger("quantityMilli", quantityMilli);
  const negative = priceKopecks < 0 !== quantityMilli < 0 && priceKopecks !== 0 && quantityMilli !== 0;
  const r = mulDivRound(Math.abs(priceKopecks), Math.abs(quantityMilli), MILLI);
  return negative ? -r : r;
}
