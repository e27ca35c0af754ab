// When a document happened. The POS writes its local time as "YYYY-MM-DD HH:mm:ss"
// (the merchant's wall clock), newer clients may write ISO 8601 with an offset. A local
// time is read in the merchant's zone, never the server's, so every API process stores
// the same instant whatever its own TZ.

import { zoneFormatter } from "./localtime.ts";

const LOCAL_OR_ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Whether `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    zoneFormatter(zone);
    return true;
  } catch {
    return false;
  }
}

/**
 * Offsets by zone and quarter hour: asking Intl costs ~10 µs and every sale's local time
 * asks twice, while offsets change only at transitions. A quarter is kept only when its
 * first and last millisecond have the same offset, so a transition inside it (historic
 * local-mean-time changes fall at odd seconds) is always computed exactly.
 */
const QUARTER_MS = 15 * 60_000;
const offsetCache = new Map<string, number>();

/** The zone's offset from UTC at `epochMs`, in milliseconds. */
export function zoneOffsetMs(timeZone: string, epochMs: number): number {
  const quarter = Math.floor(epochMs / QUARTER_MS);
  const key = `${timeZone}|${quarter}`;
  const known = offsetCache.get(key);
  if (known !== undefined) return known;
  const start = offsetAt(timeZone, quarter * QUARTER_MS);
  if (start !== offsetAt(timeZone, (quarter + 1) * QUARTER_MS - 1)) return offsetAt(timeZone, epochMs);
  if (offsetCache.size >= 20_000) offsetCache.clear();
  offsetCache.set(key, start);
  return start;
}

function offsetAt(timeZone: string, epochMs: number): number {
  const parts: Record<string, number> = {};
  for (const p of zoneFormatter(timeZone).formatToParts(new Date(epochMs))) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return asUtc - Math.floor(epochMs / 1000) * 1000;
}

/**
 * The instant a wall-clock time in `timeZone` names. Two passes settle the offset; in a
 * gap (clocks moved forward) the later offset wins, in an overlap the earlier instant.
 */
export function zonedToEpochMs(timeZone: string, y: number, mo: number, d: number, h: number, mi: number, s: number, ms = 0): number {
  const wall = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  let guess = wall - zoneOffsetMs(timeZone, wall);
  guess = wall - zoneOffsetMs(timeZone, guess);
  return guess;
}

/**
 * A POS date as an instant, or null when it names no real moment (30 February, hour 25,
 * an unknown format). `timeZone` applies to a local time; an ISO offset wins over it.
 */
export function readMoment(text: unknown, timeZone: string): Date | null {
  if (typeof text !== "string") return null;
  const m = LOCAL_OR_ISO.exec(text.trim());
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  if (y < 1900 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return null;
  if (d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return null;
  const zone = m[8];
  let epoch: number;
  if (zone === undefined) {
    epoch = zonedToEpochMs(timeZone, y, mo, d, h, mi, s, ms);
  } else if (zone === "Z") {
    epoch = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  } else {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
    if (offsetMin > 18 * 60) return null;
    epoch = Date.UTC(y, mo - 1, d, h, mi, s, ms) - sign * offsetMin * 60_000;
  }
  const date = new Date(epoch);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** The calendar date a POS date names ("YYYY-MM-DD"), or null for a day the month lacks. */
export function calendarDate(text: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1900 || mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return null;
  return `${m[1]}-${m[2]}-${m[3]}`;
}
