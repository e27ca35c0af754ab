// МойСклад's calls to us when a merchant installs, pays, suspends or removes the app
// (Vendor API 1.0). Thin: the token check here, the rules in install.ts. Mounted only when
// the app is configured (MOYSKLAD_*): otherwise these paths are 404 like any unknown one.
import { Elysia, t } from "elysia";
import type { MoyskladConfig } from "../config.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError, ErrorCode, errors } from "../errors.ts";
import { log } from "../log.ts";
import { applyDeactivation, applyLifecycle, findInstall } from "./install.ts";
import { IncomingTokenError, verifyIncoming } from "./vendor-jwt.ts";

export const VENDOR_PREFIX = "/api/moysklad/vendor/1.0";

const Access = t.Object(
  { resource: t.String(), scope: t.Optional(t.Array(t.String())), access_token: t.Optional(t.String({ minLength: 1, maxLength: 4096 })) },
  { additionalProperties: true },
);

export const VendorPut = t.Object(
  {
    appUid: t.String({ maxLength: 200 }),
    accountName: t.String({ minLength: 1, maxLength: 200 }),
    cause: t.Union([t.Literal("Install"), t.Literal("Resume"), t.Literal("TariffChanged"), t.Literal("Autoprolongation")]),
    access: t.Optional(t.Array(Access, { maxItems: 10 })),
    subscription: t.Optional(t.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: true },
);

export const VendorDelete = t.Object(
  { appUid: t.Optional(t.String()), accountName: t.Optional(t.String()), cause: t.Union([t.Literal("Uninstall"), t.Literal("Suspend")]) },
  { additionalProperties: true },
);

const Params = t.Object({ appId: t.String(), accountId: t.String({ format: "uuid" }) });
const StatusAnswer = t.Object({ status: t.String() });

const TOKEN_WORDS: Record<IncomingTokenError["problem"], string> = {
  missing: "Нужен заголовок Authorization: Bearer <JWT>.",
  invalid: "Подпись токена неверна или алгоритм не HS256.",
  expired: "Срок действия токена истёк.",
  replayed: "Этот токен (jti) уже использован.",
};

const JSON_API = "https://api.moysklad.ru/api/remap/1.2";

export const vendorController = (deps: AppDeps, cfg: MoyskladConfig) =>
  new Elysia({ prefix: VENDOR_PREFIX, detail: { tags: ["МойСклад: Vendor API"] } })
    // At transform time, before the body is validated: a forged call learns nothing about our schema.
    .derive(async ({ headers, params }) => {
      try {
        await verifyIncoming(deps.sql, headers.authorization, cfg.secretKey);
      } catch (e) {
        if (!(e instanceof IncomingTokenError)) throw e;
        log.warn("vendor call refused", { problem: e.problem });
        throw ApiError.one(401, ErrorCode.unauthorized, "Неверный токен", TOKEN_WORDS[e.problem], "Authorization");
      }
      // Another app's id on our address: not ours to answer.
      if ((params as { appId?: string }).appId?.toLowerCase() !== cfg.appId) throw errors.notFound("Неизвестное приложение.", "appId");
      return {};
    })
    .put(
      "/apps/:appId/:accountId",
      async ({ params, body }) => {
        const accessToken = body.access?.find((a) => a.resource.replace(/\/+$/, "") === JSON_API && a.access_token)?.access_token ?? body.access?.find((a) => a.access_token)?.access_token;
        const r = await applyLifecycle(deps.sql, cfg, deps.tenants, {
          accountId: params.accountId.toLowerCase(),
          accountName: body.accountName,
          cause: body.cause,
          accessToken,
          subscription: body.subscription,
        });
        // The catalog is read in the background; the answer must come well inside 10 s.
        if (body.cause === "Install" || body.cause === "Resume") {
          void deps.queues?.moysklad.add("refresh-catalog", { type: "refresh-catalog", tenantId: r.tenantId }).catch(() => {});
        }
        return { status: r.status };
      },
      { params: Params, body: VendorPut, response: { 200: StatusAnswer }, detail: { summary: "Установка, возобновление, смена тарифа" } },
    )
    .delete(
      "/apps/:appId/:accountId",
      async ({ params, body }) => {
        const status = await applyDeactivation(deps.sql, cfg, deps.tenants, { accountId: params.accountId.toLowerCase(), cause: body.cause });
        return new Response(null, { status });
      },
      { params: Params, body: VendorDelete, detail: { summary: "Приостановка или удаление" } },
    )
    .get(
      "/apps/:appId/:accountId",
      async ({ params }) => {
        const install = await findInstall(deps.sql, cfg.appId, params.accountId.toLowerCase());
        if (!install || install.state !== "active") throw errors.notFound("Приложение не установлено.", "accountId");
        return { status: install.status };
      },
      { params: Params, response: { 200: StatusAnswer }, detail: { summary: "Статус (устаревший вызов)" } },
    );
