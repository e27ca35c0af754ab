import { Type } from "@sinclair/typebox";
import { t } from "elysia";

// Elysia's t.Integer also accepts numeric strings, which makes it a transform: any
// response holding one is then encoded by TypeBox's reflective walker (~20 µs a recalc).
// Responses use the plain TypeBox integer.
const int = (opts?: Parameters<typeof Type.Integer>[0]) => Type.Integer(opts);

// Shapes of the МойСклад Loyalty API 1.0. The POS gains fields over time (giftCards came
// in 2025), so every object here — at any depth — accepts fields we do not know and we
// ignore them; what we read is checked here, and the same schemas make the OpenAPI page.
// (The app validates strictly elsewhere: admin settings with an unknown name are refused.)
const obj: typeof t.Object = ((properties: any, options?: any) =>
  t.Object(properties, { additionalProperties: true, ...options })) as typeof t.Object;

const str = (max = 255) => t.String({ maxLength: max });
const opt = <T extends Parameters<typeof t.Optional>[0]>(s: T) => t.Optional(t.Nullable(s));

export const Meta = obj(
  {
    href: t.Optional(str(2048)),
    id: t.Optional(str(64)),
    type: t.Optional(str(64)),
    idType: t.Optional(str(16)),
    mediaType: t.Optional(str(64)),
  },
  { description: "Ссылка на сущность МойСклад" },
);

export const RetailStore = obj(
  { meta: t.Optional(Meta), name: t.Optional(str()) },
  { description: "Точка продаж" },
);

/**
 * "YYYY-MM-DD HH:mm:ss" (the merchant's local time) or ISO 8601 with or without
 * milliseconds and offset. Months, days and hours are range-checked here; a day the month
 * does not have (30 February) is caught where the date is read.
 */
export const DATE_TIME_PATTERN =
  "^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])([ T]([01]\\d|2[0-3]):[0-5]\\d(:[0-5]\\d(\\.\\d{1,6})?)?(Z|[+-]([01]\\d|2[0-3]):?[0-5]\\d)?)?$";
export const DateTime = t.String({
  pattern: DATE_TIME_PATTERN,
  description: "YYYY-MM-DD HH:mm:ss (местное время магазина) или ISO 8601",
});

/** Counterparty fields the POS may send about a customer. */
export const customerFields = {
  name: opt(str()),
  discountCardNumber: opt(str(64)),
  phone: opt(str(64)),
  email: opt(str(320)),
  legalFirstName: opt(str()),
  legalMiddleName: opt(str()),
  legalLastName: opt(str()),
  birthDate: opt(DateTime),
  sex: opt(t.Union([t.Literal("MALE"), t.Literal("FEMALE")])),
};


// --- /counterparty ---------------------------------------------------------------

export const StatusCheck = t.Union([t.Literal("UNCHECKED"), t.Literal("CHECKED"), t.Literal("IGNORE")]);

export const CounterpartyCreate = obj({
  retailStore: t.Optional(RetailStore),
  meta: t.Optional(Meta),
  syncId: opt(str(64)),
  statusCheck: t.Optional(StatusCheck),
  ...customerFields,
});

export const CounterpartySearchQuery = obj({
  search: t.String({ maxLength: 500, description: "Телефон, номер карты или содержимое QR-кода" }),
  retailStoreId: t.Optional(t.String()),
});

export const CounterpartyRow = obj({
  id: t.String({ description: "Наш идентификатор покупателя" }),
  msId: t.Optional(t.String()),
  name: t.Optional(t.String()),
  discountCardNumber: t.Optional(t.String()),
  phone: t.Optional(t.String()),
  email: t.Optional(t.String()),
  legalFirstName: t.Optional(t.String()),
  legalMiddleName: t.Optional(t.String()),
  legalLastName: t.Optional(t.String()),
  birthDate: t.Optional(t.String()),
  sex: t.Optional(t.String()),
});

export const CounterpartySearchResult = obj({ rows: t.Array(CounterpartyRow) });

export const CounterpartyDetailRequest = obj({
  retailStore: t.Optional(RetailStore),
  meta: t.Optional(Meta),
  ...customerFields,
});

export const CounterpartyDetail = obj({
  bonusProgram: obj({ agentBonusBalance: int() }),
});

// --- /retaildemand/recalc --------------------------------------------------------

export const SerialNumber = obj({ meta: t.Optional(Meta), name: t.Optional(str(255)) });

export const Pack = obj({
  id: t.Optional(str(64)),
  name: t.Optional(str()),
  quantity: t.Optional(t.Number()),
  barcode: t.Optional(str(128)),
});

export const RecalcPosition = obj({
  assortment: obj({ meta: Meta }),
  quantity: t.Number({ exclusiveMinimum: 0, maximum: 1_000_000, description: "до 3 знаков после запятой" }),
  price: t.Number({ minimum: 0, maximum: 100_000_000, description: "цена за единицу, рубли, до 2 знаков" }),
  sn: t.Optional(t.Array(SerialNumber, { maxItems: 10_000 })),
  pack: t.Optional(Pack),
});

export const Agent = obj({ meta: t.Optional(Meta), ...customerFields });

export const TransactionType = t.Union([t.Literal("EARNING"), t.Literal("SPENDING")]);

export const RecalcRequest = obj({
  retailStore: t.Optional(RetailStore),
  agent: Agent,
  positions: t.Array(RecalcPosition, { minItems: 1, maxItems: 1000 }),
  bonusProgram: t.Optional(obj({ transactionType: t.Optional(TransactionType) })),
  preferredBonusToSpend: t.Optional(t.Nullable(t.Number({ minimum: 0, maximum: 1_000_000_000_000 }))),
});

export const RecalcResultPosition = obj(
  {
    assortment: obj({ meta: Meta }),
    quantity: t.Number(),
    price: t.Number(),
    discountPercent: t.Number({ minimum: 0, maximum: 100 }),
    discountedPrice: t.Number({ minimum: 0 }),
    sn: t.Optional(t.Array(SerialNumber)),
    pack: t.Optional(Pack),
  },
  { additionalProperties: true },
);

export const RecalcResponse = obj({
  agent: t.Any(),
  positions: t.Array(RecalcResultPosition),
  bonusProgram: obj({
    transactionType: TransactionType,
    agentBonusBalance: int(),
    bonusValueToSpend: int(),
    bonusValueToEarn: int(),
    agentBonusBalanceAfter: int(),
    paidByBonusPoints: t.Number(),
    receiptExtraInfo: t.String(),
  }),
  needVerification: t.Boolean(),
});

// --- /retaildemand (completed sale) and /retailsalesreturn ------------------------

export const DocumentPosition = obj({
  assortment: obj({ meta: Meta, syncId: t.Optional(t.Nullable(str(64))) }),
  quantity: t.Number({ exclusiveMinimum: 0, maximum: 1_000_000 }),
  price: t.Number({ minimum: 0, maximum: 100_000_000 }),
  discountPercent: t.Optional(t.Nullable(t.Number({ minimum: 0, maximum: 100 }))),
  discountedPrice: t.Optional(t.Nullable(t.Number({ minimum: 0, maximum: 100_000_000 }))),
});

const roubles = t.Number({ minimum: 0, maximum: 10_000_000_000, description: "рубли, до 2 знаков" });

export const GiftCardPayment = obj({
  id: t.Optional(str(64)),
  name: t.Optional(str(128)),
  paymentSum: t.Integer({ minimum: 0, description: "копейки" }),
});

/** What a sale and a return both carry: where, which document, when. */
const documentFields = {
  retailStore: t.Optional(RetailStore),
  name: t.Optional(t.Nullable(str())),
  moment: t.Optional(t.Nullable(DateTime)),
  meta: t.Optional(Meta),
};

/** How it was paid, in roubles. */
const paymentFields = {
  cashSum: t.Optional(t.Nullable(roubles)),
  noCashSum: t.Optional(t.Nullable(roubles)),
};

export const RetailDemand = obj({
  ...documentFields,
  agent: t.Optional(t.Nullable(Agent)),
  positions: t.Array(DocumentPosition, { minItems: 1, maxItems: 1000 }),
  bonusProgram: t.Optional(
    t.Nullable(
      obj({
        bonusValueToSpend: t.Optional(t.Nullable(t.Number({ minimum: 0 }))),
        bonusValueToEarn: t.Optional(t.Nullable(t.Number({ minimum: 0 }))),
      }),
    ),
  ),
  ...paymentFields,
  giftCards: t.Optional(t.Array(GiftCardPayment, { maxItems: 50 })),
});

export const RetailSalesReturn = obj({
  ...documentFields,
  demand: t.Optional(t.Nullable(obj({ meta: t.Optional(t.Nullable(Meta)) }))),
  // Flat { href, id } here, not wrapped in meta; may be {}.
  agent: t.Optional(t.Nullable(obj({ href: t.Optional(str(2048)), id: t.Optional(str(64)) }))),
  positions: t.Array(DocumentPosition, { minItems: 1, maxItems: 1000 }),
  ...paymentFields,
});

export const DocumentAccepted = obj({ id: t.String({ description: "наш идентификатор документа" }) });

// --- confirmation codes -----------------------------------------------------------

export const CounterpartyVerify = obj({
  retailStore: t.Optional(RetailStore),
  // href only is fine: it can be a POS "syncid" URL with no id.
  meta: t.Optional(Meta),
  ...customerFields,
});

export const RetailDemandVerify = obj({
  retailStore: t.Optional(RetailStore),
  counterpartyId: t.Optional(t.Nullable(str(64))),
  phone: t.Optional(t.Nullable(str(64))),
});

export const VerificationCode = obj({
  verificationCode: t.String(),
  timeForRepeat: int({ description: "секунд до повторного запроса" }),
  messageForCashier: t.String({ maxLength: 140 }),
});
