// Bull Board, the operators' view of the queues, at /admin/queues: counts, jobs, failures,
// retry. Opened in a browser with HTTP Basic (any user name, password = ADMIN_TOKEN) or
// called with the admin bearer token.
//
// How it is wired, and why:
// - @bull-board/elysia builds its plugin asynchronously (it globs its static files), and a
//   Promise handed to `.use()` is not usable here: with Elysia 1.4.30 the lazily added
//   routes never answer (404, and a TypeError inside Elysia). So Bull Board runs in an
//   Elysia app of its own, built on the first request, and this plugin forwards to it.
// - Access is checked on the two forwarding routes themselves (`beforeHandle` in their
//   options), so every path under /admin/queues (the page, ~600 static files, the JSON
//   API) passes the check before Bull Board sees the request. Hooks added around Bull
//   Board's own routes would be fragile: Elysia applies a hook only to routes registered
//   after it.
// - Bull Board's ~600 routes live in the inner app, so they never reach the OpenAPI
//   document; the two forwarding routes are hidden from it.
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ElysiaAdapter } from "@bull-board/elysia";
import { Elysia } from "elysia";
import type { AppDeps } from "../deps.ts";
import { ApiError, ErrorCode, errors } from "../errors.ts";
import { within } from "../within.ts";
import { httpErrors, json } from "../http-errors.ts";
import { errorFields, log } from "../log.ts";
import type { Queues } from "../queue/queues.ts";
import { tokenMatches } from "./auth.ts";

export const BOARD_PATH = "/admin/queues";
export const BOARD_REALM = "Loyalty queues";

const boardUnauthorized = () =>
  ApiError.one(
    401,
    ErrorCode.unauthorized,
    "Нет доступа",
    "Войдите с паролем ADMIN_TOKEN (имя пользователя любое) или передайте заголовок Authorization: Bearer <ADMIN_TOKEN>.",
  );

/** The secret an Authorization header carries: a Basic password (any user) or a Bearer token. */
export function boardSecret(authorization: string | null): string | undefined {
  const m = /^(\S+)\s+(\S+)\s*$/.exec(authorization ?? "");
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme === "bearer") return m[2];
  if (scheme !== "basic") return undefined;
  const decoded = Buffer.from(m[2]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/** undefined when the request may pass; otherwise the 401 that makes a browser ask for a password. */
export function boardAccess(request: Request, adminToken: string): Response | undefined {
  const secret = boardSecret(request.headers.get("authorization"));
  if (adminToken && secret && tokenMatches(secret, adminToken)) return undefined;
  const res = json(401, boardUnauthorized().body);
  res.headers.set("www-authenticate", `Basic realm="${BOARD_REALM}", charset="UTF-8"`);
  res.headers.set("cache-control", "no-store");
  return res;
}

const noQueues = () =>
  ApiError.one(503, ErrorCode.unavailable, "Очереди недоступны", "Этот процесс работает без очередей: панели очередей нечего показать.");

async function buildBoard(queues: Queues) {
  const serverAdapter = new ElysiaAdapter(BOARD_PATH);
  createBullBoard({
    queues: queues.all().map((q) => new BullMQAdapter(q)),
    serverAdapter,
    // Not read-only: operators retry, promote and clean jobs from here.
    options: { uiConfig: { boardTitle: BOARD_REALM } },
  });
  return new Elysia({ normalize: false })
    .use(httpErrors)
    // Bull Board answers a retry or a promote with status 204 and no body; Elysia then
    // builds a Response with an empty-string body, which Deno refuses for 204 (a 500
    // while the job was in fact retried). A null body is right on every runtime.
    .mapResponse({ as: "global" }, ({ set }) => {
      if (set.status === 204 || set.status === 205 || set.status === 304) {
        return new Response(null, { status: set.status, headers: set.headers as HeadersInit });
      }
    })
    .use(await serverAdapter.registerPlugin());
}

export const queueBoard = (deps: AppDeps) => {
  const { queues } = deps;
  let board: ReturnType<typeof buildBoard> | undefined;
  const boardApp = (q: Queues) =>
    (board ??= buildBoard(q).catch((e) => {
      board = undefined; // try again on the next request
      log.error("queue board did not start", errorFields(e));
      throw e;
    }));

  const route = {
    parse: "none" as const, // the body stays unread for Bull Board's own handlers
    detail: { hide: true },
    beforeHandle: ({ request }: { request: Request }) => boardAccess(request, deps.config.adminToken),
  };
  // Bull Board's API reads Redis on every call: a Redis that stopped answering costs the
  // operator a 503 after a few seconds, not a hung page.
  const deadlineMs = 2 * (queues?.commandTimeoutMs ?? 2000);
  const forward = async ({ request }: { request: Request }) => {
    if (!queues) return json(503, noQueues().body);
    const app = await boardApp(queues);
    return within(deadlineMs, app.handle(request)).catch(() => json(503, errors.unavailable("Очереди (Redis)").body));
  };
  return new Elysia().all(BOARD_PATH, forward, route).all(`${BOARD_PATH}/*`, forward, route);
};
