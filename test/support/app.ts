// An in-process app on a fresh database, with helpers that speak to it the way the POS
// and an operator do (real Requests through the app's fetch handler).
import { createApp } from "../../src/app.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import type { AppDeps } from "../../src/deps.ts";
import { TenantDirectory } from "../../src/loyalty/tenants.ts";
import { MOYSKLAD_PREFIX } from "../../src/moysklad/auth.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";

export const ADMIN_TOKEN = "test-admin-token-0123456789";
/** Where the POS calls go. Tests that pin the public address itself spell it out. */
export const MS = MOYSKLAD_PREFIX;

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface TestTenant {
  id: string;
  slug: string;
  apiToken: string;
}

export interface TestContext {
  db: TestDatabase;
  deps: AppDeps;
  app: ReturnType<typeof createApp>;
  fetch(path: string, init?: RequestInit): Promise<Reply>;
  admin(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  pos(key: string, method: string, path: string, body?: unknown): Promise<Reply>;
  createTenant(slug?: string): Promise<TestTenant>;
  close(): Promise<void>;
}

let seq = 0;

/** `env`: settings as the environment would give them (e.g. limits), read by loadConfig. */
export async function testContext(overrides: Partial<AppDeps> = {}, env: Record<string, string> = {}): Promise<TestContext> {
  const db = await createTestDatabase();
  const config: Config = { ...loadConfig(env), adminToken: ADMIN_TOKEN, databaseUrl: db.url };
  const deps: AppDeps = { config, sql: db.sql, tenants: new TenantDirectory(db.sql, 0), ...overrides };
  const app = createApp(deps);
  const fetch = async (path: string, init?: RequestInit): Promise<Reply> => {
    const res = await app.handle(new Request(`http://loyalty.test${path}`, init));
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body, headers: res.headers };
  };
  const send = (method: string, path: string, body: unknown, headers: Record<string, string>) =>
    fetch(path, {
      method,
      headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  const ctx: TestContext = {
    db,
    deps,
    app,
    fetch,
    admin: (method, path, body, headers = {}) =>
      send(method, `/admin/v1${path}`, body, { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers }),
    pos: (key, method, path, body) => send(method, `${MS}${path}`, body, { "Lognex-Discount-API-Auth-Token": key }),
    async createTenant(slug = `shop-${process.pid}-${++seq}`) {
      const r = await ctx.admin("POST", "/tenants", { slug, name: `Магазин ${slug}` });
      if (r.status !== 201) throw new Error(`tenant not created: ${r.status} ${JSON.stringify(r.body)}`);
      return { id: r.body.id, slug, apiToken: r.body.apiToken };
    },
    close: () => db.drop(),
  };
  return ctx;
}
