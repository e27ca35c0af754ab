// What every request passes before the app reads a byte of its body, so that one
// hostile or slow request costs only its own time:
//
// - a body-size limit per route family (POS, admin, imports, public web), checked on
//   Content-Length and again while the body streams in (chunked bodies have none);
// - JSON bodies: nesting depth counted in one flat pass over the bytes (no recursion),
//   before any parser or validator walks them (a deeply nested body used to overflow the
//   validator's stack after seconds of CPU);
// - POS, web-card and admin API calls take JSON only (415 otherwise);
// - a POS body refused here is logged (its shape, never its content; refused-bodies.ts);
// - interactive calls (POS, web card) get a deadline: not answered by then → 503 with
//   errors[], and the call is remembered as stuck until it settles, which readiness reports;
// - admin API calls and cabinet pages get a longer deadline of their own (the same 503,
//   a page in Russian for the cabinet), except uploads and streamed CSV exports.
import type { Limits } from "./config.ts";
import { ApiError, errors } from "./errors.ts";
import { json } from "./http-errors.ts";
import { Notice, Page } from "./pages/layout.tsx";
import { AUTH_HEADER, MOYSKLAD_PREFIX } from "./moysklad/auth.ts";
import { errorFields, inFreshLogContext, log } from "./log.ts";
import { throttledLog } from "./log-throttle.ts";
import { declaredBytes, logRefusedBody, markPosRequest, type RefusalReason } from "./refused-bodies.ts";

export type RouteFamily = "pos" | "admin" | "imports" | "web" | "other";

// Customer files: the admin API's imports and the cabinet page's upload.
const IMPORTS = /^\/(admin\/v1\/tenants\/[^/]+\/imports|cabinet\/[^/]+\/import)(\/|$)/;

export function routeFamily(path: string): RouteFamily {
  if (path.startsWith(MOYSKLAD_PREFIX + "/") || path === MOYSKLAD_PREFIX) return "pos";
  if (IMPORTS.test(path)) return "imports";
  if (path.startsWith("/admin/")) return "admin";
  if (path.startsWith("/web/")) return "web";
  return "other";
}

// The client's address as the server saw it (Bun's requestIP), kept beside the Request
// rather than in a header a client could forge.
const clientAddresses = new WeakMap<Request, string>();

export function withClientAddress(request: Request, address: string | undefined): Request {
  if (address) clientAddresses.set(request, address);
  return request;
}

/**
 * The client's address: the first X-Forwarded-For hop behind a trusted proxy, else the
 * socket's; undefined when the server did not say (an in-process call).
 */
export function clientAddress(request: Request, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded;
  }
  return clientAddresses.get(request);
}

/** True when arrays/objects nest deeper than `max`. One pass, constant memory. */
export function jsonDeeperThan(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === 0x5c) i++; // backslash: the next byte is escaped
      else if (b === 0x22) inString = false;
      continue;
    }
    if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > max) return true;
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return false;
}

/**
 * The path of a request's URL, as URL.pathname gives it. A Request's url is already the
 * parsed and serialised form, so the path is the text between the authority and the
 * query: no second parse per request.
 */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const query = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  const end = query === -1 ? hash : hash === -1 ? query : Math.min(query, hash);
  return end === -1 ? url.slice(start) : url.slice(start, end);
}

/** Reads the body, giving up as soon as it passes `limit` bytes. */
async function readLimited(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw errors.payloadTooLarge(limit);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** A body passed on as a stream (imports: large files) that fails once it passes `limit`. */
function countedStream(body: ReadableStream<Uint8Array>, limit: number): ReadableStream<Uint8Array> {
  let total = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        total += chunk.byteLength;
        if (total > limit) controller.error(errors.payloadTooLarge(limit));
        else controller.enqueue(chunk);
      },
    }),
  );
}

const isJson = (contentType: string | null) => !!contentType && /[/+]json\b/i.test(contentType);

/**
 * Puts the guard in front of an Elysia app: `app.fetch` and `app.handle` (which calls
 * `this.fetch`) both pass through it. Elysia installs its compiled handler as the
 * instance's own `fetch` whenever it compiles (on first use, and again when a lazily
 * loaded plugin arrives), so compiling is wrapped to take that handler as the inner one
 * and put the guard back in front.
 */
export function guardApp<A extends { compile(): unknown }>(app: A, limits: Limits, stuck: StuckCalls, tenantOfKey?: TenantOfKey): A {
  const elysia: { compile(): unknown } = app;
  const compile = elysia.compile.bind(app);
  let inner: Handler | undefined;
  const guarded = guardRequests((request) => (inner ??= recompile())(request), limits, stuck, tenantOfKey);
  const install = () => Object.defineProperty(app, "fetch", { value: guarded, configurable: true, writable: true });
  const recompile = (): Handler => {
    compile();
    install();
    // Elysia keeps the compiled handler in a field its types do not declare.
    return Reflect.get(app, "_handle") as Handler;
  };
  elysia.compile = () => {
    inner = recompile();
    return app;
  };
  install();
  return app;
}

/**
 * Calls that missed their deadline and have not settled since. One still running well
 * after the database would have cancelled its statement is waiting on a connection that
 * no longer answers: readiness says so.
 */
export class StuckCalls {
  private readonly started = new Map<number, number>();
  private seq = 0;

  constructor(private readonly stalledAfterMs: number) {}

  track(work: Promise<unknown>, startedAt: number): void {
    const id = ++this.seq;
    this.started.set(id, startedAt);
    work.then(
      () => this.started.delete(id),
      () => this.started.delete(id),
    );
  }

  /** How many calls have been running longer than the database's own limits allow. */
  stalled(now = Date.now()): number {
    let n = 0;
    for (const t of this.started.values()) if (now - t > this.stalledAfterMs) n++;
    return n;
  }
}

export type Handler = (request: Request) => Promise<Response>;

/** The tenant of a POS access key when it is known without a query (else undefined). */
export type TenantOfKey = (key: string) => string | undefined;

/** What the guard's own refusals mean, for the log line (40002 here is only the depth check). */
function refusalReason(e: ApiError): RefusalReason {
  if (e.status === 413) return "too large";
  if (e.status === 415) return "not JSON";
  return "nested too deeply";
}

const unavailable = () => json(503, errors.unavailable("Программа лояльности").body);

/** What a call that missed its deadline is answered with, and which log line says so. */
interface Deadline {
  ms: number;
  late: string;
  answer: () => Response;
}

const adminUnavailable = () => json(503, errors.unavailable("API администратора").body);

function cabinetUnavailable(): Response {
  const page = Page({
    title: "Кабинет",
    children: Notice({ kind: "error", text: "Кабинет не ответил вовремя: база данных сейчас отвечает слишком долго. Обновите страницу через несколько секунд." }),
  }) as string;
  return new Response(page, { status: 503, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "retry-after": "5" } });
}

/** Streamed exports (customers, ledger, an import's errors): long files take their time. */
const isCsvExport = (path: string) => path.endsWith(".csv");

/**
 * The deadline of a call, or undefined when it has none: POS and web card get the short
 * interactive one; the admin API (`/admin/v1/…`, the cabinet's JSON API included) and the
 * cabinet's pages and htmx fragments the admin one, except uploads (a POST of the imports
 * family) and CSV exports. Bull Board and the rest have none (their Redis calls are bounded).
 */
export function deadlineOf(family: RouteFamily, method: string, path: string, limits: Limits): Deadline | undefined {
  if (family === "pos") return { ms: limits.requestDeadlineMs, late: "POS call missed its deadline; answered 503", answer: unavailable };
  if (family === "web") return { ms: limits.requestDeadlineMs, late: "web card call missed its deadline; answered 503", answer: unavailable };
  if (isCsvExport(path) || (family === "imports" && method !== "GET" && method !== "HEAD")) return undefined;
  if (path.startsWith("/admin/v1/")) return { ms: limits.adminDeadlineMs, late: "admin API call missed its deadline; answered 503", answer: adminUnavailable };
  if (path.startsWith("/cabinet/")) return { ms: limits.adminDeadlineMs, late: "cabinet page missed its deadline; answered 503", answer: cabinetUnavailable };
  return undefined;
}

export function guardRequests(handle: Handler, limits: Limits, stuck: StuckCalls, tenantOfKey: TenantOfKey = () => undefined): Handler {
  // A dependency that stalls makes every call miss its deadline: one line per family says
  // so (the path of a web-card call holds the card's token, so only the family is named).
  const late = throttledLog("warn");
  const tenantOf = (request: Request) => () => {
    const key = request.headers.get(AUTH_HEADER);
    return key ? tenantOfKey(key) : undefined;
  };

  /** The request the app reads: its body checked and read (or counted as it streams). */
  async function admit(request: Request & { body: ReadableStream<Uint8Array> }, family: RouteFamily, path: string): Promise<Request> {
    const limit = limits.bodyBytes[family];
    const declared = Number(request.headers.get("content-length") ?? NaN);
    if (declared > limit) throw errors.payloadTooLarge(limit);
    const contentType = request.headers.get("content-type");
    const jsonBody = isJson(contentType);
    // The POS, the web card and the admin API speak JSON; a form would otherwise be parsed
    // and validated as if it were one. (Imports and Bull Board take their own types.)
    const jsonOnly = family === "pos" || family === "web" || (family === "admin" && path.startsWith("/admin/v1/"));
    if (jsonOnly && contentType && !jsonBody) throw errors.unsupportedMediaType();
    const address = clientAddresses.get(request);
    const init = { method: request.method, headers: request.headers, signal: request.signal };
    let next: Request;
    if (family === "imports") {
      next = new Request(request.url, { ...init, body: countedStream(request.body, limit), duplex: "half" } as RequestInit);
    } else {
      // With a declared length (already checked against the limit) the runtime reads the
      // body in one native call; pulling it chunk by chunk through a stream reader cost
      // most of an interactive call's CPU. A body of unknown length is read with a count.
      const bytes = Number.isFinite(declared) ? new Uint8Array(await request.arrayBuffer()) : await readLimited(request.body, limit);
      if (jsonBody && jsonDeeperThan(bytes, limits.jsonDepth)) throw errors.tooDeep(limits.jsonDepth);
      next = new Request(request.url, { ...init, body: bytes as Uint8Array<ArrayBuffer> });
    }
    if (family === "pos") markPosRequest(next, tenantOf(request));
    return withClientAddress(next, address);
  }

  async function serve(request: Request, family: RouteFamily, path: string): Promise<Response> {
    try {
      const bodied = request.body && request.method !== "GET" && request.method !== "HEAD";
      let admitted = request;
      if (bodied) {
        try {
          admitted = await admit(request as Request & { body: ReadableStream<Uint8Array> }, family, path);
        } catch (e) {
          if (e instanceof ApiError && family === "pos") {
            logRefusedBody({
              path,
              status: e.status,
              reason: refusalReason(e),
              contentType: request.headers.get("content-type"),
              declaredBytes: declaredBytes(request),
              tenantId: tenantOf(request)(),
            });
          }
          throw e;
        }
      }
      return await handle(admitted);
    } catch (e) {
      if (e instanceof ApiError) return json(e.status, e.body);
      log.error("request guard failed", { path, ...errorFields(e) });
      return json(500, errors.internal().body);
    }
  }

  return (request) => inFreshLogContext(() => guarded(request));

  async function guarded(request: Request): Promise<Response> {
    const path = pathOf(request.url);
    const family = routeFamily(path);
    const deadline = deadlineOf(family, request.method, path, limits);
    if (!deadline) return serve(request, family, path);
    const startedAt = Date.now();
    const work = serve(request, family, path);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const passed = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), deadline.ms);
    });
    const first = await Promise.race([work, passed]);
    clearTimeout(timer);
    if (first !== "late") return first;
    stuck.track(work, startedAt);
    late(deadline.late, { deadlineMs: deadline.ms });
    return deadline.answer();
  }
}
