// Gift certificate lookup: GET /giftcard?name=<number>&retailStoreId=<uuid>.
import { Elysia, t } from "elysia";
import type { AppDeps } from "../deps.ts";
import { ErrorBody, errors } from "../errors.ts";
import { formatUtc, giftCardForPos, GiftCardStatus, giftCardStatus } from "../loyalty/giftcards.ts";
import { moyskladAuth, moyskladSecurity } from "./auth.ts";

export const GiftCardQuery = t.Object({
  name: t.String({ minLength: 1, maxLength: 128, description: "Номер сертификата" }),
  retailStoreId: t.Optional(t.String()),
}, { additionalProperties: true });

export const GiftCardInfo = t.Object({
  name: t.String({ description: "Номер сертификата" }),
  id: t.String({ description: "Наш идентификатор сертификата" }),
  status: GiftCardStatus,
  expireDate: t.Optional(t.String({ description: "YYYY-MM-DD HH:mm:ss, UTC" })),
  currentBalance: t.Optional(t.Integer({ description: "копейки" })),
  initialBalance: t.Optional(t.Integer({ description: "копейки" })),
});

export const giftCardController = (deps: AppDeps) =>
  new Elysia({ prefix: "/giftcard" }).use(moyskladAuth(deps.tenants)).get(
    "",
    async ({ query, tenant }) => {
      const name = query.name.trim();
      if (!name) throw errors.validation("Укажите номер сертификата.", "name");
      const card = await giftCardForPos(deps.sql, tenant.id, name);
      // No certificate with this number: an error the cashier reads, not a made-up id.
      if (!card) throw errors.notFound(`Сертификат «${name}» не найден.`, "name");
      const current = Math.max(0, card.balance - card.unsettled);
      const info: typeof GiftCardInfo.static = {
        name: card.name,
        id: card.id,
        status: giftCardStatus({ ...card, balance: current }),
        currentBalance: current,
        initialBalance: card.initial_balance,
      };
      if (card.expire_at) info.expireDate = formatUtc(card.expire_at);
      return info;
    },
    {
      query: GiftCardQuery,
      response: { 200: GiftCardInfo, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody },
      detail: {
        tags: ["МойСклад: сертификаты"],
        summary: "Подарочный сертификат",
        description:
          "Статус и остаток сертификата в копейках. Остаток уже учитывает оплаты сертификатом в продажах, принятых, но ещё не проведённых. Неизвестный номер — 404.",
        security: moyskladSecurity,
      },
    },
  );
