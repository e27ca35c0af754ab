// Gift certificates for operators: issue, list, read with the ledger, block.
import { Elysia, t } from "elysia";
import type { AppDeps } from "../deps.ts";
import { errors, ErrorBody } from "../errors.ts";
import {
  blockGiftCard,
  findGiftCard,
  type GiftCardEntryRow,
  giftCardEntries,
  type GiftCardRow,
  GiftCardStatus,
  giftCardStatus,
  issueGiftCard,
  listGiftCards,
  parseExpireDate,
} from "../loyalty/giftcards.ts";
import { adminAuth, adminSecurity } from "./auth.ts";

export const GiftCardCreate = t.Object({
  name: t.String({ minLength: 1, maxLength: 128, description: "номер сертификата (уникален в магазине)" }),
  initialBalance: t.Integer({ minimum: 1, maximum: 1_000_000_000_000, description: "номинал, копейки" }),
  expireDate: t.Optional(t.Nullable(t.String({ maxLength: 40, description: "YYYY-MM-DD HH:mm:ss (UTC) или ISO 8601" }))),
});

export const AdminGiftCard = t.Object({
  id: t.String(),
  name: t.String(),
  status: GiftCardStatus,
  initialBalance: t.Integer({ description: "копейки" }),
  balance: t.Integer({ description: "остаток, копейки" }),
  expireDate: t.Nullable(t.String({ description: "ISO 8601" })),
  blockedAt: t.Nullable(t.String()),
  blockReason: t.Nullable(t.String()),
  createdAt: t.String(),
});

export const GiftCardEntry = t.Object({
  id: t.Integer(),
  kind: t.String({ description: "issue | redeem | refund" }),
  kopecks: t.Integer({ description: "со знаком: погашение отрицательное" }),
  documentId: t.Nullable(t.String()),
  idempotencyKey: t.String(),
  createdAt: t.String(),
});

const GiftCardListQuery = t.Object({
  status: t.Optional(GiftCardStatus),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 500 })),
});

export function adminGiftCard(c: GiftCardRow, now = new Date()): typeof AdminGiftCard.static {
  return {
    id: c.id,
    name: c.name,
    status: giftCardStatus(c, now),
    initialBalance: c.initial_balance,
    balance: c.balance,
    expireDate: c.expire_at?.toISOString() ?? null,
    blockedAt: c.blocked_at?.toISOString() ?? null,
    blockReason: c.block_reason,
    createdAt: c.created_at.toISOString(),
  };
}

function giftCardEntry(e: GiftCardEntryRow): typeof GiftCardEntry.static {
  return {
    id: e.id,
    kind: e.kind,
    kopecks: e.kopecks,
    documentId: e.document_id,
    idempotencyKey: e.idempotency_key,
    createdAt: e.created_at.toISOString(),
  };
}

const detail = (summary: string, description?: string) => ({ tags: ["Сертификаты"], summary, description, security: adminSecurity });
const errs = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody };
const notFound = (name: string) => errors.notFound(`Сертификат «${name}» не найден.`, "name");

export const giftCardsAdminController = (deps: AppDeps) =>
  new Elysia({ prefix: "/admin/v1" })
    .use(adminAuth(deps.config.adminToken))
    .post(
      "/tenants/:slug/giftcards",
      async ({ params, body, set }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        let expireAt: Date | null = null;
        if (body.expireDate != null && body.expireDate.trim() !== "") {
          expireAt = parseExpireDate(body.expireDate);
          if (!expireAt) throw errors.validation("Срок действия: дата и время «YYYY-MM-DD HH:mm:ss» (UTC) или ISO 8601.", "expireDate");
        }
        const card = await issueGiftCard(deps.sql, tenant.id, { name: body.name, initialBalance: body.initialBalance, expireAt });
        set.status = 201;
        return adminGiftCard(card);
      },
      {
        body: GiftCardCreate,
        response: { 201: AdminGiftCard, ...errs, 409: ErrorBody },
        detail: detail("Выпустить сертификат", "Номинал в копейках; в журнал сертификата пишется запись issue на всю сумму."),
      },
    )
    .get(
      "/tenants/:slug/giftcards",
      async ({ params, query }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const rows = await listGiftCards(deps.sql, tenant.id, { status: query.status ?? null, limit: query.limit ?? 100 });
        const now = new Date();
        return { rows: rows.map((c) => adminGiftCard(c, now)) };
      },
      {
        query: GiftCardListQuery,
        response: { 200: t.Object({ rows: t.Array(AdminGiftCard) }), ...errs },
        detail: detail("Сертификаты", "Новые первыми; ?status= — только с этим статусом."),
      },
    )
    .get(
      "/tenants/:slug/giftcards/:name",
      async ({ params }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const card = await findGiftCard(deps.sql, tenant.id, params.name);
        if (!card) throw notFound(params.name);
        const entries = await giftCardEntries(deps.sql, tenant.id, card.id);
        return { ...adminGiftCard(card), entries: entries.map(giftCardEntry) };
      },
      {
        response: { 200: t.Composite([AdminGiftCard, t.Object({ entries: t.Array(GiftCardEntry) })]), ...errs },
        detail: detail("Сертификат с журналом", "Записи журнала — новые первыми."),
      },
    )
    .post(
      "/tenants/:slug/giftcards/:name/block",
      async ({ params, body }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const card = await blockGiftCard(deps.sql, tenant.id, params.name, body?.reason?.trim() || null);
        if (!card) throw notFound(params.name);
        return adminGiftCard(card);
      },
      {
        body: t.Optional(t.Object({ reason: t.Optional(t.String({ maxLength: 500 })) })),
        response: { 200: AdminGiftCard, ...errs },
        detail: detail("Заблокировать сертификат", "Статус INVALID; повторная блокировка ничего не меняет. Оплата им в продажах после блокировки не списывается, продажа отмечается для оператора."),
      },
    );
