import { t } from "elysia";

export const TenantCreate = t.Object({
  slug: t.String({ pattern: "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", description: "поддомен магазина" }),
  name: t.String({ minLength: 1, maxLength: 200 }),
});

export const TenantCreated = t.Object({
  id: t.String(),
  slug: t.String(),
  name: t.String(),
  apiToken: t.String({ description: "ключ доступа для МойСклад; показывается один раз" }),
});

export const AdminCustomer = t.Object({
  id: t.String(),
  msId: t.Nullable(t.String()),
  syncId: t.Nullable(t.String()),
  name: t.Nullable(t.String()),
  legalFirstName: t.Nullable(t.String()),
  legalMiddleName: t.Nullable(t.String()),
  legalLastName: t.Nullable(t.String()),
  phone: t.Nullable(t.String()),
  discountCardNumber: t.Nullable(t.String()),
  qrToken: t.Nullable(t.String()),
  email: t.Nullable(t.String()),
  birthDate: t.Nullable(t.String()),
  sex: t.Nullable(t.String()),
  statusCheck: t.String(),
  balance: t.Integer({ description: "баллы, доступные к списанию" }),
  pendingBalance: t.Integer({ description: "начисленные, но ещё не доступные баллы" }),
  createdAt: t.String(),
  updatedAt: t.String(),
});

export const AdminCustomerView = t.Object({
  ...AdminCustomer.properties,
  tier: t.Object({
    name: t.String(),
    earnPercent: t.Number(),
    nextTier: t.Nullable(t.String()),
    toNextTier: t.Nullable(t.Number({ description: "рублей покупок до следующего уровня" })),
  }),
  expiring: t.Array(t.Object({ points: t.Integer(), expiresAt: t.String() }), { description: "ближайшие сгорания, по порядку" }),
});

export const AdjustmentCreate = t.Object({
  points: t.Integer({ minimum: -1_000_000_000, maximum: 1_000_000_000, description: "не ноль; отрицательное списывает" }),
  reason: t.String({ minLength: 1, maxLength: 500 }),
  expiresAt: t.Optional(t.String({ format: "date-time", description: "когда сгорят начисленные баллы (ISO)" })),
});

export const LedgerEntry = t.Object({
  id: t.Integer(),
  customerId: t.String(),
  kind: t.String(),
  points: t.Integer(),
  pending: t.Boolean(),
  availableAt: t.String(),
  documentId: t.Nullable(t.String()),
  idempotencyKey: t.String(),
  reason: t.Nullable(t.String()),
  createdAt: t.String(),
});

export const LedgerPage = t.Object({
  rows: t.Array(LedgerEntry),
  nextBefore: t.Nullable(t.Integer({ description: "передайте как ?before= для следующей страницы" })),
});

export const LedgerQuery = t.Object({
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 500 })),
  before: t.Optional(t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
});

export const CustomerSearchQuery = t.Object({ search: t.String({ minLength: 1, maxLength: 500 }) });

export const AdminDocument = t.Object({
  id: t.String(),
  kind: t.String(),
  externalKey: t.String(),
  name: t.Nullable(t.String()),
  moment: t.Nullable(t.String()),
  customerId: t.Nullable(t.String()),
  matchStatus: t.String(),
  state: t.String(),
  flagReason: t.Nullable(t.String()),
  totalKopecks: t.Integer(),
  giftCardShortfallKopecks: t.Integer({ description: "оплачено сертификатом, но не покрыто ни одним сертификатом" }),
  pointsSpent: t.Integer(),
  pointsEarned: t.Integer(),
  pointsSpentReported: t.Integer({ description: "сколько баллов списано по данным кассы" }),
  heldSpendPoints: t.Integer({ description: "списано сверх баланса: ждёт решения оператора" }),
  heldEarnPoints: t.Integer({ description: "начислено сверх предела на чек: ждёт решения оператора" }),
  holdDecision: t.Nullable(t.Union([t.Literal("approved"), t.Literal("rejected")])),
  saleKey: t.Nullable(t.String()),
  receivedAt: t.String(),
  settledAt: t.Nullable(t.String()),
});

export const DocumentPage = t.Object({
  rows: t.Array(AdminDocument),
  nextBefore: t.Nullable(t.String({ description: "передайте как ?before= для следующей страницы; null — это последняя" })),
});

export const DocumentQuery = t.Object({
  attention: t.Optional(
    t.BooleanString({
      description: "только требующие внимания: что-то не сошлось (причина в flagReason), баллы ждут решения, не найден покупатель, возврат без продажи или ждёт продажу",
    }),
  ),
  held: t.Optional(t.BooleanString({ description: "только с баллами, ждущими решения оператора (списание сверх баланса, начисление сверх предела на чек)" })),
  state: t.Optional(t.Union([t.Literal("received"), t.Literal("waiting"), t.Literal("settled"), t.Literal("flagged")])),
  customerId: t.Optional(t.String({ format: "uuid" })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 500 })),
  before: t.Optional(t.String({ minLength: 1, maxLength: 100, description: "nextBefore предыдущей страницы" })),
});
