// Self-registration (/join/:slug): phone → SMS code (the program's code rules and limits) →
// name, birthday, consents → the card. An existing phone gets its existing card after the
// code, never a second customer. Each step is a use case; the controller only renders.
import { timingSafeEqual } from "node:crypto";
import type { AppDeps } from "../deps.ts";
import { errors } from "../errors.ts";
import { grantWelcome } from "../loyalty/gifts.ts";
import { asUuid, upsertCustomer } from "../loyalty/customers.ts";
import { errorFields, log } from "../log.ts";
import { normalizePhone } from "../loyalty/phone.ts";
import type { TenantContext } from "../loyalty/tenants.ts";
import { sendCode } from "../moysklad/verification.ts";
import { newCardToken } from "./card.ts";
import { queueCardLink } from "./jobs.ts";
import { attachReferral } from "./referrals.ts";

/** Wrong codes typed for one code before it is withdrawn (a 6-digit code cannot be walked). */
export const MAX_CODE_ATTEMPTS = 5;
/** How long a confirmed phone waits for the name and consents. */
const JOIN_SESSION_MINUTES = 30;

export const DEFAULT_CONSENT_TEXT =
  "Я даю согласие на обработку моих персональных данных (телефон, имя, дата рождения, история покупок) " +
  "в целях участия в программе лояльности в соответствии с Федеральным законом № 152-ФЗ «О персональных данных».";

export function phoneOrError(raw: string): string {
  const phone = normalizePhone(raw);
  if (!phone) throw errors.validation("Введите номер телефона полностью, например +7 903 123-45-67.", "phone");
  return phone;
}

export async function requestJoinCode(deps: AppDeps, tenant: TenantContext, rawPhone: string): Promise<{ phone: string; repeatSeconds: number }> {
  const phone = phoneOrError(rawPhone);
  const [existing] = await deps.sql<{ id: string }[]>`select id from customer where tenant_id = ${tenant.id} and phone = ${phone}`;
  const sent = await sendCode(deps, tenant, "registration", phone, existing?.id ?? null);
  return { phone, repeatSeconds: sent.timeForRepeat };
}

export type ConfirmOutcome = { kind: "existing"; token: string } | { kind: "new"; sessionId: string };

function sameCode(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const wrongCode = () => errors.validation("Код не подходит. Проверьте SMS или запросите новый код.", "code");

/** Checks the code from the SMS; a right code is used up. */
export async function confirmJoinCode(deps: AppDeps, tenant: TenantContext, rawPhone: string, rawCode: string, referralCode: string | null): Promise<ConfirmOutcome> {
  const phone = phoneOrError(rawPhone);
  const code = rawCode.replace(/\s/g, "");
  if (!/^[0-9]{4,8}$/.test(code)) throw wrongCode();
  type Step = ConfirmOutcome | { kind: "wrong" | "spent" };
  return deps.sql.begin(async (tx): Promise<Step> => {
    const [live] = await tx<{ id: string; code: string; failed_attempts: number }[]>`
      select id, code, failed_attempts from verification_code
      where tenant_id = ${tenant.id} and phone = ${phone} and purpose = 'registration'
        and code is not null and expires_at > now()
      order by created_at desc limit 1
      for update`;
    if (!live) throw errors.validation("Код устарел или не запрашивался. Запросите новый код.", "code");
    if (!sameCode(live.code, code)) {
      const spent = live.failed_attempts + 1 >= MAX_CODE_ATTEMPTS;
      await tx`update verification_code set failed_attempts = failed_attempts + 1, code = ${spent ? null : live.code}
               where tenant_id = ${tenant.id} and id = ${live.id}`;
      return { kind: spent ? ("spent" as const) : ("wrong" as const) };
    }
    await tx`update verification_code set code = null where tenant_id = ${tenant.id} and id = ${live.id}`;
    const [customer] = await tx<{ id: string; qr_token: string | null }[]>`
      select id, qr_token from customer where tenant_id = ${tenant.id} and phone = ${phone}`;
    if (customer) {
      let token = customer.qr_token;
      if (!token) {
        token = newCardToken();
        await tx`update customer set qr_token = ${token} where tenant_id = ${tenant.id} and id = ${customer.id}`;
      }
      return { kind: "existing" as const, token };
    }
    const [session] = await tx<{ id: string }[]>`
      insert into join_session (tenant_id, phone, referral_code, expires_at)
      values (${tenant.id}, ${phone}, ${referralCode}, now() + make_interval(mins => ${JOIN_SESSION_MINUTES}))
      returning id`;
    return { kind: "new" as const, sessionId: session!.id };
  }).then((r): ConfirmOutcome => {
    // Thrown after the commit, so the counted attempt stays counted.
    if (r.kind === "wrong") throw wrongCode();
    if (r.kind === "spent") throw errors.validation("Слишком много неверных попыток. Запросите новый код.", "code");
    return r as ConfirmOutcome;
  });
}

export interface JoinDetails {
  name: string;
  /** YYYY-MM-DD or empty. */
  birthDate: string;
  personalDataConsent: boolean;
  advertisingConsent: boolean;
}

export function checkDetails(d: JoinDetails): { name: string; birthDate: string | null } {
  const name = d.name.trim().replace(/\s+/g, " ");
  if (name.length < 1 || name.length > 100) throw errors.validation("Укажите имя (до 100 знаков).", "name");
  let birthDate: string | null = null;
  if (d.birthDate.trim()) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(d.birthDate.trim());
    const date = m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!)) : null;
    const valid = date && date.getUTCDate() === +m![3]! && date.getUTCMonth() === +m![2]! - 1;
    const year = m ? +m[1]! : 0;
    if (!valid || year < 1900 || date! > new Date()) throw errors.validation("Дата рождения указана неверно.", "birthDate");
    birthDate = d.birthDate.trim();
  }
  if (!d.personalDataConsent) {
    throw errors.validation("Без согласия на обработку персональных данных карту выдать нельзя.", "personalDataConsent");
  }
  return { name, birthDate };
}

/** Creates the customer (or finds the one who got there first) and returns their card token. */
export async function completeJoin(deps: AppDeps, tenant: TenantContext, sessionId: string, details: JoinDetails): Promise<{ token: string; created: boolean }> {
  if (!asUuid(sessionId)) throw errors.validation("Сессия регистрации устарела. Начните заново.", "session");
  const { name, birthDate } = checkDetails(details);
  const [session] = await deps.sql<{ phone: string; referral_code: string | null }[]>`
    update join_session set used_at = now()
    where tenant_id = ${tenant.id} and id = ${sessionId} and used_at is null and expires_at > now()
    returning phone, referral_code`;
  if (!session) throw errors.validation("Сессия регистрации устарела. Начните заново.", "session");
  const { customer, created } = await upsertCustomer(deps.sql, tenant.id, {
    msId: null,
    syncId: null,
    name,
    legalFirstName: null,
    legalMiddleName: null,
    legalLastName: null,
    phone: session.phone,
    card: null,
    email: null,
    birthDate,
    sex: null,
    statusCheck: "CHECKED",
  });
  if (created) {
    // Consents, the referral and the program's welcome gift (as at the till) commit together.
    const gift = await deps.sql.begin(async (tx) => {
      await tx`update customer set personal_data_consent_at = now(),
                 advertising_consent_at = ${details.advertisingConsent ? tx`now()` : null}
               where tenant_id = ${tenant.id} and id = ${customer.id}`;
      await attachReferral(tx, tenant.id, customer.id, session.referral_code);
      return grantWelcome(tx, tenant.id, customer.id, tenant.program, "registration");
    });
    await queueCardLink(deps.queues, tenant.id, customer.id);
    if (gift) {
      // The gift is posted; a message Redis cannot take now is not worth failing the registration.
      await deps.queues
        ?.enqueuePointsMessage({ tenantId: tenant.id, customerId: customer.id, documentId: gift.ref, text: gift.text })
        .catch((e) => log.warn("welcome message not queued", errorFields(e)));
    }
  }
  return { token: customer.qr_token!, created };
}
