// Who is looking at a cabinet, decided in this one place. Two ways in, yielding the same
// Viewer:
// - the merchant, from inside МойСклад: the short session our settings page starts once
//   МойСклад vouched for the employee (src/merchant/session.ts). Admins of the account may
//   change things, other employees only look — the settings page's rule. Third-party
//   cookies may be blocked in the iframe, so the pages carry the token in every link and
//   form (Viewer.session);
// - operators, with the ADMIN_TOKEN as the HTTP Basic password (any user name), the same
//   as Bull Board.
//
// Why Basic for operators and not a login form with our own cookie: the browser keeps the
// password for the session and sends it with every request under /cabinet, there is no
// session store or cookie signing to get right, and operators already use it for Bull
// Board. Basic credentials are sent by the browser on cross-site requests too, so every
// state-changing request on them must come from our own pages (Sec-Fetch-Site / Origin
// checked below). A session token is not ambient — a foreign page cannot make the browser
// send it — so it needs no such check (and МойСклад may frame us in a way that makes our
// own requests look cross-site).
import type { AppDeps } from "../deps.ts";
import { boardSecret } from "../admin/board.ts";
import { tokenMatches } from "../admin/auth.ts";
import { ApiError } from "../errors.ts";
import { type MerchantSessions, SessionError } from "../merchant/session.ts";

export interface Viewer {
  tenantId: string;
  slug: string;
  /** The shop's name for the top bar. */
  shopName: string;
  /** False for МойСклад employees without admin rights: they may only look. */
  canEdit: boolean;
  /** The program's time zone: the pages count days and show times in it. */
  timeZone: string;
  /** The МойСклад session the pages must carry in every address and form; null for operators. */
  session: string | null;
  /** Who is acting, in words kept with a decision ("decided by"). */
  who: string;
}

export const CABINET_REALM = "Loyalty cabinet";

export type Refusal = { status: 401 | 403 | 404; message: string; challenge?: boolean };

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** A state-changing request that did not come from a page of ours (cross-site form, foreign script). */
function crossSite(request: Request): boolean {
  if (SAFE_METHODS.has(request.method)) return false;
  const site = request.headers.get("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return true;
  const origin = request.headers.get("origin");
  if (origin && origin !== "null") {
    try {
      return new URL(origin).host !== new URL(request.url).host && origin !== new URL(request.url).origin;
    } catch {
      return true;
    }
  }
  return false;
}

async function tenantOf(deps: AppDeps, slug: string) {
  try {
    return await deps.tenants.requireBySlug(slug);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/**
 * The viewer of `/cabinet/:slug`, or why not. `session`: the token the request carries
 * (header, form field or query; undefined when it carries none) — when present it alone
 * decides, so a merchant's page never turns into a password prompt.
 */
export async function cabinetViewer(
  deps: AppDeps,
  sessions: MerchantSessions | null,
  request: Request,
  slug: string,
  session: string | undefined,
): Promise<Viewer | Refusal> {
  if (session !== undefined) {
    if (!sessions) return { status: 401, message: "Вход из МойСклад на этом сервере не настроен." };
    let merchant;
    try {
      merchant = await sessions.resolve(deps.sql, session);
    } catch (e) {
      if (e instanceof SessionError) return { status: 401, message: e.message };
      throw e;
    }
    if (merchant.tenant.slug !== slug) return { status: 403, message: "Этот сеанс открыт для другого магазина. Откройте приложение в МойСклад заново." };
    const tenant = await tenantOf(deps, slug);
    if (!tenant) return { status: 404, message: `Магазина «${slug}» нет.` };
    return { tenantId: tenant.id, slug: tenant.slug, shopName: tenant.name, canEdit: merchant.canEdit, timeZone: tenant.program.settings.timezone, session, who: merchant.session.name ? `${merchant.session.name} (МойСклад)` : "сотрудник МойСклад" };
  }
  const secret = boardSecret(request.headers.get("authorization"));
  const adminToken = deps.config.adminToken;
  if (!adminToken || !secret || !tokenMatches(secret, adminToken)) {
    // Inside a frame (МойСклад's) a password prompt would only puzzle the merchant: a page
    // that lost its session says how to get a new one instead.
    if (request.headers.get("sec-fetch-dest") === "iframe") return { status: 401, message: "Нет сеанса. Откройте приложение в МойСклад заново." };
    return { status: 401, message: "Войдите: пароль — ADMIN_TOKEN, имя пользователя любое.", challenge: true };
  }
  if (crossSite(request)) return { status: 403, message: "Запрос пришёл не со страницы кабинета — ничего не изменено." };
  const tenant = await tenantOf(deps, slug);
  if (!tenant) return { status: 404, message: `Магазина «${slug}» нет.` };
  return { tenantId: tenant.id, slug: tenant.slug, shopName: tenant.name, canEdit: true, timeZone: tenant.program.settings.timezone, session: null, who: "оператор" };
}

export function isViewer(v: Viewer | Refusal): v is Viewer {
  return "tenantId" in v;
}
