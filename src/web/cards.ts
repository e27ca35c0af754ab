// The customer's web card: public endpoints (no admin token) that a browser page or the
// merchant's installed web card calls to receive Web Push messages.
//
//   GET    /web/v1/push/public-key                               → { publicKey } (503 when push is off)
//   POST   /web/v1/:slug/cards/:qrToken/push-subscriptions        PushSubscription JSON → 201 (200 when known)
//   DELETE /web/v1/:slug/cards/:qrToken/push-subscriptions        { endpoint } → 204
//
// The customer is named by the QR token of their card within the merchant (the same token
// the POS scans), so the card's page needs nothing else.
import { Elysia, t } from "elysia";
import type { AppDeps } from "../deps.ts";
import { ApiError, ErrorCode, errors, ErrorBody } from "../errors.ts";
import { customerByQrToken, MAX_SUBSCRIPTIONS_PER_CUSTOMER, subscribe, unsubscribe } from "../loyalty/push-subscriptions.ts";
import { notifyConfig } from "../notify/config.ts";
import { clientAddress } from "../request-guard.ts";
import { checkPushEndpoint, systemResolver } from "./push-endpoint.ts";
import { RateLimiter } from "./rate-limit.ts";

export { MAX_SUBSCRIPTIONS_PER_CUSTOMER };

const base64url = "^[A-Za-z0-9_\\-+/]+={0,2}$";

const PushKeys = t.Object({
  p256dh: t.String({ minLength: 20, maxLength: 200, pattern: base64url, description: "Открытый ключ браузера (P-256), base64url" }),
  auth: t.String({ minLength: 8, maxLength: 100, pattern: base64url, description: "Секрет аутентификации, base64url" }),
});

export const PushSubscriptionBody = t.Object(
  {
    endpoint: t.String({ minLength: 10, maxLength: 2048, description: "Адрес push-сервиса браузера (https)" }),
    expirationTime: t.Optional(t.Nullable(t.Number())),
    keys: PushKeys,
  },
  { description: "PushSubscription.toJSON() из браузера" },
);

export const PushUnsubscribeBody = t.Object({ endpoint: t.String({ minLength: 10, maxLength: 2048 }) });

export const PushSubscriptionView = t.Object({
  id: t.String(),
  endpoint: t.String(),
  createdAt: t.String({ description: "Когда браузер подписался (последний раз)" }),
});

const Params = t.Object({ slug: t.String({ maxLength: 100 }), qrToken: t.String({ minLength: 1, maxLength: 200 }) });

function decodedLength(b64: string): number {
  return Buffer.from(b64, "base64url").length;
}

const pushNotConfigured = () =>
  ApiError.one(503, ErrorCode.unavailable, "Уведомления не настроены", "Web Push не настроен на сервере (нет ключей VAPID).");

export interface WebCardOptions {
  /** The VAPID public key browsers subscribe with; null/undefined → push is off. */
  vapidPublicKey?: string | null;
}

const detail = (summary: string, description?: string) => ({ tags: ["Карта покупателя"], summary, description });

export const webCardController = (
  deps: AppDeps,
  opts: WebCardOptions = { vapidPublicKey: notifyConfig().push?.publicKey ?? null },
) => {
  const { limits } = deps.config;
  const resolveHost = deps.resolveHost ?? systemResolver;
  // Anyone can call these: each client address, and each card, gets a few calls a
  // minute — ample for a browser, useless for filling our tables or probing tokens.
  const perAddress = new RateLimiter(limits.webPerIpPerMinute);
  const perCard = new RateLimiter(limits.webPerCardPerMinute);
  const admit = (limiter: RateLimiter, key: string) => {
    const wait = limiter.take(key);
    if (wait > 0) throw errors.tooManyRequests(wait);
  };

  async function customerOf(slug: string, qrToken: string): Promise<{ tenantId: string; customerId: string }> {
    admit(perCard, `${slug}/${qrToken}`);
    const tenant = await deps.tenants.bySlug(slug);
    if (!tenant) throw errors.notFound(`Магазин «${slug}» не найден.`, "slug");
    const customerId = await customerByQrToken(deps.sql, tenant.id, qrToken);
    if (!customerId) throw errors.customerNotFound("qrToken");
    return { tenantId: tenant.id, customerId };
  }

  return new Elysia({ prefix: "/web/v1" })
    .onBeforeHandle(({ request }) => {
      // No address (an in-process call) → no per-address count; the per-card one still holds.
      const address = clientAddress(request, limits.trustProxy);
      if (address) admit(perAddress, address);
    })
    .get(
      "/push/public-key",
      () => {
        if (!opts.vapidPublicKey) throw pushNotConfigured();
        return { publicKey: opts.vapidPublicKey };
      },
      {
        response: { 200: t.Object({ publicKey: t.String() }), 503: ErrorBody },
        detail: detail("Ключ VAPID для подписки браузера", "applicationServerKey для PushManager.subscribe()."),
      },
    )
    .post(
      "/:slug/cards/:qrToken/push-subscriptions",
      async ({ params, body, set }) => {
        if (decodedLength(body.keys.p256dh) !== 65) throw errors.validation("«keys.p256dh»: ожидается открытый ключ P-256 (65 байт).", "keys.p256dh");
        if (decodedLength(body.keys.auth) !== 16) throw errors.validation("«keys.auth»: ожидается секрет из 16 байт.", "keys.auth");
        const { tenantId, customerId } = await customerOf(params.slug, params.qrToken);
        await checkPushEndpoint(body.endpoint, resolveHost);
        const row = await subscribe(deps.sql, tenantId, customerId, { endpoint: body.endpoint, ...body.keys });
        set.status = row.inserted ? 201 : 200;
        return { id: row.id, endpoint: body.endpoint, createdAt: row.createdAt.toISOString() };
      },
      {
        params: Params,
        body: PushSubscriptionBody,
        response: { 200: PushSubscriptionView, 201: PushSubscriptionView, 400: ErrorBody, 404: ErrorBody, 429: ErrorBody },
        detail: detail(
          "Подписать браузер на уведомления",
          "Повторная подписка того же браузера (тот же endpoint) идемпотентна и снова включает истёкшую подписку.",
        ),
      },
    )
    .delete(
      "/:slug/cards/:qrToken/push-subscriptions",
      async ({ params, body }) => {
        const { tenantId, customerId } = await customerOf(params.slug, params.qrToken);
        await unsubscribe(deps.sql, tenantId, customerId, body.endpoint);
        return new Response(null, { status: 204 });
      },
      {
        params: Params,
        body: PushUnsubscribeBody,
        response: { 400: ErrorBody, 404: ErrorBody, 429: ErrorBody },
        detail: detail("Отписать браузер", "Ответ 204 и тогда, когда такой подписки уже нет."),
      },
    );
};
