// Merchants for operators: create one, replace its POS key, read and change its program.
import { Elysia } from "elysia";
import type { AppDeps } from "../deps.ts";
import { ErrorBody } from "../errors.ts";
import { ProgramPatch, ProgramSettings } from "../loyalty/program.ts";
import { createTenant, rotateApiKey } from "../loyalty/tenants.ts";
import { adminAuth, adminSecurity } from "./auth.ts";
import { TenantCreate, TenantCreated } from "./models.ts";

// cabinet/api.ts still imports the customer view from here.

const detail = (summary: string, description?: string) => ({ tags: ["Администрирование"], summary, description, security: adminSecurity });
const errs = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody };

export const tenantsAdminController = (deps: AppDeps) =>
  new Elysia({ prefix: "/admin/v1" })
    .use(adminAuth(deps.config.adminToken))
    .post(
      "/tenants",
      async ({ body, set }) => {
        const tenant = await createTenant(deps.sql, body);
        set.status = 201;
        return tenant;
      },
      { body: TenantCreate, response: { 201: TenantCreated, ...errs, 409: ErrorBody }, detail: detail("Создать магазин", "Ключ доступа показывается один раз; хранится только его хеш.") },
    )
    .post(
      "/tenants/:slug/api-key",
      async ({ params, set }) => {
        const tenant = await rotateApiKey(deps.sql, params.slug);
        deps.tenants.invalidate(tenant.id);
        set.status = 201;
        return tenant;
      },
      { response: { 201: TenantCreated, ...errs }, detail: detail("Выпустить новый ключ доступа", "Старый ключ перестаёт работать (на других экземплярах API — в пределах CACHE_TTL_SECONDS).") },
    )
    .get("/tenants/:slug/program", async ({ params }) => (await deps.tenants.requireBySlug(params.slug)).program.settings, {
      response: { 200: ProgramSettings, ...errs },
      detail: detail("Настройки программы"),
    })
    .put("/tenants/:slug/program", ({ params, body }) => deps.tenants.updateProgram(params.slug, body), {
      body: ProgramPatch,
      response: { 200: ProgramSettings, ...errs },
      detail: detail("Изменить настройки программы", "Частичное обновление: передайте только меняющиеся поля."),
    });
