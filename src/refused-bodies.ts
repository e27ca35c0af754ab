// A POS body we refuse — too large, not JSON, nested too deeply, unreadable JSON, nothing
// usable in it — may be a completed sale the till will not send again: it never vanishes
// silently. Each refusal writes one warn line with what the request said about itself
// (path, content type, declared length, the reason and status) and the tenant when this
// process already knows the key — never a byte of the body. A flood of refusals (a
// hostile client, a broken till in a loop) writes one line per cause per interval; the
// next line of that cause says how many were held back meanwhile.
import { throttledLog } from "./log-throttle.ts";

export type RefusalReason = "too large" | "not JSON" | "nested too deeply" | "unreadable JSON" | "nothing usable";

export interface RefusedBody {
  path: string;
  status: number;
  reason: RefusalReason;
  contentType: string | null;
  /** Content-Length as sent; null for a chunked body or one that said nothing. */
  declaredBytes: number | null;
  /** Known only when the key was already looked up by this process. */
  tenantId?: string;
}

export const REFUSED_BODY_MESSAGE = "POS body refused";
export const REFUSED_BODY_LOG_INTERVAL_MS = 10_000;

const throttled = throttledLog("warn", REFUSED_BODY_LOG_INTERVAL_MS);

/**
 * Writes the refusal's line (throttled per reason and tenant: a flood under one key or
 * without one does not hide another shop's refusals; the causes are as few as the tenants).
 */
export function logRefusedBody(refusal: RefusedBody, extra: Record<string, unknown> = {}): void {
  const { tenantId, ...rest } = refusal;
  // Headers and paths are the client's words: kept short so a line stays a line.
  rest.path = rest.path.slice(0, 200);
  rest.contentType = rest.contentType?.slice(0, 100) ?? null;
  const fields = tenantId ? { ...rest, tenantId, ...extra } : { ...rest, ...extra };
  throttled(REFUSED_BODY_MESSAGE, fields, `${refusal.status} ${refusal.reason} ${tenantId ?? "-"}`);
}

/** Content-Length as a number, or null when absent or not a length. */
export function declaredBytes(request: Request): number | null {
  const v = request.headers.get("content-length");
  if (v === null || !/^\d{1,15}$/.test(v.trim())) return null;
  return Number(v);
}

/**
 * POS requests the guard let through, with how to name their tenant cheaply, so that a
 * refusal further on (unreadable JSON) can say whose it was.
 */
const posRequests = new WeakMap<Request, () => string | undefined>();

export function markPosRequest(request: Request, tenantOf: () => string | undefined): Request {
  posRequests.set(request, tenantOf);
  return request;
}

/** undefined: not a POS request; else the lookup of its tenant. */
export function posTenantLookup(request: Request): (() => string | undefined) | undefined {
  return posRequests.get(request);
}
