// The bonus engine: how many points a receipt may spend and earns, and how the
// points discount is written into the receipt's positions. Pure and integer-only
// (kopecks, thousandths of a unit, hundredths of a percent) so that the till's
// own rounding can be reproduced to the kopeck.

import { formatRoubles, lineSumKopecks, mulDivFloor, mulDivRound } from "./money.ts";

export interface ProgramRules {
  /** Points per 100 roubles paid in money, in hundredths: 5% → 500. */
  earnPercentBp: number;
  /** Kopecks one point pays (1 rouble → 100), integer > 0. */
  spendRateKopecks: number;
  /** Largest share of the eligible sum payable by points, hundredths: 100% → 10000. */
  maxSpendPercentBp: number;
  earnWhileRedeeming: boolean;
  excludedAssortmentIds: ReadonlySet<string>;
  requireSpendVerification: boolean;
  /** Placeholders: {earned} {spent} {balance} {paid}. */
  receiptTemplate: string;
}

export interface ReceiptLine<S = unknown> {
  assortmentId: string;
  /** Per unit, integer ≥ 0. */
  priceKopecks: number;
  /** Thousandths of a unit, integer > 0. */
  quantityMilli: number;
  /** Opaque serial numbers, passed through and divided between split parts. */
  serials?: readonly S[];
}

export interface ReceiptInput<S = unknown> {
  lines: readonly ReceiptLine<S>[];
  /** Available points; may be negative, in which case nothing is spendable. */
  balance: number;
  transactionType: "EARNING" | "SPENDING";
  /** Points the customer asks to spend (integer ≥ 0); only used for SPENDING. */
  preferredSpend?: number | null;
  /**
   * Earn rate of each line in hundredths of a percent (levels, promotions), parallel to
   * `lines`; absent → rules.earnPercentBp on every line. Excluded goods never earn.
   */
  lineEarnPercentBp?: readonly number[] | null;
}

export interface ReceiptPart<S = unknown> {
  lineIndex: number;
  quantityMilli: number;
  /** Per unit, 0 ≤ discounted ≤ original price. */
  discountedPriceKopecks: number;
  /** round(10000 · (price − discounted) / price); 0 when the price is 0. */
  discountPercentHundredths: number;
  /** Present iff the input line had a serials array. */
  serials?: S[];
}

export interface ReceiptResult<S = unknown> {
  /** In input order; a line appears once, or as two consecutive parts when split. */
  parts: ReceiptPart<S>[];
  totalKopecks: number;
  eligibleKopecks: number;
  spend: number;
  paidByPointsKopecks: number;
  earn: number;
  balanceBefore: number;
  balanceAfter: number;
  needVerification: boolean;
  receiptText: string;
}

export const DEFAULT_RECEIPT_TEMPLATE =
  "Начислено баллов: {earned}\nСписано баллов: {spent}\nОплачено баллами: {paid} ₽\nБаланс баллов: {balance}";

const FULL_PERCENT = 10_000;
const MILLI = 1000;

// Per-line arithmetic below runs on plain doubles for speed; its largest
// intermediate is about 1000·total + quantity, so these bounds keep every value
// exact (≤ 2^53) with a wide margin. Real receipts are many orders smaller.
/** The largest receipt the engine computes (10 billion roubles); callers refuse larger ones in words. */
export const MAX_RECEIPT_KOPECKS = 1e12;
const MAX_QUANTITY_MILLI = 1e12;

// How far the distribution may move a line's share away from its proportional
// value to spare the receipt a split position. Kept to a few kopecks so the
// discount stays visibly proportional.
const MAX_SHARE_SHIFT = 5;

function isSafeInt(v: unknown): v is number {
  return Number.isSafeInteger(v);
}

function checkRules(rules: ProgramRules): void {
  if (!isSafeInt(rules.earnPercentBp) || rules.earnPercentBp < 0) {
    throw new RangeError(`earnPercentBp must be an integer ≥ 0, got ${rules.earnPercentBp}`);
  }
  if (!isSafeInt(rules.spendRateKopecks) || rules.spendRateKopecks <= 0) {
    throw new RangeError(`spendRateKopecks must be an integer > 0, got ${rules.spendRateKopecks}`);
  }
  if (!isSafeInt(rules.maxSpendPercentBp) || rules.maxSpendPercentBp < 0 || rules.maxSpendPercentBp > FULL_PERCENT) {
    throw new RangeError(`maxSpendPercentBp must be an integer in 0..10000, got ${rules.maxSpendPercentBp}`);
  }
}

/** Points spendable on a receipt whose eligible lines sum to `eligibleKopecks`. */
export function maxSpendable(rules: ProgramRules, eligibleKopecks: number, balance: number): number {
  checkRules(rules);
  if (balance <= 0 || eligibleKopecks <= 0) return 0;
  // floor(floor(x / a) / b) = floor(x / (a·b)), and avoids forming a·b.
  const capKopecks = mulDivFloor(eligibleKopecks, rules.maxSpendPercentBp, FULL_PERCENT);
  return Math.min(balance, mulDivFloor(capKopecks, 1, rules.spendRateKopecks));
}

/** Points earned on `eligibleMoneyKopecks` paid in money when `spent` points were spent. */
export function earnedPoints(rules: ProgramRules, eligibleMoneyKopecks: number, spent: number): number {
  if (spent > 0 && !rules.earnWhileRedeeming) return 0;
  if (eligibleMoneyKopecks <= 0 || rules.earnPercentBp <= 0) return 0;
  // kopecks → roubles (/100), percent (/100), hundredths of a percent (/100).
  return mulDivFloor(eligibleMoneyKopecks, rules.earnPercentBp, 1_000_000);
}

/**
 * Points earned when each line's money (after the points discount) earns at its own rate:
 * ⌊Σ money·rate / 10^6⌋, floored once over the receipt, so a receipt at one rate earns
 * exactly what earnedPoints gives for its total.
 */
export function earnedPointsOnLines(
  rules: ProgramRules,
  lines: readonly { moneyKopecks: number; earnPercentBp: number }[],
  spent: number,
): number {
  if (spent > 0 && !rules.earnWhileRedeeming) return 0;
  let weighted = 0n;
  for (const l of lines) {
    if (l.moneyKopecks <= 0 || l.earnPercentBp <= 0) continue;
    if (!isSafeInt(l.earnPercentBp)) throw new RangeError(`earnPercentBp must be an integer, got ${l.earnPercentBp}`);
    weighted += BigInt(l.moneyKopecks) * BigInt(l.earnPercentBp);
  }
  return Number(weighted / 1_000_000n);
}

export function renderReceiptText(
  template: string,
  v: { earned: number; spent: number; balance: number; paidKopecks: number },
): string {
  // One pass, so a substituted value is never scanned for placeholders again.
  return template.replace(/\{(earned|spent|balance|paid)\}/g, (_, key: string) => {
    switch (key) {
      case "earned":
        return String(v.earned);
      case "spent":
        return String(v.spent);
      case "balance":
        return String(v.balance);
      default:
        return formatRoubles(v.paidKopecks);
    }
  });
}

export function computeReceipt<S>(rules: ProgramRules, input: ReceiptInput<S>): ReceiptResult<S> {
  checkRules(rules);
  const { lines, balance, transactionType } = input;
  if (!isSafeInt(balance)) throw new RangeError(`balance must be an integer, got ${balance}`);
  const preferred = input.preferredSpend ?? null;
  if (preferred !== null && (!isSafeInt(preferred) || preferred < 0)) {
    throw new RangeError(`preferredSpend must be an integer ≥ 0, got ${preferred}`);
  }

  const n = lines.length;
  const sums = new Array<number>(n);
  const eligible = new Array<boolean>(n);
  let total = 0;
  let eligibleTotal = 0;
  for (let i = 0; i < n; i++) {
    const line = lines[i]!;
    if (!isSafeInt(line.priceKopecks) || line.priceKopecks < 0) {
      throw new RangeError(`line ${i}: priceKopecks must be an integer ≥ 0, got ${line.priceKopecks}`);
    }
    if (!isSafeInt(line.quantityMilli) || line.quantityMilli <= 0 || line.quantityMilli > MAX_QUANTITY_MILLI) {
      throw new RangeError(`line ${i}: quantityMilli must be an integer in 1..1e12, got ${line.quantityMilli}`);
    }
    const s = lineSumKopecks(line.priceKopecks, line.quantityMilli);
    sums[i] = s;
    total += s;
    if (total > MAX_RECEIPT_KOPECKS) throw new RangeError("receipt total exceeds the engine's range");
    const isEligible = !rules.excludedAssortmentIds.has(line.assortmentId);
    eligible[i] = isEligible;
    if (isEligible) eligibleTotal += s;
  }

  let spend = 0;
  if (transactionType === "SPENDING") {
    spend = maxSpendable(rules, eligibleTotal, balance);
    if (preferred !== null) spend = Math.min(spend, preferred);
  }
  const paid = spend * rules.spendRateKopecks;
  const shares = distribute(paid, sums, eligible, eligibleTotal);
  if (paid > 0) rebalance(shares, sums, eligible, lines);
  const rates = input.lineEarnPercentBp;
  const earn = rates
    ? earnedPointsOnLines(
        rules,
        lines.map((_, i) => ({ moneyKopecks: eligible[i] ? sums[i]! - shares[i]! : 0, earnPercentBp: rates[i] ?? 0 })),
        spend,
      )
    : earnedPoints(rules, eligibleTotal - paid, spend);
  const balanceAfter = balance - spend + earn;
  const parts = realise(lines, sums, shares);

  return {
    parts,
    totalKopecks: total,
    eligibleKopecks: eligibleTotal,
    spend,
    paidByPointsKopecks: paid,
    earn,
    balanceBefore: balance,
    balanceAfter,
    needVerification: spend > 0 && rules.requireSpendVerification,
    receiptText: renderReceiptText(rules.receiptTemplate, {
      earned: earn,
      spent: spend,
      balance: balanceAfter,
      paidKopecks: paid,
    }),
  };
}

/**
 * Splits `discount` over the eligible lines in proportion to their sums by the
 * largest-remainder method (ties to the lower index). A share never exceeds its
 * line's sum: floor(D·s/E) ≤ s since D ≤ E, and the +1 goes only to lines with a
 * nonzero remainder, where floor(D·s/E) < D·s/E ≤ s.
 */
function distribute(discount: number, sums: number[], eligible: boolean[], eligibleTotal: number): number[] {
  const n = sums.length;
  const shares = new Array<number>(n).fill(0);
  if (discount === 0) return shares;
  // D·s reaches 10^24 for big receipts; BigInt keeps the remainders exact. It is O(lines).
  const d = BigInt(discount);
  const e = BigInt(eligibleTotal);
  const remainders: { index: number; rem: bigint }[] = [];
  let given = 0;
  for (let i = 0; i < n; i++) {
    const s = sums[i]!;
    if (!eligible[i] || s === 0) continue;
    const product = d * BigInt(s);
    const share = Number(product / e);
    const rem = product % e;
    shares[i] = share;
    given += share;
    if (rem > 0n) remainders.push({ index: i, rem });
  }
  remainders.sort((a, b) => (a.rem > b.rem ? -1 : a.rem < b.rem ? 1 : a.index - b.index));
  // The fractional parts add up to exactly discount − given, an integer smaller
  // than the number of lines with a remainder.
  for (let k = 0; k < discount - given; k++) shares[remainders[k]!.index]! += 1;
  return shares;
}

/** ceil(a / b) for integers a ≥ 0, b > 0, exact on doubles. */
function ceilDiv(a: number, b: number): number {
  const rem = a % b;
  return (a - rem) / b + (rem > 0 ? 1 : 0);
}

/**
 * The unit price p ≥ 0 with lineSumKopecks(p, q) === t nearest to t/q, or -1 if
 * there is none. round(p·q/1000) = t  ⇔  1000t − 500 ≤ p·q < 1000t + 500, an
 * interval of width 1000/q: always hit for q ≤ one unit, maybe missed above.
 * When t is below the line's original sum every such p is below the original
 * price, since p·q < 1000t + 500 ≤ 1000·sum − 500 ≤ price·q.
 */
function exactUnitPrice(t: number, q: number): number {
  if (t === 0) return 0;
  const lo = ceilDiv(MILLI * t - 500, q);
  const hi = ceilDiv(MILLI * t + 500, q) - 1;
  if (lo > hi) return -1;
  const ideal = mulDivRound(t, MILLI, q);
  return Math.min(hi, Math.max(lo, ideal));
}

/** The largest unit price whose line sum falls short of t (t ≥ 1). */
function priceBelow(t: number, q: number): number {
  return ceilDiv(MILLI * t - 500, q) - 1;
}

/**
 * Moves a few kopecks of discount between lines where that lets a line that
 * would otherwise need a split take one exact price, without costing the other
 * line its own exact price. Each accepted move removes at least one split.
 * The candidate moves for line i are exactly the two nearest reachable sums on
 * either side of its target, so no search over amounts is needed.
 */
function rebalance<S>(
  shares: number[],
  sums: number[],
  eligible: boolean[],
  lines: readonly ReceiptLine<S>[],
): void {
  const n = lines.length;
  for (let i = 0; i < n; i++) {
    const share = shares[i]!;
    if (share === 0) continue;
    const q = lines[i]!.quantityMilli;
    const t = sums[i]! - share;
    if (exactUnitPrice(t, q) >= 0) continue;

    const p = priceBelow(t, q);
    // delta > 0: line i takes delta more discount and the partner delta less; < 0: the reverse.
    // lineSum(p+1, q) ≤ the line's sum because p+1 ≤ price (the target is below the sum).
    const moreOff = t - lineSumKopecks(p, q);
    const lessOff = t - lineSumKopecks(p + 1, q);
    const deltas = -lessOff < moreOff ? [lessOff, moreOff] : [moreOff, lessOff];

    moves: for (const delta of deltas) {
      if (Math.abs(delta) > MAX_SHARE_SHIFT) continue;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const sj = sums[j]!;
        // Excluded lines never carry discount, and a zero-sum line has none to give.
        if (sj === 0 || !eligible[j]) continue;
        const tj = sj - shares[j]! + delta;
        if (tj < 0 || tj > sj) continue;
        if (tj !== sj && exactUnitPrice(tj, lines[j]!.quantityMilli) < 0) continue;
        shares[i] = share + delta;
        shares[j] = shares[j]! - delta;
        break moves;
      }
    }
  }
}

function percentOff(price: number, discounted: number): number {
  if (price === 0) return 0;
  const pct = mulDivRound(price - discounted, FULL_PERCENT, price);
  return Math.min(FULL_PERCENT, Math.max(0, pct));
}

/**
 * Turns each line's target sum into per-unit prices. One exact price when one
 * exists; otherwise two consecutive parts at adjacent prices p+1 and p, with
 * the p+1 part's quantity chosen so that the unrounded sums add up to exactly
 * the target (see splitLine).
 */
function realise<S>(lines: readonly ReceiptLine<S>[], sums: number[], shares: number[]): ReceiptPart<S>[] {
  const parts: ReceiptPart<S>[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const price = line.priceKopecks;
    const q = line.quantityMilli;
    const share = shares[i]!;
    const t = sums[i]! - share;
    const exact = share === 0 ? price : exactUnitPrice(t, q);
    if (exact >= 0) {
      const part: ReceiptPart<S> = {
        lineIndex: i,
        quantityMilli: q,
        discountedPriceKopecks: exact,
        discountPercentHundredths: percentOff(price, exact),
      };
      if (line.serials !== undefined) part.serials = line.serials.slice();
      parts.push(part);
      continue;
    }
    const { qHigh, pLow } = splitLine(t, q);
    const high: ReceiptPart<S> = {
      lineIndex: i,
      quantityMilli: qHigh,
      discountedPriceKopecks: pLow + 1,
      discountPercentHundredths: percentOff(price, pLow + 1),
    };
    const low: ReceiptPart<S> = {
      lineIndex: i,
      quantityMilli: q - qHigh,
      discountedPriceKopecks: pLow,
      discountPercentHundredths: percentOff(price, pLow),
    };
    if (line.serials !== undefined) {
      // For whole units qHigh is a whole number of units, so with one serial per
      // unit each part carries exactly as many serials as units.
      const cut = Math.min(line.serials.length, Math.floor(qHigh / MILLI));
      high.serials = line.serials.slice(0, cut);
      low.serials = line.serials.slice(cut);
    }
    parts.push(high, low);
  }
  return parts;
}

/**
 * Splits a line of quantity q (no single price hits t) into qHigh at pLow+1 and
 * q − qHigh at pLow, where pLow is the largest price whose sum falls short of t.
 *
 * With qHigh = 1000t − pLow·q the unrounded part sums add up to exactly t, and
 * the bracketing of t gives 500 < qHigh ≤ q − 500, so both parts are nonempty.
 * Two reals summing to an integer round (half away from zero) to that integer
 * unless both fractional parts are exactly one half; then taking one thousandth
 * off qHigh makes the fractional parts sum to 0.999 (one rounds up, one down)
 * and the total is t again. For whole-unit lines this reduces to the familiar
 * "t mod n units at ⌊t/n⌋+1, the rest at ⌊t/n⌋".
 */
function splitLine(t: number, q: number): { qHigh: number; pLow: number } {
  const pLow = priceBelow(t, q);
  let qHigh = MILLI * t - pLow * q;
  if (((pLow + 1) * qHigh) % MILLI === 500) qHigh -= 1;
  const got = lineSumKopecks(pLow + 1, qHigh) + lineSumKopecks(pLow, q - qHigh);
  if (got !== t || qHigh <= 0 || qHigh >= q) {
    // Unreachable by the argument above; fail loudly rather than misprice a receipt.
    throw new Error(`engine invariant broken: split of ${t} over ${q} gives ${got}`);
  }
  return { qHigh, pLow };
}

/**
 * How much of what a sale moved goes back after returns worth `returnedSoFar` of its
 * `saleBase` money: proportional, floored, and exact once everything came back — so
 * partial returns add up and never exceed the sale, whatever the rounding of each part.
 */
export function returnedShare(moved: number, returnedSoFar: number, saleBase: number): number {
  if (saleBase <= 0 || moved <= 0) return 0;
  if (returnedSoFar >= saleBase) return moved;
  return Number((BigInt(moved) * BigInt(returnedSoFar)) / BigInt(saleBase));
}
