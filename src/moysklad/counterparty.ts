import { queueCardLink } from "../card/jobs.ts";
import { welcomeOnRegistration } from "../loyalty/gifts.ts";
import { errorFields, log } from "../log.ts";
import { Elysia } from "elysia";
import type { AppDeps } from "../deps.ts";
import { ErrorBody, errors } from "../errors.ts";
import {
  type CustomerRow,
  customerRef,
  hasRef,
  refId,
  rememberMsId,
  resolveCustomer,
  searchCustomers,
  upsertCustomer,
} from "../loyalty/customers.ts";
import { calendarDate } from "../loyalty/moment.ts";
import { formatPhone, normalizePhone } from "../loyalty/phone.ts";
import { moyskladAuth, moyskladSecurity } from "./auth.ts";
import {
  CounterpartyCreate,
  CounterpartyDetail,
  CounterpartyDetailRequest,
  CounterpartyRow,
  CounterpartySearchQuery,
  CounterpartySearchResult,
  CounterpartyVerify,
  VerificationCode,
} from "./models.ts";
import { sendCode } from "./verification.ts";

type Row = typeof CounterpartyRow.static;

/** A customer as the POS reads it; absent values are left out rather than sent as null. */
export function counterpartyRow(c: CustomerRow): Row {
  const row: Row = { id: c.id };
  if (c.ms_id) row.msId = c.ms_id;
  if (c.name) row.name = c.name;
  if (c.card_number) row.discountCardNumber = c.card_number;
  if (c.phone) row.phone = formatPhone(c.phone);
  if (c.email) row.email = c.email;
  if (c.legal_first_name) row.legalFirstName = c.legal_first_name;
  if (c.legal_middle_name) row.legalMiddleName = c.legal_middle_name;
  if (c.legal_last_name) row.legalLastName = c.legal_last_name;
  if (c.birth_date) row.birthDate = `${c.birth_date} 00:00:00`;
  if (c.sex) row.sex = c.sex;
  return row;
}

function phoneOrError(raw: string | null | undefined): string | null {
  if (raw == null || raw.trim() === "") return null;
  const phone = normalizePhone(raw);
  if (!phone) throw errors.validation(`Неверный номер телефона «${raw}».`, "phone");
  return phone;
}

function blankToNull(s: string | null | undefined): string | null {
  const v = s?.trim();
  return v ? v : null;
}

const detail = (summary: string, description?: string) => ({
  tags: ["МойСклад: покупатели"],
  summary,
  description,
  security: moyskladSecurity,
});

function birthDateOf(text: string | null | undefined): string | null {
  if (!text) return null;
  const date = calendarDate(text);
  if (!date) throw errors.validation(`Дата рождения «${text}»: такого дня нет в календаре.`, "birthDate");
  return date;
}

export const counterpartyController = (deps: AppDeps) =>
  new Elysia({ prefix: "/counterparty" })
    .use(moyskladAuth(deps.tenants))
    .post(
      "",
      async ({ body, tenant, set }) => {
        const phone = phoneOrError(body.phone);
        const card = blankToNull(body.discountCardNumber);
        const msId = refId(body.meta);
        if (!phone && !card && !msId) {
          throw errors.validation("Укажите телефон или номер карты покупателя.", "phone");
        }
        const statusCheck = body.statusCheck ?? "UNCHECKED";
        const { customer, created } = await upsertCustomer(deps.sql, tenant.id, {
          msId,
          syncId: blankToNull(body.syncId),
          name: blankToNull(body.name),
          legalFirstName: blankToNull(body.legalFirstName),
          legalMiddleName: blankToNull(body.legalMiddleName),
          legalLastName: blankToNull(body.legalLastName),
          phone,
          card,
          email: blankToNull(body.email),
          birthDate: birthDateOf(body.birthDate),
          sex: body.sex ?? null,
          statusCheck,
          requireVerification: tenant.program.settings.requireRegistrationVerification && statusCheck === "UNCHECKED",
        });
        if (created) await queueCardLink(deps.queues, tenant.id, customer.id);
        const gift = created ? await welcomeOnRegistration(deps.sql, tenant.id, tenant.program, customer.id) : null;
        if (gift) {
          customer.balance += gift.points;
          // The gift is posted; a message Redis cannot take now is not worth failing the registration.
          await deps.queues
            ?.enqueuePointsMessage({ tenantId: tenant.id, customerId: customer.id, documentId: gift.ref, text: gift.text })
            .catch((e) => log.warn("welcome message not queued", errorFields(e)));
        }
        set.status = 201;
        return counterpartyRow(customer);
      },
      {
        body: CounterpartyCreate,
        response: { 201: CounterpartyRow, 400: ErrorBody, 401: ErrorBody, 409: ErrorBody, 412: ErrorBody },
        detail: detail(
          "Создать покупателя",
          "Создаёт покупателя или связывает и обновляет уже известного (тот же id МойСклад, телефон или карта).",
        ),
      },
    )
    .get(
      "",
      async ({ query, tenant }) => {
        const rows = await searchCustomers(deps.sql, tenant.id, query.search);
        return { rows: rows.map(counterpartyRow) };
      },
      {
        query: CounterpartySearchQuery,
        response: { 200: CounterpartySearchResult, 400: ErrorBody, 401: ErrorBody },
        detail: detail(
          "Найти покупателей",
          "По телефону в любой записи, номеру карты или содержимому QR-кода; сначала точные совпадения, не более 20 строк.",
        ),
      },
    )
    .post(
      "/detail",
      async ({ body, tenant }) => {
        const ref = customerRef(body);
        if (!hasRef(ref)) throw errors.validation("Не указан покупатель.", "meta");
        const customer = await resolveCustomer(deps.sql, tenant.id, ref);
        if (!customer) throw errors.customerNotFound("meta");
        await rememberMsId(deps.sql, tenant.id, customer, ref);
        return { bonusProgram: { agentBonusBalance: customer.balance } };
      },
      {
        body: CounterpartyDetailRequest,
        response: { 200: CounterpartyDetail, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody },
        detail: detail("Баланс покупателя"),
      },
    )
    .post(
      "/verify",
      async ({ body, tenant }) => {
        const phone = phoneOrError(body.phone);
        if (!phone) throw errors.validation("Укажите телефон покупателя: на него придёт код.", "phone");
        return sendCode(deps, tenant, "registration", phone, null);
      },
      {
        body: CounterpartyVerify,
        response: { 200: VerificationCode, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody, 503: ErrorBody },
        detail: detail(
          "Код подтверждения регистрации",
          "Отправляет покупателю SMS с кодом и возвращает код кассе для сверки. Повторный запрос раньше timeForRepeat — 429.",
        ),
      },
    );
