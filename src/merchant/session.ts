// The merchant's short session of our own, started after МойСклад vouched for the employee
// (contextKey exchange) or by another sign-in later. Inside МойСклад's iframe third-party
// cookies may be blocked, so the session is a signed token the page carries itself: in a
// hidden form field `session`, the `X-Merchant-Session` header (htmx, fetch) or `?session=`
// in links. Signed (HS256, jose) with a key derived from SECRETS_KEY; nothing is stored.
import { Elysia } from "elysia";
import { jwtVerify, SignJWT } from "jose";
import type { Sql } from "../db/client.ts";
import type { TenantState } from "../loyalty/tenants.ts";
import { deriveKey } from "../secrets.ts";

export const SESSION_FIELD = "session";
export const SESSION_HEADER = "x-merchant-session";
/** Long enough to set up a program in one sitting, short enough that a leaked link soon dies. */
export const SESSION_TTL_S = 2 * 3600;

export type MerchantRole = "admin" | "viewer";

export interface MerchantSessionClaims {
  tenantId: string;
  /** The МойСклад account (for the iframe sessions). */
  accountId: string;
  /** Who: the МойСклад employee id. */
  userId: string;
  role: MerchantRole;
  /** The employee's name as МойСклад gave it (short form), for "decided by"; absent when unknown. */
  name?: string;
}

export interface MerchantTenant {
  id: string;
  slug: string;
  name: string;
  state: TenantState;
}

/** What a guarded route gets. */
export interface Merchant {
  tenant: MerchantTenant;
  canEdit: boolean;
  session: MerchantSessionClaims;
  /** The token to put back into the page (forms, links, htmx headers). */
  token: string;
}

/** Why a request has no usable session, in words for the page. */
export class SessionError extends Error {}

export class MerchantSessions {
  private readonly key: Uint8Array;

  constructor(secretsKey: Buffer) {
    this.key = deriveKey(secretsKey, "merchant-session-v1");
  }

  issue(claims: MerchantSessionClaims, ttlS = SESSION_TTL_S): Promise<string> {
    return new SignJWT({ acc: claims.accountId, role: claims.role, ...(claims.name ? { name: claims.name.slice(0, 100) } : {}) })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(claims.userId)
      .setAudience(`tenant:${claims.tenantId}`)
      .setIssuedAt()
      .setExpirationTime(`${ttlS}s`)
      .sign(this.key);
  }

  async verify(token: string): Promise<MerchantSessionClaims> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ["HS256"], requiredClaims: ["exp", "sub", "aud"] });
      const aud = typeof payload.aud === "string" ? payload.aud : "";
      const role = payload.role;
      if (!aud.startsWith("tenant:") || (role !== "admin" && role !== "viewer") || typeof payload.acc !== "string") throw new Error("claims");
      const name = typeof payload.name === "string" && payload.name ? payload.name : undefined;
      return { tenantId: aud.slice("tenant:".length), accountId: payload.acc, userId: payload.sub!, role, ...(name ? { name } : {}) };
    } catch {
      throw new SessionError("Сеанс истёк или недействителен. Откройте приложение в МойСклад заново.");
    }
  }

  /** The session's merchant, or SessionError. A removed app ends every session at once. */
  async resolve(sql: Sql, token: string | undefined): Promise<Merchant> {
    if (!token) throw new SessionError("Нет сеанса. Откройте приложение в МойСклад заново.");
    const session = await this.verify(token);
    const [tenant] = await sql<MerchantTenant[]>`select id, slug, name, state from tenant where id = ${session.tenantId}`;
    if (!tenant || tenant.state === "uninstalled") throw new SessionError("Приложение удалено из этого аккаунта МойСклад.");
    return { tenant, canEdit: session.role === "admin", session, token };
  }
}

/** The session a request carries: header first, then the form field, then the query. */
export function tokenFrom(headers: Record<string, string | undefined>, query: Record<string, unknown>, body: unknown): string | undefined {
  const fromBody = body && typeof body === "object" ? (body as Record<string, unknown>)[SESSION_FIELD] : undefined;
  const fromQuery = query[SESSION_FIELD];
  return headers[SESSION_HEADER] ?? (typeof fromBody === "string" ? fromBody : undefined) ?? (typeof fromQuery === "string" ? fromQuery : undefined);
}

/**
 * The guard: `.use(merchantGuard(sessions, sql, refused))` gives each route `merchant`
 * ({ tenant, canEdit, … }); without a valid session the route is not run and `refused`
 * answers (a page in words, or JSON for an API).
 */
export const merchantGuard = (sessions: MerchantSessions, sql: Sql, refused: (words: string) => Response | Promise<Response>) =>
  new Elysia({ name: "merchant-session" }).resolve({ as: "scoped" }, async ({ headers, query, body, status }) => {
    try {
      return { merchant: await sessions.resolve(sql, tokenFrom(headers, query as Record<string, unknown>, body)) };
    } catch (e) {
      if (!(e instanceof SessionError)) throw e;
      // The route is not run: the refusal (a page in words, or JSON for an API) answers.
      const page = await refused(e.message);
      return status(page.status as 401, page);
    }
  });
