// One JSON line per event: easy to grep at 3 a.m., easy to ship to a log store.
type Level = "debug" | "info" | "warn" | "error";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let threshold: number = order[(process.env.LOG_LEVEL as Level) ?? "info"] ?? order.info;

export function setLogLevel(level: Level): void {
  threshold = order[level];
}

function emit(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (order[level] < threshold) return;
  const line = JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields });
  if (order[level] >= order.warn) console.error(line);
  else console.log(line);
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => emit("debug", msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => emit("info", msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => emit("warn", msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => emit("error", msg, fields),
};

/** What is safe to log about an error: its kind and message, never a stack in a response. */
export function errorFields(e: unknown): Record<string, unknown> {
  if (e instanceof Error) {
    const any = e as any;
    return { err: e.message, errName: e.name, errCode: any.code, stack: e.stack?.split("\n").slice(0, 6).join(" | ") };
  }
  return { err: String(e) };
}
