// During an outage the same failure repeats for every sale, job and sweep. One line per
// cause per interval says it all; the next line tells how many were held back meanwhile.
import { errorFields, log } from "./log.ts";

type Level = "warn" | "error" | "info";

export interface ThrottledLog {
  (msg: string, fields?: Record<string, unknown>): void;
}

/**
 * A logger that writes a given message at most once per `intervalMs`; each message is
 * its own cause. Lines after a quiet spell carry `suppressed`: how many were skipped.
 */
export function throttledLog(level: Level = "warn", intervalMs = 10_000): ThrottledLog {
  const causes = new Map<string, { last: number; suppressed: number }>();
  return (msg, fields) => {
    const now = Date.now();
    const c = causes.get(msg);
    if (c && now - c.last < intervalMs) {
      c.suppressed++;
      return;
    }
    const suppressed = c?.suppressed ?? 0;
    causes.set(msg, { last: now, suppressed: 0 });
    log[level](msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  };
}

/** An error handler for an event emitter (ioredis, BullMQ) that logs through `throttled`. */
export function throttledErrors(throttled: ThrottledLog, msg: string): (e: unknown) => void {
  return (e) => throttled(msg, errorFields(e));
}
