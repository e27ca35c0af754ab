import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { queueBoard } from "./admin/board.ts";
import { adminController } from "./admin/tenants.ts";
import { operationsController } from "./admin/operations.ts";
import type { AppDeps } from "./deps.ts";
import { healthController } from "./health.ts";
import { webCardController } from "./web/cards.ts";
import { httpErrors } from "./http-errors.ts";
import { AUTH_HEADER } from "./moysklad/auth.ts";
import { counterpartyController } from "./moysklad/counterparty.ts";
import { retailDemandController } from "./moysklad/retaildemand.ts";
import { documentsController } from "./moysklad/documents.ts";
import { giftCardController } from "./moysklad/giftcard.ts";
import { giftCardsAdminController } from "./admin/giftcards.ts";
import { assetsController } from "./pages/assets.ts";
import { cabinetApiController } from "./cabinet/api.ts";
import { cabinetPages } from "./cabinet/pages.tsx";

export const MOYSKLAD_PREFIX = "/rest/integration/moysklad/v1";

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
  return new Elysia({ normalize: false })
    .use(httpErrors)
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
    .use(healthController(deps))
    .use(assetsController)
    .use(moyskladApi(deps))
    .use(adminController(deps))
    .use(operationsController(deps))
    .use(webCardController(deps))
    .use(giftCardsAdminController(deps))
    .use(cabinetApiController(deps))
    .use(cabinetPages(deps))
    .use(queueBoard(deps));
}

export type App = ReturnType<typeof createApp>;
