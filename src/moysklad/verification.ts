// Issuing a code and sending it, shared by /counterparty/verify and /retaildemand/verify.
import type { AppDeps } from "../deps.ts";
import { errors } from "../errors.ts";
import { type CodePurpose, issueCode, withdrawCode } from "../loyalty/codes.ts";
import { maskPhone } from "../loyalty/phone.ts";
import type { TenantContext } from "../loyalty/tenants.ts";
import { errorFields, log } from "../log.ts";

export async function sendCode(
  deps: AppDeps,
  tenant: TenantContext,
  purpose: CodePurpose,
  phone: string,
  customerId: string | null,
) {
  const settings = tenant.program.settings;
  if (!deps.queues) throw errors.unavailable("Отправка SMS");
  const issued = await issueCode(deps.sql, tenant.id, { purpose, phone, customerId }, settings);
  try {
    await deps.queues.enqueueCodeMessage({ tenantId: tenant.id, codeId: issued.id });
  } catch (e) {
    await withdrawCode(deps.sql, tenant.id, issued.id);
    log.warn("code not queued", { tenantId: tenant.id, purpose, ...errorFields(e) });
    throw errors.unavailable("Отправка SMS");
  }
  return {
    verificationCode: issued.code,
    timeForRepeat: settings.codeRepeatSeconds,
    messageForCashier: `Код отправлен на номер ${maskPhone(phone)}`.slice(0, 140),
  };
}
