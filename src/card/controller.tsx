// HTTP of the customer's card: the card page, self-registration, the service worker, and
// the operator's endpoints for card tokens and the card's texts. Thin: every decision is
// in card.ts / join.ts.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Elysia, t } from "elysia";
import QRCode from "qrcode";
import { adminAuth, adminSecurity } from "../admin/auth.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError, errors, ErrorBody } from "../errors.ts";
import { prettyPhone } from "../loyalty/phone.ts";
import type { TenantContext } from "../loyalty/tenants.ts";
import { serveAsset } from "../pages/assets.ts";
import { htmlResponse } from "../pages/layout.tsx";
import { cardView, rotateCardToken } from "./card.ts";
import { queueWalletUpdateIfPass } from "./jobs.ts";
import { completeJoin, confirmJoinCode, phoneOrError, requestJoinCode } from "./join.ts";
import { CardNotFoundPage, CardPage, invitedText, JoinCodePage, JoinDetailsPage, JoinPhonePage, ShopNotFoundPage } from "./pages.tsx";
import { CardSettings, CardSettingsPatch, cardSettings, updateCardSettings } from "./settings.ts";

serveAsset("card.js", () => fileURLToPath(new URL("./static/card.js", import.meta.url)), "text/javascript; charset=utf-8");

const SERVICE_WORKER = fileURLToPath(new URL("./static/card-sw.js", import.meta.url));

export interface CardControllerOptions {
  /** Web Push is configured (the card shows the subscribe button). */
  push: boolean;
  appleWallet: boolean;
  googleWallet: boolean;
}

/** The first error's words, for a page. */
function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.items[0]?.error_message ?? "Не получилось. Попробуйте ещё раз.";
  throw e;
}

const redirect = (to: string) => new Response(null, { status: 303, headers: { location: to, "cache-control": "no-store" } });

const refOf = (raw: string | undefined) => (raw && /^[A-Za-z0-9]{6,32}$/.test(raw) ? raw : null);

/** The invitation note names the points the program gives; none when it gives none. */
const invitedWithPoints = (tenant: TenantContext, referral: string | null) => (referral === null ? null : invitedText(tenant.program.settings));

// Forms post strings; every check (and its Russian words) is in the use cases, so the
// schemas only say which fields exist.
const JoinCodeForm = t.Object({ phone: t.Optional(t.String()), ref: t.Optional(t.String()) });
const JoinConfirmForm = t.Object({ phone: t.Optional(t.String()), code: t.Optional(t.String()), ref: t.Optional(t.String()) });
const JoinDetailsForm = t.Object({
  session: t.Optional(t.String()),
  name: t.Optional(t.String()),
  birthDate: t.Optional(t.String()),
  personalData: t.Optional(t.String()),
  advertising: t.Optional(t.String()),
});

const hidden = { hide: true };

export const cardController = (deps: AppDeps, opts: CardControllerOptions) => {
  const publicUrl = deps.config.publicUrl;

  async function tenantOr404(slug: string): Promise<TenantContext | Response> {
    const tenant = /^[a-z0-9-]{1,63}$/.test(slug) ? await deps.tenants.bySlug(slug) : null;
    return tenant ?? htmlResponse(<ShopNotFoundPage />, 404);
  }

  const pages = new Elysia()
    .get(
      "/card/sw.js",
      async () =>
        new Response(await readFile(SERVICE_WORKER), {
          headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache", "service-worker-allowed": "/card/" },
        }),
      { detail: hidden },
    )
    .get(
      "/card/:token",
      async ({ params }) => {
        const view = await cardView(deps.sql, publicUrl, params.token);
        if (!view) return htmlResponse(<CardNotFoundPage />, 404);
        const safeQrSvg = await QRCode.toString(view.qrPayload, { type: "svg", errorCorrectionLevel: "M", margin: 2 });
        return htmlResponse(<CardPage view={view} opts={{ ...opts, safeQrSvg }} />);
      },
      { detail: hidden },
    )
    .get(
      "/join/:slug",
      async ({ params, query }) => {
        const tenant = await tenantOr404(params.slug);
        if (tenant instanceof Response) return tenant;
        const referral = refOf(query.ref);
        return htmlResponse(<JoinPhonePage shop={tenant.name} slug={tenant.slug} referral={referral} invited={invitedWithPoints(tenant, referral)} />);
      },
      { query: t.Object({ ref: t.Optional(t.String()) }), detail: hidden },
    )
    .post(
      "/join/:slug/code",
      async ({ params, body }) => {
        const tenant = await tenantOr404(params.slug);
        if (tenant instanceof Response) return tenant;
        const referral = refOf(body.ref);
        const frame = { shop: tenant.name, slug: tenant.slug, referral };
        try {
          const { phone } = await requestJoinCode(deps, tenant, body.phone ?? "");
          return htmlResponse(<JoinCodePage {...frame} phone={phone} prettyPhone={prettyPhone(phone)} />);
        } catch (e) {
          return htmlResponse(<JoinPhonePage {...frame} invited={invitedWithPoints(tenant, referral)} phone={body.phone ?? ""} error={messageOf(e)} />, 400);
        }
      },
      { body: JoinCodeForm, detail: hidden },
    )
    .post(
      "/join/:slug/confirm",
      async ({ params, body }) => {
        const tenant = await tenantOr404(params.slug);
        if (tenant instanceof Response) return tenant;
        const referral = refOf(body.ref);
        const frame = { shop: tenant.name, slug: tenant.slug, referral };
        let phone: string;
        try {
          phone = phoneOrError(body.phone ?? "");
        } catch (e) {
          return htmlResponse(<JoinPhonePage {...frame} invited={invitedWithPoints(tenant, referral)} error={messageOf(e)} />, 400);
        }
        try {
          const r = await confirmJoinCode(deps, tenant, phone, body.code ?? "", referral);
          if (r.kind === "existing") return redirect(`/card/${encodeURIComponent(r.token)}`);
          const settings = await cardSettings(deps.sql, tenant.id);
          return htmlResponse(<JoinDetailsPage {...frame} session={r.sessionId} consentText={settings.consentText} />);
        } catch (e) {
          return htmlResponse(<JoinCodePage {...frame} phone={phone} prettyPhone={prettyPhone(phone)} error={messageOf(e)} />, 400);
        }
      },
      { body: JoinConfirmForm, detail: hidden },
    )
    .post(
      "/join/:slug/details",
      async ({ params, body }) => {
        const tenant = await tenantOr404(params.slug);
        if (tenant instanceof Response) return tenant;
        const details = {
          name: body.name ?? "",
          birthDate: body.birthDate ?? "",
          personalDataConsent: body.personalData === "yes",
          advertisingConsent: body.advertising === "yes",
        };
        try {
          const { token } = await completeJoin(deps, tenant, body.session ?? "", details);
          return redirect(`/card/${encodeURIComponent(token)}`);
        } catch (e) {
          const message = messageOf(e);
          const settings = await cardSettings(deps.sql, tenant.id);
          return htmlResponse(
            <JoinDetailsPage
              shop={tenant.name}
              slug={tenant.slug}
              referral={null}
              session={body.session ?? ""}
              consentText={settings.consentText}
              values={{ name: details.name, birthDate: details.birthDate, advertising: details.advertisingConsent }}
              error={message}
            />,
            400,
          );
        }
      },
      { body: JoinDetailsForm, detail: hidden },
    );

  const detail = (summary: string, description?: string) => ({ tags: ["Карта покупателя"], summary, description, security: adminSecurity });
  const admin = new Elysia({ prefix: "/admin/v1" })
    .use(adminAuth(deps.config.adminToken))
    .post(
      "/tenants/:slug/customers/:id/card-token",
      async ({ params, set }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        if (!/^[0-9a-f-]{36}$/i.test(params.id)) throw errors.customerNotFound("id");
        const issued = await rotateCardToken(deps.sql, publicUrl, tenant.id, params.id.toLowerCase());
        await queueWalletUpdateIfPass(deps.sql, deps.queues, tenant.id, params.id.toLowerCase());
        set.status = 201;
        return issued;
      },
      {
        params: t.Object({ slug: t.String({ maxLength: 100 }), id: t.String({ maxLength: 100 }) }),
        response: { 201: t.Object({ token: t.String(), url: t.String() }), 401: ErrorBody, 404: ErrorBody },
        detail: detail("Выдать новую ссылку карты", "Старая ссылка и старый QR-код перестают открывать карту и находиться поиском кассы."),
      },
    )
    .get("/tenants/:slug/card-settings", async ({ params }) => cardSettings(deps.sql, (await deps.tenants.requireBySlug(params.slug)).id), {
      response: { 200: CardSettings, 401: ErrorBody, 404: ErrorBody },
      detail: detail("Тексты карты покупателя", "Согласие на обработку персональных данных и SMS со ссылкой на карту."),
    })
    .put(
      "/tenants/:slug/card-settings",
      async ({ params, body }) => updateCardSettings(deps.sql, (await deps.tenants.requireBySlug(params.slug)).id, body),
      {
        body: CardSettingsPatch,
        response: { 200: CardSettings, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody },
        detail: detail("Изменить тексты карты покупателя"),
      },
    );

  return new Elysia().use(pages).use(admin);
};
