// HTTP of Apple Wallet and Google Wallet: the pass download and the save link from the card
// page, and Apple's PassKit web service under /wallet/apple/v1 (what a device calls).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Elysia, t } from "elysia";
import type { AppDeps } from "../deps.ts";
import { log } from "../log.ts";
import { htmlResponse } from "../pages/layout.tsx";
import { CardNotFoundPage } from "../card/pages.tsx";
import { authorisedPass, latestPass, passForCard, registerDevice, unregisterDevice, updatedSerials } from "./apple.ts";
import type { WalletConfig } from "./config.ts";
import { GoogleWallet } from "./google.ts";

const PKPASS = "application/vnd.apple.pkpass";
const hidden = { hide: true };
const LOGO = fileURLToPath(new URL("./static/logo@2x.png", import.meta.url));

const notFound = () => htmlResponse(CardNotFoundPage(), 404);
const unauthorised = () => new Response(null, { status: 401 });

export const walletController = (deps: AppDeps, wallet: WalletConfig) => {
  const publicUrl = deps.config.publicUrl;
  const apple = wallet.apple;
  const google = wallet.google ? new GoogleWallet(wallet.google, publicUrl) : null;

  const app = new Elysia()
    .get("/wallet/logo.png", () => new Response(readFileSync(LOGO), { headers: { "content-type": "image/png", "cache-control": "public, max-age=86400" } }), {
      detail: hidden,
    })
    .get(
      "/card/:token/wallet.pkpass",
      async ({ params }) => {
        if (!apple) return notFound();
        const pass = await passForCard(deps.sql, apple, publicUrl, params.token);
        if (!pass) return notFound();
        return new Response(new Uint8Array(pass.pkpass), {
          headers: {
            "content-type": PKPASS,
            "content-disposition": 'attachment; filename="card.pkpass"',
            "last-modified": pass.updatedAt.toUTCString(),
            "cache-control": "no-store",
          },
        });
      },
      { detail: hidden },
    )
    .get(
      "/card/:token/wallet/google",
      async ({ params }) => {
        if (!google) return notFound();
        const url = await google.saveUrl(deps.sql, params.token);
        if (!url) return notFound();
        return new Response(null, { status: 302, headers: { location: url, "cache-control": "no-store" } });
      },
      { detail: hidden },
    );

  if (!apple) return app;

  // Apple's protocol: status codes only, bodies as it defines them.
  const device = t.Object({ device: t.String({ minLength: 1, maxLength: 200 }), passTypeId: t.String({ maxLength: 200 }), serial: t.String({ maxLength: 100 }) });
  const service = new Elysia({ prefix: "/wallet/apple/v1" })
    .post(
      "/devices/:device/registrations/:passTypeId/:serial",
      async ({ params, body, headers }) => {
        const pass = await authorisedPass(deps.sql, apple, params.passTypeId, params.serial, headers.authorization);
        if (!pass) return unauthorised();
        const pushToken = typeof body?.pushToken === "string" ? body.pushToken.trim() : "";
        if (!pushToken || pushToken.length > 200) return new Response(null, { status: 400 });
        return new Response(null, { status: await registerDevice(deps.sql, params.device, pass.serial, pushToken) });
      },
      { params: device, body: t.Optional(t.Object({ pushToken: t.Optional(t.String()) })), detail: hidden },
    )
    .delete(
      "/devices/:device/registrations/:passTypeId/:serial",
      async ({ params, headers }) => {
        const pass = await authorisedPass(deps.sql, apple, params.passTypeId, params.serial, headers.authorization);
        if (!pass) return unauthorised();
        await unregisterDevice(deps.sql, params.device, pass.serial);
        return new Response(null, { status: 200 });
      },
      { params: device, detail: hidden },
    )
    .get(
      "/devices/:device/registrations/:passTypeId",
      async ({ params, query }) => {
        const r = await updatedSerials(deps.sql, apple, params.device, params.passTypeId, query.passesUpdatedSince);
        return r ? Response.json(r) : new Response(null, { status: 204 });
      },
      { query: t.Object({ passesUpdatedSince: t.Optional(t.String({ maxLength: 40 })) }), detail: hidden },
    )
    .get(
      "/passes/:passTypeId/:serial",
      async ({ params, headers }) => {
        const pass = await authorisedPass(deps.sql, apple, params.passTypeId, params.serial, headers.authorization);
        if (!pass) return unauthorised();
        const since = headers["if-modified-since"] ? Date.parse(headers["if-modified-since"]) : NaN;
        // HTTP dates have whole seconds: the pass is newer only if it changed in a later second.
        if (!Number.isNaN(since) && Math.floor(pass.updated_at.getTime() / 1000) * 1000 <= since) return new Response(null, { status: 304 });
        const pkpass = await latestPass(deps.sql, apple, publicUrl, pass);
        if (!pkpass) return unauthorised();
        return new Response(new Uint8Array(pkpass), { headers: { "content-type": PKPASS, "last-modified": pass.updated_at.toUTCString() } });
      },
      { params: t.Object({ passTypeId: t.String({ maxLength: 200 }), serial: t.String({ maxLength: 100 }) }), detail: hidden },
    )
    .post(
      "/log",
      ({ body }) => {
        const logs = Array.isArray(body?.logs) ? body.logs.slice(0, 50).map((l) => String(l).slice(0, 500)) : [];
        if (logs.length > 0) log.warn("Apple Wallet device log", { logs });
        return new Response(null, { status: 200 });
      },
      { body: t.Optional(t.Object({ logs: t.Optional(t.Array(t.Unknown())) })), detail: hidden },
    );
  return app.use(service);
};
