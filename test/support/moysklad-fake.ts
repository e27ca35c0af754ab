// A loopback stand-in of МойСклад for the app catalog: apps-api (Vendor API 1.0: context
// exchange, loyalty registration, status) and the JSON API 1.2 (product folders,
// assortment). It checks our tokens the way МойСклад does (HS256 with the app's secret,
// sub = appUid, a fresh jti, at most 300 s old, Accept-Encoding: gzip) and records every
// request. It also plays МойСклад's side of the lifecycle: signed PUT/DELETE calls to us.
import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { jwtVerify, SignJWT } from "jose";
import { serveLoopback } from "./runtime.ts";

export interface FakeRequest {
  method: string;
  path: string;
  body: any;
  /** Why the fake refused the call, if it did. */
  refused?: string;
}

export interface FakeEmployee {
  id: string;
  accountId: string;
  uid: string;
  fullName: string;
  permissions: Record<string, any>;
}

export interface FakeFolder {
  id: string;
  name: string;
  parentId?: string;
}

export interface FakeGood {
  id: string;
  name: string;
  type: "product" | "service" | "variant";
  folderId?: string;
  /** Variants: their product. */
  productId?: string;
}

interface Account {
  /** The fake's idea of the install's status in МойСклад. */
  status: string;
  jsonToken: string | null;
  loyalty: { url: string; token: string; externalSearch: boolean } | null;
  folders: FakeFolder[];
  goods: FakeGood[];
}

const enc = new TextEncoder();

export interface MoyskladFake {
  url: string;
  vendorApiUrl: string;
  jsonApiUrl: string;
  requests: FakeRequest[];
  accounts: Map<string, Account>;
  /** A contextKey the page can be opened with, for an employee of the account. */
  contextKey(accountId: string, admin: boolean): string;
  /** The account's catalog, as the JSON API serves it. */
  catalog(accountId: string, folders: FakeFolder[], goods: FakeGood[]): void;
  /** Answer the next `n` calls to a path with this status (5xx: our client retries), optionally with МойСклад's own error text and code. */
  failNext(pathSuffix: string, status: number, n?: number, answer?: { error: string; code: number }): void;
  /** МойСклад → us: a signed lifecycle call. Returns the status and the body text. */
  lifecycle(ourBase: string, method: "PUT" | "DELETE" | "GET", accountId: string, body?: unknown, opts?: { token?: string; requestId?: string }): Promise<{ status: number; text: string }>;
  /** A token as МойСклад would sign it (override claims/secret to forge one). */
  token(opts?: { secret?: string; exp?: number; iat?: number; jti?: string }): Promise<string>;
  close(): void;
}

export function moyskladFake(app: { appId: string; appUid: string; secret: string }): MoyskladFake {
  const requests: FakeRequest[] = [];
  const accounts = new Map<string, Account>();
  const contexts = new Map<string, FakeEmployee>();
  const seenJti = new Set<string>();
  const failures: { suffix: string; status: number; n: number; answer?: { error: string; code: number } }[] = [];
  const key = enc.encode(app.secret);

  const account = (id: string) => {
    let a = accounts.get(id);
    if (!a) accounts.set(id, (a = { status: "none", jsonToken: null, loyalty: null, folders: [], goods: [] }));
    return a;
  };

  const json = (body: unknown, status = 200, gzip = true) => {
    const text = JSON.stringify(body);
    // Answer compressed, as МойСклад does, so our client's gzip handling runs.
    return gzip
      ? new Response(gzipSync(enc.encode(text)), { status, headers: { "content-type": "application/json;charset=utf-8", "content-encoding": "gzip" } })
      : new Response(text, { status, headers: { "content-type": "application/json;charset=utf-8" } });
  };
  const error = (status: number, text: string, code = 1000) => json({ errors: [{ error: text, code }] }, status);

  async function checkOurToken(req: Request): Promise<string | null> {
    const auth = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1];
    if (!auth) return "no token";
    try {
      const { payload, protectedHeader } = await jwtVerify(auth, key, { algorithms: ["HS256"] });
      if (protectedHeader.alg !== "HS256") return "alg";
      if (payload.sub !== app.appUid) return `sub ${payload.sub}`;
      if (typeof payload.jti !== "string" || seenJti.has(payload.jti)) return "jti reused";
      seenJti.add(payload.jti);
      const now = Math.floor(Date.now() / 1000);
      if (typeof payload.iat !== "number" || now - payload.iat > 300 || payload.iat > now + 5) return "iat";
      return null;
    } catch (e) {
      return `jwt: ${(e as Error).message}`;
    }
  }

  const meta = (entity: string, id: string, base: string) => ({ href: `${base}/entity/${entity}/${id}`, type: entity });

  let port = 0;
  const server = serveLoopback(async (req): Promise<Response> => {
    const url = new URL(req.url);
    const text = await req.text();
    let body: any = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    const r: FakeRequest = { method: req.method, path: url.pathname + url.search, body };
    requests.push(r);
    const refuse = (why: string, res: Response) => ((r.refused = why), res);
    if (!(req.headers.get("accept-encoding") ?? "").includes("gzip")) return refuse("no gzip", error(415, "Необходимо указать заголовок Accept-Encoding: gzip", 1062));
    const f = failures.find((x) => x.n > 0 && url.pathname.endsWith(x.suffix));
    if (f) {
      f.n--;
      return refuse(`failNext ${f.status}`, error(f.status, f.answer?.error ?? "Сервис временно недоступен", f.answer?.code));
    }
    const base: string = `http://127.0.0.1:${port}`;
    const jsonBase: string = `${base}/api/remap/1.2`;

    // ── apps-api ──
    let m = /^\/api\/vendor\/1\.0\/context\/(.+)$/.exec(url.pathname);
    if (m && req.method === "POST") {
      const why = await checkOurToken(req);
      if (why) return refuse(why, error(401, "Ошибка аутентификации", 1056));
      const emp = contexts.get(decodeURIComponent(m[1]!));
      return emp ? json(emp) : refuse("unknown key", error(404, "Контекст не найден"));
    }
    m = /^\/api\/vendor\/1\.0\/apps\/([^/]+)\/([^/]+)\/(loyalty|status)$/.exec(url.pathname);
    if (m) {
      const why = await checkOurToken(req);
      if (why) return refuse(why, error(401, "Ошибка аутентификации", 1056));
      if (m[1] !== app.appId) return refuse("app", error(404, "Приложение не найдено", 2004));
      const a = accounts.get(m[2]!);
      if (!a || a.status === "none" || a.status === "Uninstalled") return refuse("not installed", error(404, "Приложение не установлено", 2004));
      if (m[3] === "loyalty" && req.method === "PUT") {
        if (!["SettingsRequired", "Activated"].includes(a.status)) return refuse("status", error(400, "Неверный статус приложения"));
        if (typeof body?.url !== "string" || typeof body?.token !== "string" || typeof body?.externalSearch !== "boolean") return refuse("body", error(400, "Неверное тело запроса"));
        a.loyalty = body;
        return new Response(null, { status: 200 });
      }
      if (m[3] === "status" && req.method === "PUT") {
        const next = body?.status;
        if (!["Activated", "SettingsRequired", "Activating"].includes(next)) return refuse("body", error(400, "Неверный статус"));
        if (a.status === next) return new Response(null, { status: 200 });
        if (a.status === "Suspended") return refuse("transition", error(409, "Переход статуса запрещён"));
        a.status = next;
        return new Response(null, { status: 200 });
      }
      if (m[3] === "status" && req.method === "GET") return json({ status: a.status });
      return refuse("method", error(405, "Метод не поддерживается"));
    }

    // ── JSON API ──
    m = /^\/api\/remap\/1\.2\/entity\/(productfolder|assortment)$/.exec(url.pathname);
    if (m && req.method === "GET") {
      const token = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1];
      const a = [...accounts.values()].find((x) => x.jsonToken && x.jsonToken === token);
      if (!a) return refuse("json token", error(401, "Ошибка аутентификации: неверный токен", 1056));
      const limit = Math.min(Number(url.searchParams.get("limit") ?? 1000), 1000);
      const offset = Number(url.searchParams.get("offset") ?? 0);
      const all: any[] =
        m[1] === "productfolder"
          ? a.folders.map((f) => {
              const parent = f.parentId ? a.folders.find((p) => p.id === f.parentId) : undefined;
              return { meta: meta("productfolder", f.id, jsonBase), id: f.id, name: f.name, pathName: parent ? parent.name : "", ...(f.parentId ? { productFolder: { meta: meta("productfolder", f.parentId, jsonBase) } } : {}) };
            })
          : a.goods.map((g) => ({
              meta: meta(g.type, g.id, jsonBase),
              id: g.id,
              name: g.name,
              ...(g.folderId ? { productFolder: { meta: meta("productfolder", g.folderId, jsonBase) } } : {}),
              ...(g.productId ? { product: { meta: meta("product", g.productId, jsonBase) } } : {}),
            }));
      return json({ meta: { size: all.length, limit, offset }, rows: all.slice(offset, offset + limit) });
    }
    return refuse("route", error(404, "Не найдено"));
  });

  port = server.port;
  const url = `http://127.0.0.1:${port}`;
  const fake: MoyskladFake = {
    url,
    vendorApiUrl: `${url}/api/vendor/1.0`,
    jsonApiUrl: `${url}/api/remap/1.2`,
    requests,
    accounts,
    contextKey(accountId, admin) {
      const k = `ctx-${randomUUID()}`;
      contexts.set(k, {
        id: randomUUID(),
        accountId,
        uid: admin ? "admin@shop1" : "cashier@shop1",
        fullName: admin ? "Администратор" : "Кассир",
        permissions: admin ? { admin: { view: "ALL" }, product: { view: "ALL" } } : { admin: { view: "NO" }, product: { view: "ALL" } },
      });
      return k;
    },
    catalog(accountId, folders, goods) {
      const a = account(accountId);
      a.folders = folders;
      a.goods = goods;
    },
    failNext(suffix, status, n = 1, answer) {
      failures.push({ suffix, status, n, answer });
    },
    token: (opts = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({})
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setIssuedAt(opts.iat ?? now)
        .setExpirationTime(opts.exp ?? now + 60)
        .setJti(opts.jti ?? randomUUID())
        .sign(enc.encode(opts.secret ?? app.secret));
    },
    async lifecycle(ourBase, method, accountId, body, opts = {}) {
      const token = opts.token ?? (await fake.token());
      const a = account(accountId);
      if (method === "PUT" && body && (body as any).access?.[0]?.access_token) a.jsonToken = (body as any).access[0].access_token;
      const res = await fetch(`${ourBase}/api/moysklad/vendor/1.0/apps/${app.appId}/${accountId}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(opts.requestId ? { X_Lognex_RequestId: opts.requestId } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status === 200 && method === "PUT") a.status = JSON.parse(text).status;
      if (res.status === 200 && method === "DELETE") {
        a.status = (body as any)?.cause === "Suspend" ? "Suspended" : "Uninstalled";
        a.jsonToken = null;
      }
      return { status: res.status, text };
    },
    close: () => void server.stop(),
  };
  return fake;
}

/** A token with `alg: none` (no signature). */
export function unsignedToken(): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: "none", typ: "JWT" })}.${b64({ iat: now, exp: now + 60, jti: randomUUID() })}.`;
}
