// During an outage the same failure repeats for every sale, job and sweep. One line per
// cause per interval says it all; the next line tells how many were held back meanwhile.
import { errorFields, log } from "./log.ts";

type Level = "warn" | "error" | "info";

export interface ThrottledLog {
  /** `cause` (the message when not given) is what is counted; keep its values few. */
  (msg: string, fields?: Record<string, unknown>, cause?: string): void;
}

/**
 * A logger that writes a line of a given cause at most once per `intervalMs`; each
 * message is its own cause unless the caller names one. Lines after a quiet spell carry
 * `suppressed`: how many of that cause were skipped.
 */
export function throttledLog(level: Level = "warn", intervalMs = 10_000): ThrottledLog {
  const causes = new Map<string, { last: number; suppressed: number }>();
  return (msg, fields, cause = msg) => {
    const now = Date.now();
    const c = causes.get(cause);
    if (c && now - c.last < intervalMs) {
      c.suppressed++;
      return;
    }
    const suppressed = c?.suppressed ?? 0;
    causes.set(cause, { last: now, suppressed: 0 });
    log[level](msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  };
}

/** An error handler for an event emitter (ioredis, BullMQ) that logs through `throttled`. */
export function throttledErrors(throttled: ThrottledLog, msg: string): (e: unknown) => void {
  return (e) => throttled(msg, errorFields(e));
}
