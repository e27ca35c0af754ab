import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { queueBoard } from "./admin/board.ts";
import { customersAdminController } from "./admin/customers.ts";
import { giftCardsAdminController } from "./admin/giftcards.ts";
import { operationsController } from "./admin/operations.ts";
import { promotionsController } from "./admin/promotions.ts";
import { tenantsAdminController } from "./admin/tenants.ts";
import { cabinetApiController } from "./cabinet/api.ts";
import { cabinetPages } from "./cabinet/pages.tsx";
import { cardController } from "./card/controller.tsx";
import type { AppDeps } from "./deps.ts";
import { healthController } from "./health.ts";
import { httpErrors } from "./http-errors.ts";
import { metricsController } from "./metrics/metrics.ts";
import { moyskladAppController } from "./moysklad/app-catalog.ts";
import { AUTH_HEADER, MOYSKLAD_PREFIX } from "./moysklad/auth.ts";
import { counterpartyController } from "./moysklad/counterparty.ts";
import { documentsController } from "./moysklad/documents.ts";
import { giftCardController } from "./moysklad/giftcards.ts";
import { retailDemandController } from "./moysklad/retaildemand.ts";
import { notifyConfig } from "./notify/config.ts";
import { assetsController } from "./pages/assets.ts";
import { requestContext } from "./request-context.ts";
import { guardApp, StuckCalls } from "./request-guard.ts";
import { walletConfig } from "./wallet/config.ts";
import { walletController } from "./wallet/controller.ts";
import { webCardController } from "./web/cards.ts";

/** The customer's side: card, self-registration, Wallet. */
function cardPages(deps: AppDeps) {
  const wallet = deps.wallet ?? walletConfig();
  return new Elysia()
    .use(cardController(deps, { push: notifyConfig().push !== null, appleWallet: wallet.apple !== null, googleWallet: wallet.google !== null }))
    .use(walletController(deps, wallet));
}

/** The МойСклад Loyalty API, as the merchant's base address serves it. */
export const moyskladApi = (deps: AppDeps) =>
  new Elysia({ prefix: MOYSKLAD_PREFIX })
    .use(counterpartyController(deps))
    .use(retailDemandController(deps))
    .use(documentsController(deps))
    .use(giftCardController(deps));

/**
 * The whole HTTP app. Web-standard: `createApp(deps).fetch` is a (Request) => Response
 * handler that Bun, Deno or a test can call; only the entry files touch a runtime.
 */
export function createApp(deps: AppDeps) {
  const { limits } = deps.config;
  const stuck = new StuckCalls(limits.requestDeadlineMs + limits.apiStatementTimeoutMs);
  const app = new Elysia({ normalize: false })
    .use(requestContext)
    .use(httpErrors)
    .use(metricsController(deps)) // before the routes it times
    .use(
      openapi({
        path: "/swagger",
        specPath: "/swagger/json",
        provider: "swagger-ui",
        documentation: {
          info: {
            title: "Программа лояльности для Кассы МойСклад",
            version: "1.0.0",
            description:
              "МойСклад Loyalty API 1.0 (пути под " +
              MOYSKLAD_PREFIX +
              ") и API администратора. Деньги — рубли с 2 знаками (внутри — целые копейки), баллы — целые.",
          },
          components: {
            securitySchemes: {
              moyskladKey: { type: "apiKey", in: "header", name: AUTH_HEADER },
              adminBearer: { type: "http", scheme: "bearer" },
            },
          },
        },
      }),
    )
    .use(healthController(deps, stuck))
    .use(assetsController)
    .use(moyskladApi(deps))
    .use(tenantsAdminController(deps))
    .use(customersAdminController(deps))
    .use(operationsController(deps))
    .use(webCardController(deps))
    .use(giftCardsAdminController(deps))
    .use(cardPages(deps))
    .use(promotionsController(deps))
    .use(cabinetApiController(deps))
    .use(cabinetPages(deps))
    .use(queueBoard(deps))
    .use(moyskladAppController(deps));
  return guardApp(app, limits, stuck, (key) => deps.tenants.cachedTenantId(key));
}
