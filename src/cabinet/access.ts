// Who is looking at a cabinet, decided in this one place. Today: operators, with the
// ADMIN_TOKEN as the HTTP Basic password (any user name), the same as Bull Board, or the
// admin bearer token for scripts. The МойСклад iframe session (the merchant themselves;
// read-only for non-admin employees) is to be added here as a second way in, yielding the
// same Viewer.
//
// Why Basic and not a login form with our own cookie: the browser keeps the password for
// the session and sends it with every request under /cabinet, there is no session store
// or cookie signing to get right, and operators already use it for Bull Board. Basic
// credentials are sent by the browser on cross-site requests too, so every state-changing
// request must come from our own pages (Sec-Fetch-Site / Origin checked below).
import type { AppDeps } from "../deps.ts";
import { boardSecret } from "../admin/board.ts";
import { tokenMatches } from "../admin/auth.ts";
import { ApiError } from "../errors.ts";

export interface Viewer {
  tenantId: string;
  slug: string;
  /** The shop's name for the top bar. */
  shopName: string;
  /** False for viewers who may only look (МойСклад employees without admin rights, later). */
  canEdit: boolean;
  /** The program's time zone: the pages count days and show times in it. */
  timeZone: string;
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

export async function cabinetViewer(deps: AppDeps, request: Request, slug: string): Promise<Viewer | Refusal> {
  const secret = boardSecret(request.headers.get("authorization"));
  const adminToken = deps.config.adminToken;
  if (!adminToken || !secret || !tokenMatches(secret, adminToken)) {
    return { status: 401, message: "Войдите: пароль — ADMIN_TOKEN, имя пользователя любое.", challenge: true };
  }
  if (crossSite(request)) return { status: 403, message: "Запрос пришёл не со страницы кабинета — ничего не изменено." };
  let tenant;
  try {
    tenant = await deps.tenants.requireBySlug(slug);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return { status: 404, message: `Магазина «${slug}» нет.` };
    throw e;
  }
  return { tenantId: tenant.id, slug: tenant.slug, shopName: tenant.name, canEdit: true, timeZone: tenant.program.settings.timezone };
}

export function isViewer(v: Viewer | Refusal): v is Viewer {
  return "tenantId" in v;
}
