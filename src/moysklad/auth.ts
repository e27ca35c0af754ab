import { Elysia } from "elysia";
import { errors } from "../errors.ts";
import type { TenantDirectory } from "../loyalty/tenants.ts";

/** Where the Loyalty API lives under the merchant's base address. */
export const MOYSKLAD_PREFIX = "/rest/integration/moysklad/v1";

export const AUTH_HEADER = "lognex-discount-api-auth-token";

/** The access key the merchant typed into МойСклад names the tenant of every call. */
export const moyskladAuth = (tenants: TenantDirectory) =>
  new Elysia().derive({ as: "scoped" }, async ({ headers }) => {
    const key = headers[AUTH_HEADER];
    if (!key) throw errors.unauthorized();
    const tenant = await tenants.byApiKey(key);
    if (!tenant) throw (await tenants.isRevokedKey(key)) ? errors.uninstalled() : errors.unauthorized();
    // Suspended in МойСклад (unpaid): the cashier is told, nothing is deleted.
    if (tenant.state !== "active") throw errors.suspended();
    return { tenant };
  });

export const moyskladSecurity = [{ moyskladKey: [] as string[] }];
