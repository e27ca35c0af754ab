import { describe, expect, test } from "./support/test.ts";
import fc from "fast-check";
import {
  computeReceipt,
  DEFAULT_RECEIPT_TEMPLATE,
  earnedPoints,
  maxSpendable,
  type ProgramRules,
  type ReceiptInput,
  type ReceiptLine,
  type ReceiptResult,
  renderReceiptText,
} from "../src/loyalty/engine.ts";
import { lineSumKopecks } from "../src/loyalty/money.ts";

// ---------------------------------------------------------------- helpers

function rules(over: Partial<ProgramRules> = {}): ProgramRules {
  return {
    earnPercentBp: 500,
    spendRateKopecks: 100,
    maxSpendPercentBp: 10000,
    earnWhileRedeeming: false,
    excludedAssortmentIds: new Set<string>(),
    requireSpendVerification: false,
    receiptTemplate: DEFAULT_RECEIPT_TEMPLATE,
    ...over,
  };
}

function line<S = unknown>(price: number, qty: number, id = "a", serials?: S[]): ReceiptLine<S> {
  return serials === undefined
    ? { assortmentId: id, priceKopecks: price, quantityMilli: qty }
    : { assortmentId: id, priceKopecks: price, quantityMilli: qty, serials };
}

function spending<S>(lines: ReceiptLine<S>[], balance: number, preferredSpend?: number | null): ReceiptInput<S> {
  return { lines, balance, transactionType: "SPENDING", preferredSpend };
}

// Rules under which exactly `discount` kopecks come off: 1 point = 1 kopeck, no cap.
const KOPECK_RULES = rules({ spendRateKopecks: 1, earnPercentBp: 0 });
function withDiscount<S>(lines: ReceiptLine<S>[], discount: number): ReceiptResult<S> {
  return computeReceipt(KOPECK_RULES, spending(lines, discount, discount));
}

function partsSum(res: ReceiptResult<unknown>): number {
  return res.parts.reduce((acc, p) => acc + lineSumKopecks(p.discountedPriceKopecks, p.quantityMilli), 0);
}

function brief(res: ReceiptResult<unknown>): [number, number, number][] {
  return res.parts.map((p) => [p.lineIndex, p.quantityMilli, p.discountedPriceKopecks]);
}

/** Every unit price whose sum could equal t: hits lie within 500/q of 1000t/q. */
function singlePriceHits(t: number, q: number): boolean {
  const ideal = Math.floor((t * 1000) / q);
  for (let p = Math.max(0, ideal - 2); p <= ideal + 2; p++) if (lineSumKopecks(p, q) === t) return true;
  return false;
}

/** The spec's formulas, in BigInt, independent of the engine's helpers. */
function reference(r: ProgramRules, input: ReceiptInput<unknown>) {
  let total = 0;
  let eligible = 0;
  for (const l of input.lines) {
    const s = lineSumKopecks(l.priceKopecks, l.quantityMilli);
    total += s;
    if (!r.excludedAssortmentIds.has(l.assortmentId)) eligible += s;
  }
  let spend = 0;
  if (input.transactionType === "SPENDING") {
    const cap = (BigInt(eligible) * BigInt(r.maxSpendPercentBp)) / (10000n * BigInt(r.spendRateKopecks));
    spend = Math.min(Math.max(input.balance, 0), Number(cap));
    if (input.preferredSpend != null) spend = Math.min(spend, input.preferredSpend);
    spend = Math.max(spend, 0);
  }
  const paid = spend * r.spendRateKopecks;
  const earn =
    spend > 0 && !r.earnWhileRedeeming
      ? 0
      : Number((BigInt(eligible - paid) * BigInt(r.earnPercentBp)) / 1_000_000n);
  return { total, eligible, spend, paid, earn };
}

/** Every invariant the engine promises, checked against the spec rather than the code. */
function checkReceipt<S>(r: ProgramRules, input: ReceiptInput<S>, res: ReceiptResult<S>): void {
  const ref = reference(r, input as ReceiptInput<unknown>);
  expect(res.totalKopecks).toBe(ref.total);
  expect(res.eligibleKopecks).toBe(ref.eligible);
  expect(res.spend).toBe(ref.spend);
  expect(res.paidByPointsKopecks).toBe(ref.paid);
  expect(res.earn).toBe(ref.earn);
  expect(res.spend).toBeGreaterThanOrEqual(0);
  expect(res.spend).toBeLessThanOrEqual(Math.max(input.balance, 0));
  if (input.preferredSpend != null) expect(res.spend).toBeLessThanOrEqual(input.preferredSpend);
  expect(res.paidByPointsKopecks).toBeLessThanOrEqual(res.eligibleKopecks);
  expect(res.balanceBefore).toBe(input.balance);
  expect(res.balanceAfter).toBe(input.balance - res.spend + res.earn);
  expect(res.needVerification).toBe(res.spend > 0 && r.requireSpendVerification);

  // The till will charge exactly T − D.
  expect(partsSum(res as ReceiptResult<unknown>)).toBe(res.totalKopecks - res.paidByPointsKopecks);

  // Parts: input order, each line once or twice (consecutively), quantities add up.
  let k = 0;
  for (let i = 0; i < input.lines.length; i++) {
    const l = input.lines[i]!;
    const mine: typeof res.parts = [];
    while (k < res.parts.length && res.parts[k]!.lineIndex === i) mine.push(res.parts[k++]!);
    expect(mine.length).toBeGreaterThanOrEqual(1);
    expect(mine.length).toBeLessThanOrEqual(2);
    expect(mine.reduce((a, p) => a + p.quantityMilli, 0)).toBe(l.quantityMilli);

    let lineSum = 0;
    for (const p of mine) {
      expect(p.quantityMilli).toBeGreaterThan(0);
      expect(Number.isSafeInteger(p.discountedPriceKopecks)).toBe(true);
      expect(p.discountedPriceKopecks).toBeGreaterThanOrEqual(0);
      expect(p.discountedPriceKopecks).toBeLessThanOrEqual(l.priceKopecks);
      expect(p.discountPercentHundredths).toBeGreaterThanOrEqual(0);
      expect(p.discountPercentHundredths).toBeLessThanOrEqual(10000);
      const expectedPct =
        l.priceKopecks === 0
          ? 0
          : Math.round((10000 * (l.priceKopecks - p.discountedPriceKopecks)) / l.priceKopecks);
      expect(p.discountPercentHundredths).toBe(expectedPct);
      lineSum += lineSumKopecks(p.discountedPriceKopecks, p.quantityMilli);
    }
    const original = lineSumKopecks(l.priceKopecks, l.quantityMilli);
    expect(lineSum).toBeLessThanOrEqual(original);
    if (r.excludedAssortmentIds.has(l.assortmentId) || res.paidByPointsKopecks === 0) {
      expect(mine.length).toBe(1);
      expect(mine[0]!.discountedPriceKopecks).toBe(l.priceKopecks);
    }
    // A line is split only when no single price reaches its final sum.
    if (mine.length === 2) expect(singlePriceHits(lineSum, l.quantityMilli)).toBe(false);

    if (l.serials === undefined) {
      for (const p of mine) expect(p.serials).toBeUndefined();
    } else {
      const joined = mine.flatMap((p) => p.serials ?? expect.unreachable("serials dropped"));
      expect(joined.length).toBe(l.serials.length);
      joined.forEach((s, idx) => expect(s).toBe(l.serials![idx]!));
      if (l.serials.length * 1000 === l.quantityMilli) {
        for (const p of mine) expect(p.quantityMilli).toBe(p.serials!.length * 1000);
      }
    }
  }
  expect(k).toBe(res.parts.length);
}

// ---------------------------------------------------------------- examples

describe("computeReceipt examples", () => {
  test("seed: 250.00 × 1, balance 171, spend everything", () => {
    const r = rules();
    const input = spending([line(25000, 1000)], 171);
    const res = computeReceipt(r, input);
    expect(res.spend).toBe(171);
    expect(res.paidByPointsKopecks).toBe(17100);
    expect(res.parts).toEqual([
      { lineIndex: 0, quantityMilli: 1000, discountedPriceKopecks: 7900, discountPercentHundredths: 6840 },
    ]);
    expect(partsSum(res)).toBe(7900);
    expect(res.earn).toBe(0);
    expect(res.balanceAfter).toBe(0);
    expect(res.totalKopecks).toBe(25000);
    expect(res.eligibleKopecks).toBe(25000);
    expect(res.needVerification).toBe(false);
    expect(res.receiptText).toBe(
      "Начислено баллов: 0\nСписано баллов: 171\nОплачено баллами: 171.00 ₽\nБаланс баллов: 0",
    );
    checkReceipt(r, input, res);
  });

  test("EARNING earns the floor and never discounts", () => {
    const r = rules();
    const input: ReceiptInput = { lines: [line(99999, 1000)], balance: 500, transactionType: "EARNING", preferredSpend: 100 };
    const res = computeReceipt(r, input);
    expect(res.spend).toBe(0);
    expect(res.earn).toBe(49); // 999.99 ₽ × 5% = 49.9995
    expect(res.balanceAfter).toBe(549);
    expect(res.parts[0]!.discountedPriceKopecks).toBe(99999);
    checkReceipt(r, input, res);
  });

  test("earn percent with hundredths: 2.5% of 123.45 ₽", () => {
    const res = computeReceipt(rules({ earnPercentBp: 250 }), {
      lines: [line(12345, 1000)],
      balance: 0,
      transactionType: "EARNING",
    });
    expect(res.earn).toBe(3); // 3.08625
  });

  test("maxSpendPercent caps the spend", () => {
    const r = rules({ maxSpendPercentBp: 5000 });
    const res = computeReceipt(r, spending([line(25000, 1000)], 1000));
    expect(res.spend).toBe(125);
    expect(res.parts[0]!.discountedPriceKopecks).toBe(12500);
    expect(res.parts[0]!.discountPercentHundredths).toBe(5000);
    const res2 = computeReceipt(rules({ maxSpendPercentBp: 3333 }), spending([line(25000, 1000)], 1000));
    expect(res2.spend).toBe(83); // 83.325 points
    expect(res2.paidByPointsKopecks).toBe(8300);
  });

  test("spend rate of half a rouble", () => {
    const r = rules({ spendRateKopecks: 50 });
    const small = computeReceipt(r, spending([line(25000, 1000)], 171));
    expect(small.spend).toBe(171);
    expect(small.paidByPointsKopecks).toBe(8550);
    expect(small.parts[0]!.discountedPriceKopecks).toBe(16450);
    const big = computeReceipt(r, spending([line(25000, 1000)], 1000));
    expect(big.spend).toBe(500);
    expect(big.parts[0]!.discountedPriceKopecks).toBe(0);
    expect(big.parts[0]!.discountPercentHundredths).toBe(10000);
  });

  test("spend rate of two roubles", () => {
    const r = rules({ spendRateKopecks: 200 });
    const res = computeReceipt(r, spending([line(25001, 1000)], 171));
    expect(res.spend).toBe(125); // 250.01 ₽ / 2 ₽
    expect(res.paidByPointsKopecks).toBe(25000);
    expect(res.parts[0]!.discountedPriceKopecks).toBe(1);
    const capped = computeReceipt(rules({ spendRateKopecks: 200, maxSpendPercentBp: 3000 }), spending([line(25000, 1000)], 171));
    expect(capped.spend).toBe(37); // 75.00 ₽ / 2 ₽ = 37.5
    expect(capped.paidByPointsKopecks).toBe(7400);
  });

  test("preferredSpend below the maximum is honoured", () => {
    const res = computeReceipt(rules(), spending([line(25000, 1000)], 171, 100));
    expect(res.spend).toBe(100);
    expect(res.parts[0]!.discountedPriceKopecks).toBe(15000);
    expect(res.balanceAfter).toBe(71);
  });

  test("preferredSpend above the maximum is capped", () => {
    const res = computeReceipt(rules(), spending([line(25000, 1000)], 171, 1000));
    expect(res.spend).toBe(171);
  });

  test("preferredSpend 0 spends nothing and earns", () => {
    const r = rules({ requireSpendVerification: true });
    const res = computeReceipt(r, spending([line(25000, 1000)], 171, 0));
    expect(res.spend).toBe(0);
    expect(res.earn).toBe(12);
    expect(res.balanceAfter).toBe(183);
    expect(res.needVerification).toBe(false);
    expect(res.parts[0]!.discountedPriceKopecks).toBe(25000);
  });

  test("preferredSpend null means as much as allowed", () => {
    expect(computeReceipt(rules(), spending([line(25000, 1000)], 171, null)).spend).toBe(171);
  });

  test("negative balance spends nothing", () => {
    const res = computeReceipt(rules(), spending([line(25000, 1000)], -40, 10));
    expect(res.spend).toBe(0);
    expect(res.earn).toBe(12);
    expect(res.balanceAfter).toBe(-28);
    expect(maxSpendable(rules(), 25000, -40)).toBe(0);
  });

  test("excluded assortment neither earns nor gets discount", () => {
    const r = rules({ excludedAssortmentIds: new Set(["tobacco"]) });
    const lines = [line(10000, 1000, "tobacco"), line(20000, 1000, "bread")];
    const earning = computeReceipt(r, { lines, balance: 0, transactionType: "EARNING" });
    expect(earning.totalKopecks).toBe(30000);
    expect(earning.eligibleKopecks).toBe(20000);
    expect(earning.earn).toBe(10);
    const input = spending(lines, 1000);
    const res = computeReceipt(r, input);
    expect(res.spend).toBe(200);
    expect(brief(res)).toEqual([
      [0, 1000, 10000],
      [1, 1000, 0],
    ]);
    expect(res.parts[0]!.discountPercentHundredths).toBe(0);
    checkReceipt(r, input, res);
  });

  test("earnWhileRedeeming earns on the money part", () => {
    const r = rules({ earnWhileRedeeming: true });
    const res = computeReceipt(r, spending([line(25000, 1000)], 100));
    expect(res.spend).toBe(100);
    expect(res.earn).toBe(7); // 150 ₽ × 5% = 7.5
    expect(res.balanceAfter).toBe(7);
    const none = computeReceipt(rules(), spending([line(25000, 1000)], 100));
    expect(none.earn).toBe(0);
  });

  test("requireSpendVerification flags spending receipts", () => {
    const r = rules({ requireSpendVerification: true });
    expect(computeReceipt(r, spending([line(25000, 1000)], 10)).needVerification).toBe(true);
    expect(computeReceipt(r, { lines: [line(25000, 1000)], balance: 10, transactionType: "EARNING" }).needVerification).toBe(false);
  });

  test("discount is spread in proportion to line sums", () => {
    const res = withDiscount([line(10000, 1000), line(30000, 1000)], 10000);
    expect(brief(res)).toEqual([
      [0, 1000, 7500],
      [1, 1000, 22500],
    ]);
  });

  test("largest remainder breaks ties by line index", () => {
    const lines = Array.from({ length: 10 }, () => line(1, 1000));
    const res = withDiscount(lines, 5);
    expect(res.parts.map((p) => p.discountedPriceKopecks)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  });

  test("3 × 10.00 with 1.00 off splits into 2 × 9.67 and 1 × 9.66", () => {
    const input = spending([line(1000, 3000)], 100, 100);
    const res = computeReceipt(KOPECK_RULES, input);
    expect(brief(res)).toEqual([
      [0, 2000, 967],
      [0, 1000, 966],
    ]);
    expect(partsSum(res)).toBe(2900);
    expect(res.parts.map((p) => p.discountPercentHundredths)).toEqual([330, 340]);
    checkReceipt(KOPECK_RULES, input, res);
  });

  test("a kopeck moves to a neighbour line instead of splitting", () => {
    // Proportionally 0.86 ₽ and 0.14 ₽; 29.14 ₽ over 3 units would need a split,
    // 29.13 ₽ and 4.87 ₽ need none.
    const input = spending([line(1000, 3000), line(500, 1000)], 100, 100);
    const res = computeReceipt(KOPECK_RULES, input);
    expect(brief(res)).toEqual([
      [0, 3000, 971],
      [1, 1000, 487],
    ]);
    checkReceipt(KOPECK_RULES, input, res);
  });

  test("serials are divided in order and match the part quantities", () => {
    const serials = ["s1", "s2", "s3", "s4", "s5"].map((code) => ({ code }));
    const input = spending([line(1000, 5000, "a", serials)], 203, 203);
    const res = computeReceipt(KOPECK_RULES, input);
    expect(brief(res)).toEqual([
      [0, 2000, 960],
      [0, 3000, 959],
    ]);
    expect(res.parts[0]!.serials).toEqual([serials[0]!, serials[1]!]);
    expect(res.parts[1]!.serials).toEqual([serials[2]!, serials[3]!, serials[4]!]);
    expect(res.parts[0]!.serials![0]).toBe(serials[0]!); // same objects, not copies
    checkReceipt(KOPECK_RULES, input, res);
  });

  test("unsplit lines keep their serials; empty serials stay empty", () => {
    const res = withDiscount([line(1000, 2000, "a", ["x", "y"]), line(500, 1000, "b", [])], 100);
    checkReceipt(KOPECK_RULES, spending([line(1000, 2000, "a", ["x", "y"]), line(500, 1000, "b", [])], 100, 100), res);
    expect(res.parts.length).toBe(2);
    expect(res.parts[0]!.serials).toEqual(["x", "y"]);
    expect(res.parts[1]!.serials).toEqual([]);
    const plain = withDiscount([line(1000, 1000)], 1);
    expect("serials" in plain.parts[0]!).toBe(false);
  });

  test("serials fewer than units are still kept in order", () => {
    const input = spending([line(1000, 3000, "a", ["x", "y"])], 100, 100);
    const res = computeReceipt(KOPECK_RULES, input);
    expect(res.parts.length).toBe(2);
    expect(res.parts.flatMap((p) => p.serials!)).toEqual(["x", "y"]);
    checkReceipt(KOPECK_RULES, input, res);
  });

  test("1.234 kg gets one exact price", () => {
    const input = spending([line(9999, 1234)], 1000, 1000);
    const res = computeReceipt(KOPECK_RULES, input);
    expect(res.totalKopecks).toBe(12339); // 12338.766
    expect(brief(res)).toEqual([[0, 1234, 9189]]); // 11339.226 → 11339
    checkReceipt(KOPECK_RULES, input, res);
  });

  test("half a unit always gets one exact price", () => {
    for (let d = 0; d <= 50; d++) {
      const input = spending([line(10001, 500)], d, d); // 50.005 → 50.01 ₽
      const res = computeReceipt(KOPECK_RULES, input);
      expect(res.parts.length).toBe(1);
      checkReceipt(KOPECK_RULES, input, res);
    }
  });

  test("2.5 units with no exact price split at adjacent prices", () => {
    // 1.00 ₽ × 2.5 = 2.50 ₽; 2.49 ₽ is unreachable by one price (2.48 / 2.50).
    const input = spending([line(100, 2500)], 1, 1);
    const res = computeReceipt(KOPECK_RULES, input);
    expect(brief(res)).toEqual([
      [0, 1500, 100],
      [0, 1000, 99],
    ]);
    expect(partsSum(res)).toBe(249);
    checkReceipt(KOPECK_RULES, input, res);
  });

  test("split whose part sums would both end in exactly .5 shifts one thousandth", () => {
    // 0.21 ₽ × 1.025 = 0.21525 → 22 kopecks; target 20. 0.525 × 0.20 = 10.5 and
    // 0.500 × 0.19 = 9.5 would round to 21, so the engine uses 0.524 / 0.501.
    const input = spending([line(21, 1025)], 2, 2);
    const res = computeReceipt(KOPECK_RULES, input);
    expect(brief(res)).toEqual([
      [0, 524, 20],
      [0, 501, 19],
    ]);
    expect(partsSum(res)).toBe(20);
    checkReceipt(KOPECK_RULES, input, res);
  });

  test("0.01 ₽ lines", () => {
    const input = spending([line(1, 1000), line(1, 3000), line(1, 500), line(1, 499)], 5, 5);
    const res = computeReceipt(KOPECK_RULES, input);
    expect(res.totalKopecks).toBe(5); // 1 + 3 + 1 + 0
    expect(partsSum(res)).toBe(0);
    checkReceipt(KOPECK_RULES, input, res);
  });

  test("zero-price line is left alone", () => {
    const input = spending([line(0, 2000), line(10000, 1000)], 5000, 5000);
    const res = computeReceipt(KOPECK_RULES, input);
    expect(brief(res)).toEqual([
      [0, 2000, 0],
      [1, 1000, 5000],
    ]);
    expect(res.parts[0]!.discountPercentHundredths).toBe(0);
    checkReceipt(KOPECK_RULES, input, res);
  });

  test("all lines excluded: nothing spent, nothing earned", () => {
    const r = rules({ excludedAssortmentIds: new Set(["a", "b"]), earnWhileRedeeming: true });
    const input = spending([line(10000, 1000, "a"), line(5000, 2000, "b")], 1000);
    const res = computeReceipt(r, input);
    expect(res.eligibleKopecks).toBe(0);
    expect(res.spend).toBe(0);
    expect(res.earn).toBe(0);
    expect(res.balanceAfter).toBe(1000);
    expect(brief(res)).toEqual([
      [0, 1000, 10000],
      [1, 2000, 5000],
    ]);
    checkReceipt(r, input, res);
  });

  test("empty receipt", () => {
    const res = computeReceipt(rules(), spending([], 100));
    expect(res.parts).toEqual([]);
    expect(res.totalKopecks).toBe(0);
    expect(res.spend).toBe(0);
  });

  test("invalid input is refused, not guessed at", () => {
    expect(() => computeReceipt(rules({ spendRateKopecks: 0 }), spending([line(100, 1000)], 1))).toThrow(RangeError);
    expect(() => computeReceipt(rules({ maxSpendPercentBp: 10001 }), spending([line(100, 1000)], 1))).toThrow(RangeError);
    expect(() => computeReceipt(rules({ earnPercentBp: -1 }), spending([line(100, 1000)], 1))).toThrow(RangeError);
    expect(() => computeReceipt(rules(), spending([line(100, 0)], 1))).toThrow(RangeError);
    expect(() => computeReceipt(rules(), spending([line(-1, 1000)], 1))).toThrow(RangeError);
    expect(() => computeReceipt(rules(), spending([line(1.5, 1000)], 1))).toThrow(RangeError);
    expect(() => computeReceipt(rules(), spending([line(100, 1000)], 1.5))).toThrow(RangeError);
    expect(() => computeReceipt(rules(), spending([line(100, 1000)], 1, -1))).toThrow(RangeError);
    expect(() => computeReceipt(rules(), spending([line(10 ** 10, 10 ** 6)], 1))).toThrow(RangeError);
  });
});

describe("helpers", () => {
  test("maxSpendable", () => {
    expect(maxSpendable(rules(), 25000, 171)).toBe(171);
    expect(maxSpendable(rules(), 25000, 1000)).toBe(250);
    expect(maxSpendable(rules(), 25099, 1000)).toBe(250);
    expect(maxSpendable(rules({ maxSpendPercentBp: 0 }), 25000, 1000)).toBe(0);
    expect(maxSpendable(rules(), 0, 1000)).toBe(0);
    expect(maxSpendable(rules(), 25000, 0)).toBe(0);
    // E × percent exceeds 2^53 here.
    expect(maxSpendable(rules({ spendRateKopecks: 1, maxSpendPercentBp: 9999 }), 999_999_999_999, 10 ** 15)).toBe(
      999_899_999_999,
    );
  });

  test("earnedPoints", () => {
    expect(earnedPoints(rules(), 25000, 0)).toBe(12);
    expect(earnedPoints(rules(), 25000, 1)).toBe(0);
    expect(earnedPoints(rules({ earnWhileRedeeming: true }), 25000, 1)).toBe(12);
    expect(earnedPoints(rules(), 1999, 0)).toBe(0);
    expect(earnedPoints(rules(), 2000, 0)).toBe(1);
    expect(earnedPoints(rules({ earnPercentBp: 10000 }), 10 ** 12, 0)).toBe(10 ** 10);
  });

  test("renderReceiptText", () => {
    const v = { earned: 5, spent: 171, balance: 42, paidKopecks: 17105 };
    expect(renderReceiptText("{earned}/{spent}/{balance}/{paid}/{paid}", v)).toBe("5/171/42/171.05/171.05");
    expect(renderReceiptText("{unknown} {EARNED} {earned", v)).toBe("{unknown} {EARNED} {earned");
    expect(renderReceiptText("", v)).toBe("");
    expect(DEFAULT_RECEIPT_TEMPLATE).toContain("\n");
    expect(renderReceiptText(DEFAULT_RECEIPT_TEMPLATE, v)).toBe(
      "Начислено баллов: 5\nСписано баллов: 171\nОплачено баллами: 171.05 ₽\nБаланс баллов: 42",
    );
  });
});

// ---------------------------------------------------------------- exhaustive

describe("every target on a grid of awkward quantities", () => {
  test("each reachable sum is hit exactly, with a split only where one price cannot", () => {
    let splits = 0;
    for (const q of [1001, 1025, 1234, 1500, 2500, 2999, 3000, 7001, 12345]) {
      for (let price = 1; price <= 40; price++) {
        const s = lineSumKopecks(price, q);
        for (let d = 0; d <= s; d++) {
          const input = spending([line(price, q)], d, d);
          const res = computeReceipt(KOPECK_RULES, input);
          expect(partsSum(res)).toBe(s - d);
          const hit = singlePriceHits(s - d, q);
          expect(res.parts.length).toBe(hit || d === 0 ? 1 : 2);
          if (res.parts.length === 2) {
            splits++;
            for (const p of res.parts) {
              expect(p.quantityMilli).toBeGreaterThan(0);
              expect(p.discountedPriceKopecks).toBeLessThanOrEqual(price);
            }
          }
        }
      }
    }
    expect(splits).toBeGreaterThan(1000);
  });
});

// ---------------------------------------------------------------- properties

const IDS = ["a", "b", "c", "d", "e", "f"] as const;

const quantityArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 20 }).map((n) => n * 1000) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 1000 }).map((n) => n * 1000) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 5000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 1_000_000 }) },
);

const priceArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 10_000_000 }) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 500 }) },
  { weight: 1, arbitrary: fc.constant(0) },
);

type Serial = { code: string };

const lineArb: fc.Arbitrary<ReceiptLine<Serial>> = fc
  .record({
    assortmentId: fc.constantFrom(...IDS),
    priceKopecks: priceArb,
    quantityMilli: quantityArb,
    withSerials: fc.boolean(),
  })
  .map(({ withSerials, ...l }) => {
    const units = l.quantityMilli / 1000;
    if (!withSerials || !Number.isInteger(units) || units > 10) return l;
    return { ...l, serials: Array.from({ length: units }, (_, i) => ({ code: `${l.assortmentId}-${i}` })) };
  });

const rulesArb: fc.Arbitrary<ProgramRules> = fc.record({
  earnPercentBp: fc.integer({ min: 0, max: 10000 }),
  spendRateKopecks: fc.oneof(fc.constantFrom(1, 50, 100, 200), fc.integer({ min: 1, max: 10000 })),
  maxSpendPercentBp: fc.oneof(fc.constant(10000), fc.integer({ min: 0, max: 10000 })),
  earnWhileRedeeming: fc.boolean(),
  excludedAssortmentIds: fc.subarray([...IDS], { maxLength: 3 }).map((ids) => new Set<string>(ids)),
  requireSpendVerification: fc.boolean(),
  receiptTemplate: fc.constantFrom(DEFAULT_RECEIPT_TEMPLATE, "{paid}|{spent}|{earned}|{balance}"),
});

const inputArb: fc.Arbitrary<ReceiptInput<Serial>> = fc.record({
  lines: fc.array(lineArb, { minLength: 1, maxLength: 30 }),
  balance: fc.oneof(
    fc.integer({ min: -10_000, max: 0 }),
    fc.integer({ min: 0, max: 10_000 }),
    fc.integer({ min: 0, max: 10 ** 10 }),
  ),
  transactionType: fc.constantFrom("SPENDING" as const, "SPENDING" as const, "EARNING" as const),
  preferredSpend: fc.option(fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 10 ** 10 })), {
    nil: undefined,
  }),
});

describe("properties", () => {
  test("random receipts keep every invariant", () => {
    fc.assert(
      fc.property(rulesArb, inputArb, (r, input) => {
        const res = computeReceipt(r, input);
        checkReceipt(r, input, res);
        expect(res.receiptText).toContain(String(res.spend));
      }),
      { numRuns: 1500 },
    );
  });

  test("discount stays close to proportional", () => {
    fc.assert(
      fc.property(inputArb, fc.integer({ min: 0, max: 10000 }), (input, pct) => {
        const lines = input.lines;
        const total = lines.reduce((a, l) => a + lineSumKopecks(l.priceKopecks, l.quantityMilli), 0);
        const discount = Math.floor((total * pct) / 10000);
        const res = withDiscount([...lines], discount);
        expect(partsSum(res)).toBe(total - discount);
        lines.forEach((l, i) => {
          const s = lineSumKopecks(l.priceKopecks, l.quantityMilli);
          const got = s - res.parts.filter((p) => p.lineIndex === i).reduce(
            (a, p) => a + lineSumKopecks(p.discountedPriceKopecks, p.quantityMilli),
            0,
          );
          const exact = total === 0 ? 0 : (discount * s) / total;
          // One kopeck of largest remainder plus at most a few moved per neighbour.
          expect(Math.abs(got - exact)).toBeLessThan(1 + 5 * lines.length);
        });
      }),
      { numRuns: 500 },
    );
  });

  test("single lines with big discounts exercise the split path", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.oneof(fc.integer({ min: 1001, max: 1_000_000 }), fc.integer({ min: 2, max: 1000 }).map((n) => n * 1000)),
        fc.integer({ min: 1, max: 10000 }),
        fc.boolean(),
        (price, q, pct, withSerials) => {
          const s = lineSumKopecks(price, q);
          const d = Math.floor((s * pct) / 10000);
          const serials =
            withSerials && q % 1000 === 0 && q <= 50_000
              ? Array.from({ length: q / 1000 }, (_, i) => ({ code: `s${i}` }))
              : undefined;
          const input = spending([line(price, q, "x", serials)], d, d);
          checkReceipt(KOPECK_RULES, input, computeReceipt(KOPECK_RULES, input));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------- long receipts

// The random receipts above have up to 30 lines; the till sends up to 1000. Speed is
// measured by bench/engine.ts, not asserted here.
test("50-line receipts spending from a huge balance keep every invariant", () => {
  const r = rules({ spendRateKopecks: 1 });
  fc.assert(
    fc.property(fc.array(lineArb, { minLength: 50, maxLength: 50 }), (lines) => {
      const input = spending(lines, 10 ** 12);
      checkReceipt(r, input, computeReceipt(r, input));
    }),
    { numRuns: 200 },
  );
});
