// Promotions of a merchant: /admin/v1/tenants/:slug/promotions.
import { Elysia, t } from "elysia";
import type { AppDeps } from "../deps.ts";
import { ErrorBody } from "../errors.ts";
import {
  createPromotion,
  endPromotion,
  listPromotions,
  type Promotion as PromotionValue,
  PromotionFields,
  PromotionPatch,
  updatePromotion,
} from "../loyalty/promotions.ts";
import { adminAuth, adminSecurity } from "./auth.ts";

export const Promotion = t.Object({
  id: t.String(),
  name: t.String(),
  startsAt: t.String(),
  endsAt: t.String(),
  weekdays: t.Nullable(t.Array(t.Integer())),
  hours: t.Nullable(t.Object({ from: t.String(), to: t.String() })),
  assortmentIds: t.Nullable(t.Array(t.String())),
  earnPercent: t.Nullable(t.Number()),
  earnMultiplier: t.Nullable(t.Number()),
  endedAt: t.Nullable(t.String({ description: "когда акцию удалили (она остаётся в истории)" })),
});

function promotionView(p: PromotionValue): typeof Promotion.static {
  return {
    ...p,
    startsAt: p.startsAt.toISOString(),
    endsAt: p.endsAt.toISOString(),
    endedAt: p.endedAt?.toISOString() ?? null,
  };
}

const detail = (summary: string, description?: string) => ({ tags: ["Акции"], summary, description, security: adminSecurity });
const errs = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody };
const params = t.Object({ slug: t.String(), id: t.String({ format: "uuid" }) });

export const promotionsController = (deps: AppDeps) => {
  // A change reaches this process's tills at once, others within CACHE_TTL_SECONDS.
  const changed = (tenantId: string) => deps.tenants.invalidate(tenantId);
  return new Elysia({ prefix: "/admin/v1/tenants/:slug/promotions" })
    .use(adminAuth(deps.config.adminToken))
    .post(
      "",
      async ({ params, body, set }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const p = await createPromotion(deps.sql, tenant.id, tenant.program.settings.timezone, body);
        changed(tenant.id);
        set.status = 201;
        return promotionView(p);
      },
      { body: PromotionFields, response: { 201: Promotion, ...errs }, detail: detail("Создать акцию", "Одно из earnPercent или earnMultiplier. Действует на чеки, время которых попадает в акцию.") },
    )
    .get(
      "",
      async ({ params }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        return { rows: (await listPromotions(deps.sql, tenant.id)).map(promotionView) };
      },
      { response: { 200: t.Object({ rows: t.Array(Promotion) }), ...errs }, detail: detail("Акции магазина", "Новые первыми, вместе с завершёнными.") },
    )
    .put(
      "/:id",
      async ({ params, body }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const p = await updatePromotion(deps.sql, tenant.id, tenant.program.settings.timezone, params.id, body);
        changed(tenant.id);
        return promotionView(p);
      },
      { params, body: PromotionPatch, response: { 200: Promotion, ...errs, 409: ErrorBody }, detail: detail("Изменить акцию", "Частичное обновление.") },
    )
    .delete(
      "/:id",
      async ({ params }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        await endPromotion(deps.sql, tenant.id, params.id);
        changed(tenant.id);
        // Not `set.status = 204`: Elysia then builds a Response with an empty-string body,
        // which Deno refuses for 204 (a 500 after the promotion was ended).
        return new Response(null, { status: 204 });
      },
      { params, response: { 204: t.Void(), ...errs }, detail: detail("Завершить акцию", "Акция перестаёт действовать и остаётся в истории.") },
    );
};
