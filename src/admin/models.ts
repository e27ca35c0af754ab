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

const percent = t.Number({ minimum: 0, maximum: 100, description: "до 2 знаков после запятой" });

export const ProgramSettings = t.Object({
  earnPercent: percent,
  spendRate: t.Number({ exclusiveMinimum: 0, maximum: 1_000_000, description: "рублей за один балл, до 2 знаков" }),
  maxSpendPercent: percent,
  earnWhileRedeeming: t.Boolean(),
  accrualDelayDays: t.Integer({ minimum: 0, maximum: 3650 }),
  excludedAssortmentIds: t.Array(t.String({ minLength: 1, maxLength: 64 }), { maxItems: 10_000 }),
  requireSpendVerification: t.Boolean(),
  requireRegistrationVerification: t.Boolean(),
  receiptTemplate: t.String({ maxLength: 2000, description: "плейсхолдеры {earned} {spent} {balance} {paid}" }),
  codeLength: t.Integer({ minimum: 4, maximum: 8, description: "цифр в коде подтверждения" }),
  codeTtlSeconds: t.Integer({ minimum: 30, maximum: 3600, description: "сколько секунд код действителен" }),
  codeRepeatSeconds: t.Integer({ minimum: 10, maximum: 3600, description: "через сколько секунд можно запросить новый код" }),
  codesPerPhonePerHour: t.Integer({ minimum: 1, maximum: 100 }),
  codesPerTenantPerHour: t.Integer({ minimum: 1, maximum: 1_000_000 }),
  codeMessageTemplate: t.String({ minLength: 1, maxLength: 500, description: "SMS с кодом: {code} {shop}" }),
  pointsMessageTemplate: t.String({ minLength: 1, maxLength: 500, description: "после продажи: {change} {balance} {earned} {spent}" }),
  returnMessageTemplate: t.String({ minLength: 1, maxLength: 500, description: "после возврата: {change} {balance} {refunded} {clawed}" }),
  referrerPoints: t.Integer({ minimum: 0, maximum: 1_000_000, description: "баллы пригласившему, когда первая покупка друга проведена; 0 — выключено" }),
  referredPoints: t.Integer({ minimum: 0, maximum: 1_000_000, description: "баллы приглашённому другу за первую покупку; 0 — выключено" }),
});

export const ProgramPatch = t.Partial(ProgramSettings);

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

export const AdjustmentCreate = t.Object({
  points: t.Integer({ minimum: -1_000_000_000, maximum: 1_000_000_000, description: "не ноль; отрицательное списывает" }),
  reason: t.String({ minLength: 1, maxLength: 500 }),
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
  limit: t.Optional(t.Numeric({ minimum: 1, maximum: 500 })),
  before: t.Optional(t.Numeric({ minimum: 1 })),
});

export const CustomerSearchQuery = t.Object({ search: t.String({ minLength: 1, maxLength: 500 }) });
