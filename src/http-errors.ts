import { Elysia, ValidationError } from "elysia";
import { ApiError, errors, type ProtocolErrorItem, VALIDATION_STATUS, ErrorCode } from "./errors.ts";
import { errorFields, log } from "./log.ts";
import { throttledLog } from "./log-throttle.ts";
import { declaredBytes, logRefusedBody, posTenantLookup } from "./refused-bodies.ts";

// Broken JSON to the other routes (admin, web card): one line per interval, with the count.
const unreadableLog = throttledLog("warn", 10_000);

// Failures that mean "the database is not answering right now", not "our bug".
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "57P01", // admin shutdown
  "57P02", // crash shutdown
  "57P03", // cannot connect now (starting up)
  "53300", // too many connections
  "40001", // serialization failure: retry is the answer
  "40P01", // deadlock
  "57014", // statement_timeout: the database took too long (or a connection stalled)
  "55P03", // lock_timeout: a row this call needs is held elsewhere
]);

// ioredis says "Redis is not answering" in messages, not codes.
const REDIS_UNAVAILABLE = /^(Command timed out|Connection is closed|Stream isn't writeable|Reached the max retries per request)/;

/** Redis (not the database) is what did not answer: the words of a 503 name it. */
export function isRedisUnavailable(e: unknown): boolean {
  return e instanceof Error && REDIS_UNAVAILABLE.test(e.message);
}

export function isUnavailable(e: unknown): boolean {
  const code = (e as any)?.code;
  if (typeof code === "string" && (UNAVAILABLE_CODES.has(code) || code.startsWith("08"))) return true;
  return e instanceof Error && REDIS_UNAVAILABLE.test(e.message);
}

/** Data exceptions (class 22) and check violations: bad values that reached the database. */
export function isRejectedData(e: unknown): boolean {
  const code = (e as any)?.code;
  return (e as any)?.name === "PostgresError" && typeof code === "string" && (code.startsWith("22") || code === "23514");
}

/** "/positions/0/price" → "positions[0].price" */
export function parameterFromPath(path: string): string {
  return path
    .split("/")
    .filter(Boolean)
    .map((seg, i) => (/^\d+$/.test(seg) ? `[${seg}]` : i === 0 ? seg : `.${seg}`))
    .join("");
}

function describe(schema: any, value: unknown): string {
  if (value === undefined) return "обязательное поле не заполнено";
  const flat = (s: any): any[] => (s?.anyOf ? s.anyOf.flatMap(flat) : [s]);
  const bounds = (s: any) =>
    [
      s?.minimum !== undefined ? `не меньше ${s.minimum}` : s?.exclusiveMinimum !== undefined ? `больше ${s.exclusiveMinimum}` : "",
      s?.maximum !== undefined ? `не больше ${s.maximum}` : "",
    ]
      .filter(Boolean)
      .join(" и ");
  const literals = flat(schema).map((s: any) => s?.const).filter((c: unknown) => typeof c === "string");
  if (literals.length > 0) return `допустимые значения: ${literals.join(", ")}`;
  // A number in a query string: typebox's union of its text form and the number itself.
  if (flat(schema).some((s: any) => s?.format === "integer" || s?.format === "numeric")) {
    const integer = flat(schema).some((s: any) => s?.format === "integer" || s?.type === "integer");
    const n = typeof value === "string" && value.trim() !== "" ? Number(value) : typeof value === "number" ? value : NaN;
    const range = bounds(schema);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      return (integer ? "ожидается целое число" : "ожидается число") + (range ? ` ${range}` : "");
    }
    return range ? `значение должно быть ${range}` : "недопустимое число";
  }
  const type = schema?.type ?? schema?.anyOf?.find((s: any) => s?.type && s.type !== "null")?.type;
  switch (type) {
    case "number":
    case "integer": {
      if (typeof value !== "number") return type === "integer" ? "ожидается целое число" : "ожидается число";
      if (type === "integer" && !Number.isInteger(value)) return "ожидается целое число";
      const b = bounds(schema);
      return b ? `значение должно быть ${b}` : "недопустимое число";
    }
    case "string":
      if (typeof value !== "string") return "ожидается строка";
      if (schema.maxLength !== undefined && value.length > schema.maxLength) return `не длиннее ${schema.maxLength} символов`;
      if (schema.minLength !== undefined && value.length < schema.minLength) return `не короче ${schema.minLength} символов`;
      return "неверный формат";
    case "array":
      if (!Array.isArray(value)) return "ожидается список";
      if (schema.minItems !== undefined && value.length < schema.minItems) return `не меньше ${schema.minItems} элементов`;
      if (schema.maxItems !== undefined && value.length > schema.maxItems) return `не больше ${schema.maxItems} элементов`;
      return "неверный список";
    case "object":
      return "ожидается объект";
    case "boolean":
      return "ожидается true или false";
    default:
      return "недопустимое значение";
  }
}

const SECTIONS = new Set(["body", "query", "params", "headers", "cookie"]);

function validationItems(e: ValidationError): ProtocolErrorItem[] {
  const seen = new Set<string>();
  const items: ProtocolErrorItem[] = [];
  const where = e.type === "query" ? "параметра запроса" : e.type === "headers" ? "заголовка" : "поля";
  for (const ve of e.all as any[]) {
    // Elysia reports a query number that failed after coercion (?limit=1e30) at the root
    // of a nested check ("property"), without the parameter's name.
    const parameter = parameterFromPath(ve.path ?? "") || (SECTIONS.has(e.type) ? e.type : "");
    if (seen.has(parameter)) continue;
    seen.add(parameter);
    if (!parameter) {
      items.push({ error: "Неверные данные запроса", code: ErrorCode.validation, error_message: `Неверное значение в запросе: ${describe(ve.schema, ve.value)}.` });
      continue;
    }
    items.push({
      error: "Неверные данные запроса",
      parameter,
      code: ErrorCode.validation,
      error_message: `Неверное значение ${where} «${parameter}»: ${describe(ve.schema, ve.value)}.`,
    });
    if (items.length >= 10) break;
  }
  if (items.length === 0) {
    const body = e.type === "body" && (e.value === undefined || e.value === null || e.value === "");
    items.push({
      error: "Неверные данные запроса",
      code: ErrorCode.validation,
      error_message: body ? "Нет тела запроса: ожидается JSON." : "Запрос не соответствует описанию метода.",
    });
  }
  return items;
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/**
 * The protocol error code each failed request was answered with, for the metrics
 * (POS errors by code): read once the response is sent, gone with the request.
 */
export const answeredErrorCode = new WeakMap<Request, number>();

function answer(request: Request, status: number, body: { errors: ProtocolErrorItem[] }): Response {
  const code = body.errors[0]?.code;
  if (code !== undefined) answeredErrorCode.set(request, code);
  return json(status, body);
}

/** Every non-2xx answer has the protocol's errors[] body; nothing leaks a stack trace. */
export const httpErrors = new Elysia({ name: "http-errors" }).onError({ as: "global" }, ({ code, error, request, path }) => {
  if (error instanceof ApiError) return answer(request, error.status, error.body);
  switch (code) {
    case "VALIDATION": {
      const ve = error as ValidationError;
      if (ve.type === "response") break; // our own answer did not match its schema: our bug
      return answer(request, VALIDATION_STATUS, { errors: validationItems(ve) });
    }
    case "PARSE":
      // Logged so a completed sale the till could not express as JSON never vanishes
      // silently; its shape only (no body: it may hold personal data). Throttled per
      // cause: a flood of broken bodies writes a line per interval, with the count.
      {
        const tenantOf = posTenantLookup(request);
        if (tenantOf) {
          logRefusedBody({
            path,
            status: VALIDATION_STATUS,
            reason: "unreadable JSON",
            contentType: request.headers.get("content-type"),
            declaredBytes: declaredBytes(request),
            tenantId: tenantOf(),
          });
        } else {
          unreadableLog("unreadable request body", {
            method: request.method,
            path: path.slice(0, 200),
            contentType: request.headers.get("content-type")?.slice(0, 100),
            bytes: declaredBytes(request),
          });
        }
      }
      return answer(request, VALIDATION_STATUS, errors.malformedJson().body);
    case "NOT_FOUND":
      return answer(request, 404, errors.routeNotFound(request.method, path).body);
    case "INVALID_COOKIE_SIGNATURE":
    case "INVALID_FILE_TYPE":
      return answer(request, VALIDATION_STATUS, errors.validation("Неверный запрос.").body);
  }
  if (isRejectedData(error)) {
    // A check in the schema caught what request validation missed: the client's data,
    // not our crash. Logged so the missing validation gets written.
    log.warn("database rejected data", { method: request.method, path, ...errorFields(error) });
    return answer(request, VALIDATION_STATUS, errors.validation("Данные не прошли проверку.").body);
  }
  if (isUnavailable(error)) {
    log.warn("dependency unavailable", { method: request.method, path, ...errorFields(error) });
    return answer(request, 503, errors.unavailable(isRedisUnavailable(error) ? "Очереди (Redis)" : undefined).body);
  }
  log.error("unhandled error", { method: request.method, path, code, ...errorFields(error) });
  return answer(request, 500, errors.internal().body);
});
