import { describe, expect, test } from "./support/test.ts";
import fc from "fast-check";
import {
  formatRoubles,
  kopecksToRoubles,
  lineSumKopecks,
  mulDivFloor,
  mulDivRound,
  parseKopecks,
  parseMilli,
  parsePercentHundredths,
} from "../src/loyalty/money.ts";

describe("parseKopecks", () => {
  test("whole and two-decimal roubles", () => {
    expect(parseKopecks(0)).toBe(0);
    expect(parseKopecks(79)).toBe(7900);
    expect(parseKopecks(123.45)).toBe(12345);
    expect(parseKopecks(0.01)).toBe(1);
    expect(parseKopecks(1.1)).toBe(110);
    expect(parseKopecks(100000.99)).toBe(10000099);
  });

  test("binary float noise is tolerated", () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(parseKopecks(0.1 + 0.2)).toBe(30);
    expect(parseKopecks(1.15)).toBe(115); // 1.15 * 100 = 114.99999999999999
    expect(parseKopecks(4.35)).toBe(435); // 4.35 * 100 = 434.99999999999994
    expect(parseKopecks(12.34 + 1e-10)).toBe(1234);
    expect(parseKopecks(12.34 - 1e-10)).toBe(1234);
  });

  test("noise of 1e-7 roubles is a real third decimal's worth and is rejected", () => {
    expect(parseKopecks(12.34 + 1e-7)).toBeNull();
    expect(parseKopecks(12.34 - 1e-7)).toBeNull();
  });

  test("more than two decimals is rejected", () => {
    expect(parseKopecks(1.001)).toBeNull();
    expect(parseKopecks(0.005)).toBeNull();
    expect(parseKopecks(123.456)).toBeNull();
  });

  test("non-finite and negative are rejected", () => {
    expect(parseKopecks(Number.NaN)).toBeNull();
    expect(parseKopecks(Number.POSITIVE_INFINITY)).toBeNull();
    expect(parseKopecks(Number.NEGATIVE_INFINITY)).toBeNull();
    expect(parseKopecks(-0.01)).toBeNull();
    expect(parseKopecks(-1)).toBeNull();
    expect(parseKopecks("1" as unknown as number)).toBeNull();
  });

  test("-0 becomes +0", () => {
    expect(Object.is(parseKopecks(-0), 0)).toBe(true);
  });

  test("above MAX_SAFE_INTEGER kopecks is rejected", () => {
    expect(parseKopecks(Number.MAX_SAFE_INTEGER / 100 + 1)).toBeNull();
    expect(parseKopecks(1e300)).toBeNull();
    expect(parseKopecks(90_071_992_547_409)).toBe(9_007_199_254_740_900);
  });

  test("large values with two decimals survive their representation error", () => {
    // 12345678901.23 * 100 is off the integer by more than 1e-6.
    expect(parseKopecks(12345678901.23)).toBe(1234567890123);
    expect(parseKopecks(999999999999.99)).toBe(99999999999999);
  });

  test("every two-decimal decimal string round-trips", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 13 }), (k) => {
        const text = `${Math.floor(k / 100)}.${String(k % 100).padStart(2, "0")}`;
        expect(parseKopecks(Number(text))).toBe(k);
        expect(parseKopecks(kopecksToRoubles(k))).toBe(k);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("parseMilli", () => {
  test("quantities up to three decimals", () => {
    expect(parseMilli(1)).toBe(1000);
    expect(parseMilli(1.234)).toBe(1234);
    expect(parseMilli(0.001)).toBe(1);
    expect(parseMilli(0.5)).toBe(500);
    expect(parseMilli(2.5)).toBe(2500);
    expect(parseMilli(0.1 + 0.2)).toBe(300);
    expect(parseMilli(1.005)).toBe(1005);
  });

  test("zero is allowed, callers decide", () => {
    expect(parseMilli(0)).toBe(0);
  });

  test("four decimals, negative and non-finite are rejected", () => {
    expect(parseMilli(1.2345)).toBeNull();
    expect(parseMilli(0.0001)).toBeNull();
    expect(parseMilli(-1)).toBeNull();
    expect(parseMilli(Number.NaN)).toBeNull();
    expect(parseMilli(Number.POSITIVE_INFINITY)).toBeNull();
    expect(parseMilli(Number.MAX_SAFE_INTEGER)).toBeNull();
  });
});

describe("parsePercentHundredths", () => {
  test("percents with up to two decimals", () => {
    expect(parsePercentHundredths(5)).toBe(500);
    expect(parsePercentHundredths(2.5)).toBe(250);
    expect(parsePercentHundredths(100)).toBe(10000);
    expect(parsePercentHundredths(0.01)).toBe(1);
    expect(parsePercentHundredths(33.33)).toBe(3333);
    expect(parsePercentHundredths(0)).toBe(0);
  });

  test("rejects three decimals, negatives, NaN", () => {
    expect(parsePercentHundredths(2.555)).toBeNull();
    expect(parsePercentHundredths(-5)).toBeNull();
    expect(parsePercentHundredths(Number.NaN)).toBeNull();
  });
});

describe("output conversions", () => {
  test("kopecksToRoubles prints at most two decimals", () => {
    expect(kopecksToRoubles(7900)).toBe(79);
    expect(kopecksToRoubles(12345)).toBe(123.45);
    expect(JSON.stringify(kopecksToRoubles(12345))).toBe("123.45");
    expect(JSON.stringify(kopecksToRoubles(1))).toBe("0.01");
    expect(JSON.stringify(kopecksToRoubles(0))).toBe("0");
    expect(JSON.stringify(kopecksToRoubles(999_999_999_999_999))).toBe("9999999999999.99");
    // Exact up to 2^46 roubles, where doubles are still finer than a kopeck.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 46 * 100 }), (k) => {
        expect(JSON.stringify(kopecksToRoubles(k))).toBe(formatRoubles(k).replace(/\.?0+$/, ""));
      }),
      { numRuns: 1000 },
    );
    // Beyond that the value is only the nearest double, but still prints plainly.
    const printed = JSON.stringify(kopecksToRoubles(Number.MAX_SAFE_INTEGER));
    expect(printed.split(".")[1]!.length).toBeLessThanOrEqual(2);
  });

  test("kopecksToRoubles rejects non-integers", () => {
    expect(() => kopecksToRoubles(1.5)).toThrow(RangeError);
  });

  test("formatRoubles always shows two decimals", () => {
    expect(formatRoubles(17100)).toBe("171.00");
    expect(formatRoubles(0)).toBe("0.00");
    expect(formatRoubles(5)).toBe("0.05");
    expect(formatRoubles(12345)).toBe("123.45");
    expect(formatRoubles(-150)).toBe("-1.50");
  });
});

describe("lineSumKopecks", () => {
  test("rounds halves away from zero", () => {
    expect(lineSumKopecks(1, 500)).toBe(1); // 0.01 × 0.5 = 0.005 → 0.01
    expect(lineSumKopecks(1, 499)).toBe(0); // 0.01 × 0.499 → 0
    expect(lineSumKopecks(1, 1500)).toBe(2);
    expect(lineSumKopecks(3, 500)).toBe(2); // 1.5 → 2
    expect(lineSumKopecks(101, 500)).toBe(51); // 50.5 → 51
    expect(lineSumKopecks(-101, 500)).toBe(-51);
    expect(lineSumKopecks(999, 1234)).toBe(1233); // 1232.766
    expect(lineSumKopecks(25000, 1000)).toBe(25000);
    expect(lineSumKopecks(0, 123456)).toBe(0);
    expect(Object.is(lineSumKopecks(-5, 0), 0)).toBe(true);
  });

  test("products beyond 2^53 are exact via BigInt", () => {
    // 9 007 199 254 740 993 is not representable; the float path would be off.
    expect(lineSumKopecks(9_007_199_254_741, 1000)).toBe(9_007_199_254_741);
    expect(lineSumKopecks(10_000_000, 1_000_000_000)).toBe(10_000_000_000_000);
    // price × qty = 9 007 199 254 741 500 > 2^53; /1000 ends in exactly .5 and rounds up.
    expect(lineSumKopecks(6_004_799_503_161, 1_500)).toBe(9_007_199_254_742);
    expect(lineSumKopecks(3_000_000_000_001, 1_500)).toBe(4_500_000_000_002);
  });

  test("results beyond 2^53 throw instead of losing kopecks", () => {
    expect(() => lineSumKopecks(Number.MAX_SAFE_INTEGER, 2000)).toThrow(RangeError);
  });

  test("non-integer inputs throw", () => {
    expect(() => lineSumKopecks(1.5, 1000)).toThrow(RangeError);
    expect(() => lineSumKopecks(100, 0.5)).toThrow(RangeError);
  });

  test("agrees with a BigInt reference", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 ** 12 }),
        fc.integer({ min: 1, max: 10 ** 9 }),
        (price, qty) => {
          const p = BigInt(price) * BigInt(qty);
          const expected = (p + 500n) / 1000n;
          if (expected > BigInt(Number.MAX_SAFE_INTEGER)) return;
          expect(lineSumKopecks(price, qty)).toBe(Number(expected));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("mulDiv helpers", () => {
  test("floor and round, float and BigInt paths", () => {
    expect(mulDivFloor(7, 3, 2)).toBe(10);
    expect(mulDivRound(7, 3, 2)).toBe(11);
    expect(mulDivRound(5, 1, 10)).toBe(1);
    expect(mulDivRound(4, 1, 10)).toBe(0);
    expect(mulDivFloor(10 ** 12, 10 ** 6, 10 ** 6)).toBe(10 ** 12);
    expect(mulDivFloor(9_007_199_254_740_991, 3, 7)).toBe(3_860_228_252_031_853);
    expect(mulDivRound(9_007_199_254_740_991, 3, 7)).toBe(3_860_228_252_031_853);
    expect(() => mulDivFloor(9_007_199_254_740_991, 3, 1)).toThrow(RangeError);
  });
});
