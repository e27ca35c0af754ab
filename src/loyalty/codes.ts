// Confirmation codes: a new customer's registration, or a spend of points. The code is
// returned to the POS (the cashier compares what the customer reads out) and sent to the
// customer by SMS. Limits keep one phone, or one merchant, from being used to flood SMS.
import { randomInt } from "node:crypto";
import type { Queryable, Sql } from "../db/client.ts";
import { ApiError, ErrorCode } from "../errors.ts";
import type { ProgramSettings } from "./program.ts";

export type CodePurpose = "registration" | "spend";

/** The program settings that govern codes. */
export type CodeLimits = Pick<
  ProgramSettings,
  "codeLength" | "codeTtlSeconds" | "codeRepeatSeconds" | "codesPerPhonePerHour" | "codesPerTenantPerHour"
>;

export interface IssuedCode {
  id: string;
  code: string;
  expiresAt: Date;
}

/** A uniformly random code of `length` digits from the OS's cryptographic source. */
export function newCode(length: number): string {
  return String(randomInt(0, 10 ** length)).padStart(length, "0");
}

function seconds(n: number): string {
  return `${n} с`;
}

export function tooSoon(waitSeconds: number): ApiError {
  return ApiError.one(
    429,
    ErrorCode.rateLimited,
    "Код уже отправлен",
    `Новый код можно запросить через ${seconds(waitSeconds)}.`,
    "phone",
  );
}

export function tooMany(what: "phone" | "tenant"): ApiError {
  return ApiError.one(
    429,
    ErrorCode.rateLimited,
    "Слишком много кодов",
    what === "phone"
      ? "На этот номер за последний час отправлено слишком много кодов. Попробуйте позже."
      : "Магазин исчерпал часовой лимит SMS с кодами. Попробуйте позже или обратитесь к администратору.",
    what === "phone" ? "phone" : undefined,
  );
}

// Per-phone serialisation inside the transaction: two quick requests cannot both pass
// the "one code per timeForRepeat" check.
const PHONE_LOCK_SPACE = 7_312_005;

/**
 * Issues a code after checking the merchant's limits, in one transaction. Throws a 429
 * ApiError (with when to ask again) when a limit is reached.
 */
export async function issueCode(
  sql: Sql,
  tenantId: string,
  input: { purpose: CodePurpose; phone: string; customerId: string | null },
  limits: CodeLimits,
): Promise<IssuedCode> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${PHONE_LOCK_SPACE}, hashtext(${tenantId} || ':' || ${input.phone}))`;
    const [stats] = await tx<{ last_age: number | null; phone_hour: number; tenant_hour: number }[]>`
      select
        (select extract(epoch from now() - max(created_at))::float8 from verification_code
          where tenant_id = ${tenantId} and phone = ${input.phone} and purpose = ${input.purpose}) as last_age,
        (select count(*)::int from verification_code
          where tenant_id = ${tenantId} and phone = ${input.phone} and created_at > now() - interval '1 hour') as phone_hour,
        (select count(*)::int from verification_code
          where tenant_id = ${tenantId} and created_at > now() - interval '1 hour') as tenant_hour`;
    if (stats!.last_age !== null && stats!.last_age < limits.codeRepeatSeconds) {
      throw tooSoon(Math.max(1, Math.ceil(limits.codeRepeatSeconds - stats!.last_age)));
    }
    if (stats!.phone_hour >= limits.codesPerPhonePerHour) throw tooMany("phone");
    if (stats!.tenant_hour >= limits.codesPerTenantPerHour) throw tooMany("tenant");
    const code = newCode(limits.codeLength);
    const [row] = await tx<{ id: string; expires_at: Date }[]>`
      insert into verification_code (tenant_id, purpose, phone, customer_id, code, expires_at)
      values (${tenantId}, ${input.purpose}, ${input.phone}, ${input.customerId}, ${code},
        now() + make_interval(secs => ${limits.codeTtlSeconds}))
      returning id, expires_at`;
    return { id: row!.id, code, expiresAt: row!.expires_at };
  });
}

/** A code that could not be sent is withdrawn, so the cashier may ask again at once. */
export async function withdrawCode(sql: Sql, tenantId: string, codeId: string): Promise<void> {
  await sql`delete from verification_code where tenant_id = ${tenantId} and id = ${codeId}`;
}

/** Codes are kept only while usable. */
export async function wipeExpiredCodes(sql: Queryable): Promise<number> {
  const r = await sql`update verification_code set code = null where code is not null and expires_at < now()`;
  return r.count;
}
