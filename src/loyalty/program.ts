import type { ProgramRules } from "./engine.ts";
import { DEFAULT_RECEIPT_TEMPLATE } from "./engine.ts";
import { DEFAULT_TEMPLATES } from "./messages.ts";

/** A merchant's program settings as the admin API shows them (see product.md). */
export interface ProgramSettings {
  earnPercent: number;
  spendRate: number;
  maxSpendPercent: number;
  earnWhileRedeeming: boolean;
  accrualDelayDays: number;
  excludedAssortmentIds: string[];
  requireSpendVerification: boolean;
  requireRegistrationVerification: boolean;
  receiptTemplate: string;
  codeLength: number;
  codeTtlSeconds: number;
  codeRepeatSeconds: number;
  codesPerPhonePerHour: number;
  codesPerTenantPerHour: number;
  codeMessageTemplate: string;
  pointsMessageTemplate: string;
  returnMessageTemplate: string;
  referrerPoints: number;
  referredPoints: number;
}

export interface ProgramRow {
  earn_percent: string;
  spend_rate: string;
  max_spend_percent: string;
  earn_while_redeeming: boolean;
  accrual_delay_days: number;
  excluded_assortment_ids: string[];
  require_spend_verification: boolean;
  require_registration_verification: boolean;
  receipt_template: string | null;
  code_length: number;
  code_ttl_seconds: number;
  code_repeat_seconds: number;
  codes_per_phone_per_hour: number;
  codes_per_tenant_per_hour: number;
  code_message_template: string | null;
  points_message_template: string | null;
  return_message_template: string | null;
  referrer_points: number;
  referred_points: number;
}

/** Settings plus the engine's integer form of them, computed once per cache fill. */
export interface Program {
  settings: ProgramSettings;
  rules: ProgramRules;
}

// numeric(…, 2) arrives as a decimal string; hundredths are exact integers.
function hundredths(decimal: string): number {
  const [whole = "0", frac = ""] = decimal.split(".");
  const sign = whole.startsWith("-") ? -1 : 1;
  return sign * (Math.abs(Number(whole)) * 100 + Number((frac + "00").slice(0, 2)));
}

export function programFromRow(row: ProgramRow): Program {
  const settings: ProgramSettings = {
    earnPercent: Number(row.earn_percent),
    spendRate: Number(row.spend_rate),
    maxSpendPercent: Number(row.max_spend_percent),
    earnWhileRedeeming: row.earn_while_redeeming,
    accrualDelayDays: row.accrual_delay_days,
    excludedAssortmentIds: row.excluded_assortment_ids,
    requireSpendVerification: row.require_spend_verification,
    requireRegistrationVerification: row.require_registration_verification,
    receiptTemplate: row.receipt_template ?? DEFAULT_RECEIPT_TEMPLATE,
    codeLength: row.code_length,
    codeTtlSeconds: row.code_ttl_seconds,
    codeRepeatSeconds: row.code_repeat_seconds,
    codesPerPhonePerHour: row.codes_per_phone_per_hour,
    codesPerTenantPerHour: row.codes_per_tenant_per_hour,
    codeMessageTemplate: row.code_message_template ?? DEFAULT_TEMPLATES.code,
    pointsMessageTemplate: row.points_message_template ?? DEFAULT_TEMPLATES.points,
    returnMessageTemplate: row.return_message_template ?? DEFAULT_TEMPLATES.return,
    referrerPoints: row.referrer_points,
    referredPoints: row.referred_points,
  };
  const rules: ProgramRules = {
    earnPercentBp: hundredths(row.earn_percent),
    spendRateKopecks: hundredths(row.spend_rate),
    maxSpendPercentBp: hundredths(row.max_spend_percent),
    earnWhileRedeeming: row.earn_while_redeeming,
    excludedAssortmentIds: new Set(row.excluded_assortment_ids),
    requireSpendVerification: row.require_spend_verification,
    receiptTemplate: settings.receiptTemplate,
  };
  return { settings, rules };
}

export const PROGRAM_COLUMNS = [
  "earn_percent",
  "spend_rate",
  "max_spend_percent",
  "earn_while_redeeming",
  "accrual_delay_days",
  "excluded_assortment_ids",
  "require_spend_verification",
  "require_registration_verification",
  "receipt_template",
  "code_length",
  "code_ttl_seconds",
  "code_repeat_seconds",
  "codes_per_phone_per_hour",
  "codes_per_tenant_per_hour",
  "code_message_template",
  "points_message_template",
  "return_message_template",
  "referrer_points",
  "referred_points",
] as const;
