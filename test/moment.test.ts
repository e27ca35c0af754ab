import { expect, test } from "./support/test.ts";
import fc from "fast-check";
import { readMoment, zoneOffsetMs } from "../src/loyalty/moment.ts";

// zoneOffsetMs keeps offsets per zone and quarter hour. The oracle asks Intl every time:
// the two must agree at every instant, transitions included (DST in both directions,
// half-hour and 45-minute zones, historic local mean time at odd seconds).
function oracle(timeZone: string, epochMs: number): number {
  const f = new Intl.DateTimeFormat("en-US", {
    timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric",
  });
  const p: Record<string, number> = {};
  for (const x of f.formatToParts(new Date(epochMs))) if (x.type !== "literal") p[x.type] = Number(x.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - Math.floor(epochMs / 1000) * 1000;
}

const ZONES = ["Europe/Moscow", "Asia/Vladivostok", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "Europe/Samara"];

test("cached zone offsets equal Intl's at random instants from 1900 to 2100", () => {
  fc.assert(
    fc.property(fc.constantFrom(...ZONES), fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2100, 0, 1) }), (zone, at) => {
      expect(zoneOffsetMs(zone, at)).toBe(oracle(zone, at));
    }),
    { numRuns: 3000 },
  );
});

test("around transitions, second by second: the cache never carries an offset across one", () => {
  // Berlin 2026-03-29 01:00 UTC (+1 → +2), New York 2026-11-01 06:00 UTC (−4 → −5),
  // Lord Howe 2026-04-04 15:00 UTC (+11 → +10:30); and at odd seconds, off any quarter
  // hour: Moscow 1916-07-02 (+2:30:17 → +2:31:19), Dublin 1916-10-01 (−0:25:21 → 0).
  const around: [string, number][] = [
    ["Europe/Berlin", Date.UTC(2026, 2, 29, 1)],
    ["America/New_York", Date.UTC(2026, 10, 1, 6)],
    ["Australia/Lord_Howe", Date.UTC(2026, 3, 4, 15)],
    ["Europe/Moscow", Date.UTC(1916, 6, 2, 21, 30)],
    ["Europe/Dublin", Date.UTC(1916, 9, 1, 2, 30)],
  ];
  for (const [zone, t] of around) {
    for (let at = t - 40 * 60_000; at <= t + 40 * 60_000; at += 7_000) expect(zoneOffsetMs(zone, at)).toBe(oracle(zone, at));
  }
});

test("a local time is read in the merchant's zone on both sides of a transition", () => {
  expect(readMoment("2026-03-29 01:59:59", "Europe/Berlin")!.toISOString()).toBe("2026-03-29T00:59:59.000Z");
  expect(readMoment("2026-03-29 03:00:00", "Europe/Berlin")!.toISOString()).toBe("2026-03-29T01:00:00.000Z");
  expect(readMoment("2026-11-28 12:00:00", "Europe/Moscow")!.toISOString()).toBe("2026-11-28T09:00:00.000Z");
});
