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
import { ApiError, ErrorCode, errors } from "../errors.ts";
import { ErrorBody } from "../moysklad/models.ts";
import { notifyConfig } from "../notify/config.ts";

/** A customer keeps at most this many active browsers; older ones are retired. */
export const MAX_SUBSCRIPTIONS_PER_CUSTOMER = 10;

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

/** Push services are public https origins; anything else is refused (no requests to our own network). */
function checkEndpoint(endpoint: string, allowInsecure: boolean): void {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw errors.validation("«endpoint» должен быть адресом push-сервиса браузера.", "endpoint");
  }
  if (allowInsecure && (url.protocol === "http:" || url.protocol === "https:")) return;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const ipLiteral = /^[0-9.]+$/.test(host) || host.includes(":");
  if (url.protocol !== "https:" || ipLiteral || host === "localhost" || host.endsWith(".localhost") || !host.includes(".")) {
    throw errors.validation("«endpoint» должен быть https-адресом push-сервиса браузера.", "endpoint");
  }
}

const pushNotConfigured = () =>
  ApiError.one(503, ErrorCode.unavailable, "Уведомления не настроены", "Web Push не настроен на сервере (нет ключей VAPID).");

export interface WebCardOptions {
  /** The VAPID public key browsers subscribe with; null/undefined → push is off. */
  vapidPublicKey?: string | null;
  /** Accept http:// and loopback endpoints (tests with a fake push service only). */
  allowInsecureEndpoints?: boolean;
}

const detail = (summary: string, description?: string) => ({ tags: ["Карта покупателя"], summary, description });

export const webCardController = (
  deps: AppDeps,
  opts: WebCardOptions = { vapidPublicKey: notifyConfig().push?.publicKey ?? null },
) => {
  async function customerOf(slug: string, qrToken: string): Promise<{ tenantId: string; customerId: string }> {
    const tenant = await deps.tenants.bySlug(slug);
    if (!tenant) throw errors.notFound(`Магазин «${slug}» не найден.`, "slug");
    const [row] = await deps.sql<{ id: string }[]>`
      select id from customer where tenant_id = ${tenant.id} and qr_token = ${qrToken}`;
    if (!row) throw errors.customerNotFound("qrToken");
    return { tenantId: tenant.id, customerId: row.id };
  }

  return new Elysia({ prefix: "/web/v1" })
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
        checkEndpoint(body.endpoint, opts.allowInsecureEndpoints ?? false);
        if (decodedLength(body.keys.p256dh) !== 65) throw errors.validation("«keys.p256dh»: ожидается открытый ключ P-256 (65 байт).", "keys.p256dh");
        if (decodedLength(body.keys.auth) !== 16) throw errors.validation("«keys.auth»: ожидается секрет из 16 байт.", "keys.auth");
        const { tenantId, customerId } = await customerOf(params.slug, params.qrToken);
        const [row] = await deps.sql<{ id: string; created_at: Date; inserted: boolean }[]>`
          insert into push_subscription (tenant_id, customer_id, endpoint, p256dh, auth)
          values (${tenantId}, ${customerId}, ${body.endpoint}, ${body.keys.p256dh}, ${body.keys.auth})
          on conflict (tenant_id, endpoint) do update
            set customer_id = excluded.customer_id, p256dh = excluded.p256dh, auth = excluded.auth,
                expired_at = null, failure = null, created_at = now()
          returning id, created_at, (xmax = 0) as inserted`;
        // Keep the newest few: a card's token must not let anyone fan one message out to
        // thousands of endpoints.
        await deps.sql`
          update push_subscription set expired_at = now(), failure = 'replaced by newer subscriptions'
          where tenant_id = ${tenantId} and customer_id = ${customerId} and expired_at is null
            and id not in (
              select id from push_subscription
              where tenant_id = ${tenantId} and customer_id = ${customerId} and expired_at is null
              order by created_at desc, id desc
              limit ${MAX_SUBSCRIPTIONS_PER_CUSTOMER})`;
        set.status = row!.inserted ? 201 : 200;
        return { id: row!.id, endpoint: body.endpoint, createdAt: row!.created_at.toISOString() };
      },
      {
        params: Params,
        body: PushSubscriptionBody,
        response: { 200: PushSubscriptionView, 201: PushSubscriptionView, 400: ErrorBody, 404: ErrorBody },
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
        await deps.sql`
          delete from push_subscription
          where tenant_id = ${tenantId} and customer_id = ${customerId} and endpoint = ${body.endpoint}`;
        return new Response(null, { status: 204 });
      },
      {
        params: Params,
        body: PushUnsubscribeBody,
        response: { 400: ErrorBody, 404: ErrorBody },
        detail: detail("Отписать браузер", "Ответ 204 и тогда, когда такой подписки уже нет."),
      },
    );
};
