// One JSON line per event: easy to grep at 3 a.m., easy to ship to a log store.
//
// Every line carries what it happened in: the HTTP request's id or the queue job's id,
// and the tenant once known. They travel with the async work in an AsyncLocalStorage
// (node:async_hooks; Bun and Deno both have it), so a line written deep inside a use case
// is tied to its request without passing anything down.
//
// No personal data reaches the log: phone numbers are masked, names dropped, codes,
// keys and tokens replaced — by field name, and phone numbers also inside free text
// (error messages from Postgres or a provider may quote them). Call sites should not
// log such values at all; this is the net under them.
import { AsyncLocalStorage } from "node:async_hooks";

type Level = "debug" | "info" | "warn" | "error";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let threshold: number = order[(process.env.LOG_LEVEL as Level) ?? "info"] ?? order.info;

export function setLogLevel(level: Level): void {
  threshold = order[level];
}

/** What a line was written in. Mutable: the tenant becomes known after the request began. */
export interface LogContext {
  requestId?: string;
  jobId?: string;
  queue?: string;
  /** A periodic task of a worker (the intake sweep, the pending release…). */
  task?: string;
  tenantId?: string;
}

const context = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with these fields on every line it (and the async work it starts) writes. */
export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  return context.run({ ...context.getStore(), ...fields }, fn);
}

/**
 * Runs `fn` in a context of its own, empty: a request starts with nothing of the one
 * before it. (Under Deno a context entered by one request's flow was still there for the
 * next request's first lines: a refused body was logged with the previous shop's tenant.)
 */
export function inFreshLogContext<T>(fn: () => T): T {
  return context.run({}, fn);
}

/**
 * Starts a context for the rest of the current async flow (an HTTP request: its hooks and
 * handler run in one flow that no single callback wraps).
 */
export function enterLogContext(fields: LogContext): void {
  context.enterWith({ ...fields });
}

/** Names the tenant for the rest of the current request or job. */
export function setLogTenant(tenantId: string): void {
  const store = context.getStore();
  if (store) store.tenantId = tenantId;
}

// Field names whose values never reach the log, and those holding phone numbers.
const SECRET = /^(code|verificationCode|otp|pin|token|apiToken|adminToken|apiKey|api_id|apiId|key|password|secret|privateKey|authorization|auth|p256dh|cookie)$/i;
const NAME = /^(name|customerName|firstName|lastName|middleName|fio|fullName|email)$/i;
const PHONE = /^(phone|to|phoneNumber|recipient)$/i;
// Russian numbers in any notation (+7 903 123-45-67, 89031234567, 79031234567).
const PHONE_IN_TEXT = /(?<!\d)(\+?[78])[\s(-]*(\d{3})[\s)-]*(\d{3})[\s-]*(\d{2})[\s-]*(\d{2})(?!\d)/g;
const BEARER_IN_TEXT = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;

/** "79031234567" → "+7 903 ***-**-67"; anything else keeps its first three and last two characters. */
export function maskPhoneForLog(value: string): string {
  const digits = value.replace(/\D/g, "");
  if (digits.length === 11 && (digits[0] === "7" || digits[0] === "8")) return `+7 ${digits.slice(1, 4)} ***-**-${digits.slice(9)}`;
  if (digits.length < 5) return "***";
  return `${digits.slice(0, 3)}${"*".repeat(digits.length - 5)}${digits.slice(-2)}`;
}

export function scrubText(text: string): string {
  return text
    .replace(PHONE_IN_TEXT, (_m, _c, a: string, _b, _d, e: string) => `+7 ${a} ***-**-${e}`)
    .replace(BEARER_IN_TEXT, "$1 [redacted]");
}

function scrub(key: string, value: unknown, depth: number): unknown {
  if (value === null || value === undefined) return value;
  if (SECRET.test(key)) {
    // Error codes (numbers, or words like "VALIDATION", "57P01") are not secrets; a digit
    // string under a code-like name might be a confirmation code.
    if (/^code$/i.test(key) && (typeof value === "number" || (typeof value === "string" && !/^\d{4,8}$/.test(value)))) return value;
    return "[redacted]";
  }
  if (NAME.test(key)) return "[redacted]";
  if (PHONE.test(key) && (typeof value === "string" || typeof value === "number")) {
    return String(value).includes("*") ? value : maskPhoneForLog(String(value)); // already masked
  }
  if (typeof value === "string") return scrubText(value);
  if (depth < 3 && Array.isArray(value)) return value.map((v) => scrub("", v, depth + 1));
  if (depth < 3 && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = scrub(k, v, depth + 1);
    return out;
  }
  return value;
}

/** The line as written: time, level, message, context, then the scrubbed fields. */
export function formatLine(level: Level, msg: string, fields?: Record<string, unknown>): string {
  const line: Record<string, unknown> = { t: new Date().toISOString(), level, msg: scrubText(msg), ...context.getStore() };
  if (fields) for (const [k, v] of Object.entries(fields)) line[k] = scrub(k, v, 0);
  return JSON.stringify(line);
}

function emit(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (order[level] < threshold) return;
  const line = formatLine(level, msg, fields);
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
