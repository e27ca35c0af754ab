// Our calls to МойСклад: apps-api (Vendor API: context, loyalty registration, status) signed
// with our app token, and the JSON API 1.2 with the install's access token. Every call has a
// timeout, retries 5xx/429/network failures with backoff, and turns МойСклад's error body
// into a sentence the merchant can read.
import type { MoyskladConfig } from "../config.ts";
import { log } from "../log.ts";
import { signOutgoing } from "./vendor-jwt.ts";

export interface ClientOptions {
  timeoutMs?: number;
  attempts?: number;
  /** First backoff; doubles each retry. */
  backoffMs?: number;
}

/** A failed call, with `words` fit for the merchant's page. */
export class MoyskladError extends Error {
  constructor(
    readonly status: number,
    readonly words: string,
    readonly code?: number,
  ) {
    super(`МойСклад ${status}: ${words}`);
  }
}

/** The employee behind a contextKey (as `GET /context/employee`). */
export interface Employee {
  id: string;
  accountId: string;
  uid?: string;
  fullName?: string;
  shortFio?: string;
  email?: string;
  permissions?: Record<string, any>;
}

export interface CatalogFolder {
  id: string;
  name: string;
  pathName: string;
  parentId: string | null;
}

export interface CatalogGood {
  id: string;
  folderId: string;
}

const STATUS_WORDS: Record<number, string> = {
  400: "МойСклад отклонил запрос",
  401: "МойСклад не принял подпись приложения (проверьте MOYSKLAD_SECRET_KEY и MOYSKLAD_APP_UID)",
  403: "нет доступа",
  404: "не найдено (приложение не установлено на этот аккаунт или ссылка устарела)",
  409: "МойСклад не разрешает этот переход статуса",
  415: "МойСклад требует Accept-Encoding: gzip",
  429: "МойСклад просит повторить позже (слишком много запросов)",
};

async function wordsOf(res: Response): Promise<{ words: string; code?: number }> {
  let first: { error?: string; code?: number } | undefined;
  try {
    const body: any = await res.json();
    first = Array.isArray(body?.errors) ? body.errors[0] : undefined;
  } catch {
    // not JSON: the status says enough
  }
  const base = STATUS_WORDS[res.status] ?? (res.status >= 500 ? "МойСклад временно недоступен" : `ошибка ${res.status}`);
  const detail = first?.error ?? res.headers.get("x-lognex-auth-message") ?? "";
  return { words: detail ? `${base}: ${detail}` : base, code: first?.code };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uuidOf = (href: string | undefined) => href?.match(/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:\?|$)/i)?.[1]?.toLowerCase() ?? null;

export class MoyskladClient {
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly backoffMs: number;

  constructor(
    private readonly cfg: MoyskladConfig,
    opts: ClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.attempts = opts.attempts ?? 3;
    this.backoffMs = opts.backoffMs ?? 300;
  }

  /** One call with retries; `auth` is made per attempt (our tokens need a fresh jti each time). */
  private async call(method: string, url: string, auth: () => Promise<string>, body?: unknown): Promise<Response> {
    let last: MoyskladError | undefined;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await sleep(this.backoffMs * 2 ** (attempt - 2));
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${await auth()}`,
            "accept-encoding": "gzip",
            accept: "application/json;charset=utf-8",
            ...(body !== undefined ? { "content-type": "application/json" } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (e) {
        const timedOut = (e as Error)?.name === "TimeoutError";
        last = new MoyskladError(0, timedOut ? `МойСклад не ответил за ${Math.round(this.timeoutMs / 1000)} с` : "МойСклад недоступен (нет соединения)");
        log.warn("МойСклад call failed", { method, url, attempt, err: (e as Error)?.message });
        continue;
      }
      if (res.ok) return res;
      const { words, code } = await wordsOf(res);
      last = new MoyskladError(res.status, words, code);
      if (res.status !== 429 && res.status < 500) break;
      log.warn("МойСклад call will be retried", { method, url, attempt, status: res.status });
    }
    throw last!;
  }

  private vendor(method: string, path: string, body?: unknown): Promise<Response> {
    return this.call(method, this.cfg.vendorApiUrl + path, () => signOutgoing(this.cfg.appUid, this.cfg.secretKey), body);
  }

  /** Exchanges the iframe's contextKey for the employee who opened our page. */
  async employeeByContextKey(contextKey: string): Promise<Employee> {
    const res = await this.vendor("POST", `/context/${encodeURIComponent(contextKey)}`);
    return (await res.json()) as Employee;
  }

  /** Tells МойСклад where the POS finds us and with which key. */
  async registerLoyalty(accountId: string, body: { url: string; token: string; externalSearch: boolean }): Promise<void> {
    await this.vendor("PUT", `/apps/${this.cfg.appId}/${accountId}/loyalty`, body);
  }

  async reportStatus(accountId: string, status: "Activated" | "SettingsRequired" | "Activating"): Promise<void> {
    await this.vendor("PUT", `/apps/${this.cfg.appId}/${accountId}/status`, { status });
  }

  private async jsonPages(token: string, entity: string): Promise<any[]> {
    const rows: any[] = [];
    const limit = 1000;
    for (let offset = 0; ; offset += limit) {
      const res = await this.call("GET", `${this.cfg.jsonApiUrl}/entity/${entity}?limit=${limit}&offset=${offset}`, async () => token);
      const page: any = await res.json();
      const got: any[] = Array.isArray(page?.rows) ? page.rows : [];
      rows.push(...got);
      const size = Number(page?.meta?.size ?? rows.length);
      if (got.length < limit || rows.length >= size) return rows;
    }
  }

  /** The merchant's product groups and which group each good is in (variants: their product's). */
  async catalog(token: string): Promise<{ folders: CatalogFolder[]; goods: CatalogGood[] }> {
    const folderRows = await this.jsonPages(token, "productfolder");
    const folders: CatalogFolder[] = folderRows
      .filter((f) => typeof f?.id === "string")
      .map((f) => ({ id: f.id, name: String(f.name ?? ""), pathName: String(f.pathName ?? ""), parentId: uuidOf(f.productFolder?.meta?.href) }));
    const rows = await this.jsonPages(token, "assortment");
    const folderOfProduct = new Map<string, string>();
    for (const r of rows) {
      const folderId = uuidOf(r?.productFolder?.meta?.href);
      if (folderId && typeof r?.id === "string") folderOfProduct.set(r.id, folderId);
    }
    const goods: CatalogGood[] = [];
    for (const r of rows) {
      if (typeof r?.id !== "string") continue;
      const folderId = folderOfProduct.get(r.id) ?? (r.meta?.type === "variant" ? folderOfProduct.get(uuidOf(r.product?.meta?.href) ?? "") : undefined);
      if (folderId) goods.push({ id: r.id, folderId });
    }
    return { folders, goods };
  }
}
