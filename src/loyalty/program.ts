import { t } from "elysia";
import { isTimeZone } from "./moment.ts";
import type { ProgramRules } from "./engine.ts";
import { DEFAULT_RECEIPT_TEMPLATE } from "./engine.ts";
import { currentTemplate, DEFAULT_TEMPLATES, type FORMER_DEFAULTS } from "./messages.ts";
import { parsePercentHundredths } from "./money.ts";

// A merchant's program settings, declared once. The schema is the type, the admin API's
// validation and its OpenAPI description; DEFAULTS (typed by it, so a setting without a
// default does not compile) fill what the merchant never set. The database keeps only
// the merchant's own choices in one jsonb column, so a new setting needs no migration
// and a changed default reaches every merchant who never overrode it.

const percent = t.Number({ minimum: 0, maximum: 100, description: "до 2 знаков после запятой" });

export const ProgramSettings = t.Object(
  {
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
    timezone: t.String({
      minLength: 1,
      maxLength: 64,
      description: "часовой пояс магазина (IANA, например Europe/Moscow): по нему считаются дни, дни рождения и часы акций",
    }),
    maxPointsPerReceipt: t.Integer({
      minimum: 0,
      maximum: 1_000_000_000,
      description: "начисление за один чек сверх этого числа баллов ждёт решения оператора (списание сверх баланса покупателя ждёт всегда)",
    }),
    welcomePoints: t.Integer({ minimum: 0, maximum: 1_000_000, description: "баллов новому покупателю один раз (0 — выключено)" }),
    welcomeOn: t.Union([t.Literal("registration"), t.Literal("firstPurchase")], {
      description: "когда дарить: при регистрации или после первой покупки",
    }),
    birthdayPoints: t.Integer({ minimum: 0, maximum: 1_000_000, description: "баллов ко дню рождения раз в год (0 — выключено)" }),
    birthdayDaysBefore: t.Integer({ minimum: 0, maximum: 30, description: "за сколько дней до дня рождения" }),
    pointsLifetimeDays: t.Nullable(t.Integer({ minimum: 1, maximum: 3650 }), { description: "через сколько дней сгорают начисленные баллы (null — не сгорают)" }),
    welcomePointsLifetimeDays: t.Nullable(t.Integer({ minimum: 1, maximum: 3650 }), { description: "то же для приветственных (null — как pointsLifetimeDays)" }),
    birthdayPointsLifetimeDays: t.Nullable(t.Integer({ minimum: 1, maximum: 3650 }), { description: "то же для подарка ко дню рождения (null — как pointsLifetimeDays)" }),
    expiryReminderDays: t.Nullable(t.Integer({ minimum: 1, maximum: 365 }), { description: "за сколько дней напомнить о сгорании (null — не напоминать)" }),
    tiers: t.Array(
      t.Object(
        {
          name: t.String({ minLength: 1, maxLength: 100 }),
          minPurchases: t.Integer({ minimum: 1, maximum: 1_000_000_000, description: "рублей покупок за окно tierWindowDays" }),
          earnPercent: t.Optional(percent),
          maxSpendPercent: t.Optional(percent),
          spendRate: t.Optional(t.Number({ exclusiveMinimum: 0, maximum: 1_000_000 })),
        },
        { additionalProperties: false },
      ),
      { maxItems: 20, description: "уровни по возрастанию minPurchases" },
    ),
    tierWindowDays: t.Nullable(t.Integer({ minimum: 1, maximum: 3650 }), { description: "за сколько дней считать покупки (null — за всё время)" }),
    baseTierName: t.String({ minLength: 1, maxLength: 100, description: "название уровня ниже первого" }),
    tierMessageTemplate: t.String({ minLength: 1, maxLength: 500, description: "смена уровня: {tier} {percent}" }),
    welcomeMessageTemplate: t.String({ minLength: 1, maxLength: 500, description: "приветственные баллы: {points} {balance}" }),
    birthdayMessageTemplate: t.String({ minLength: 1, maxLength: 500, description: "подарок ко дню рождения: {points} {balance}" }),
    expiryMessageTemplate: t.String({ minLength: 1, maxLength: 500, description: "баллы сгорели: {points} {burnVerb} {balance}" }),
    reminderMessageTemplate: t.String({ minLength: 1, maxLength: 500, description: "напоминание: {points} {burnVerb} {date}" }),
    referrerPoints: t.Integer({ minimum: 0, maximum: 1_000_000, description: "баллы пригласившему, когда первая покупка друга проведена; 0 — выключено" }),
    referredPoints: t.Integer({ minimum: 0, maximum: 1_000_000, description: "баллы приглашённому другу за первую покупку; 0 — выключено" }),
  },
  { additionalProperties: false },
);
export type ProgramSettings = typeof ProgramSettings.static;

export const ProgramPatch = t.Partial(ProgramSettings, { additionalProperties: false });
export type ProgramPatch = typeof ProgramPatch.static;

export const DEFAULT_PROGRAM_SETTINGS: ProgramSettings = {
  earnPercent: 5,
  spendRate: 1,
  maxSpendPercent: 100,
  earnWhileRedeeming: false,
  accrualDelayDays: 0,
  excludedAssortmentIds: [],
  requireSpendVerification: false,
  requireRegistrationVerification: false,
  receiptTemplate: DEFAULT_RECEIPT_TEMPLATE,
  codeLength: 6,
  codeTtlSeconds: 300,
  codeRepeatSeconds: 60,
  codesPerPhonePerHour: 5,
  codesPerTenantPerHour: 500,
  codeMessageTemplate: DEFAULT_TEMPLATES.code,
  pointsMessageTemplate: DEFAULT_TEMPLATES.points,
  returnMessageTemplate: DEFAULT_TEMPLATES.return,
  timezone: "Europe/Moscow",
  maxPointsPerReceipt: 100_000,
  welcomePoints: 0,
  welcomeOn: "registration",
  birthdayPoints: 0,
  birthdayDaysBefore: 0,
  pointsLifetimeDays: null,
  welcomePointsLifetimeDays: null,
  birthdayPointsLifetimeDays: null,
  expiryReminderDays: 7,
  tiers: [],
  tierWindowDays: 365,
  baseTierName: "Базовый",
  tierMessageTemplate: DEFAULT_TEMPLATES.tier,
  welcomeMessageTemplate: DEFAULT_TEMPLATES.welcome,
  birthdayMessageTemplate: DEFAULT_TEMPLATES.birthday,
  expiryMessageTemplate: DEFAULT_TEMPLATES.expiry,
  reminderMessageTemplate: DEFAULT_TEMPLATES.reminder,
  referrerPoints: 0,
  referredPoints: 0,
};

export type Tier = ProgramSettings["tiers"][number];

const SETTING_NAMES = Object.keys(DEFAULT_PROGRAM_SETTINGS) as (keyof ProgramSettings)[];

/** Settings plus the engine's integer form of them, computed once per cache fill. */
export interface Program {
  settings: ProgramSettings;
  rules: ProgramRules;
}

/** Settings whose stored text may be a default of an earlier version (messages.ts FORMER_DEFAULTS). */
const FORMER_DEFAULT_SETTINGS: [keyof typeof FORMER_DEFAULTS, keyof ProgramSettings][] = [
  ["welcome", "welcomeMessageTemplate"],
  ["birthday", "birthdayMessageTemplate"],
  ["expiry", "expiryMessageTemplate"],
  ["reminder", "reminderMessageTemplate"],
];

/** The stored choices (jsonb, possibly holding settings since retired) over the defaults. */
export function programFromStored(stored: Record<string, unknown> | null): Program {
  const settings: Record<string, unknown> = { ...DEFAULT_PROGRAM_SETTINGS };
  for (const name of SETTING_NAMES) if (stored && stored[name] !== undefined) settings[name] = stored[name];
  for (const [name, key] of FORMER_DEFAULT_SETTINGS) settings[key] = currentTemplate(name, settings[key] as string);
  return programFromSettings(settings as ProgramSettings);
}

function programFromSettings(settings: ProgramSettings): Program {
  const rules: ProgramRules = {
    earnPercentBp: parsePercentHundredths(settings.earnPercent)!,
    spendRateKopecks: parsePercentHundredths(settings.spendRate)!,
    maxSpendPercentBp: parsePercentHundredths(settings.maxSpendPercent)!,
    earnWhileRedeeming: settings.earnWhileRedeeming,
    excludedAssortmentIds: new Set(settings.excludedAssortmentIds),
    requireSpendVerification: settings.requireSpendVerification,
    receiptTemplate: settings.receiptTemplate,
  };
  return { settings, rules };
}

/** A problem with one setting: the field and the Russian words for the merchant. */
export interface SettingProblem {
  field: string;
  message: string;
}

/**
 * What the schema cannot say about a patch, checked against the settings it would
 * produce (so cross-field rules see the merged result). The first problem, or null.
 */
export function checkProgramPatch(patch: ProgramPatch): SettingProblem | null {
  for (const field of ["earnPercent", "spendRate", "maxSpendPercent"] as const) {
    const v = patch[field];
    if (v !== undefined && parsePercentHundredths(v) === null) {
      return { field, message: `«${field}»: не более 2 знаков после запятой.` };
    }
  }
  if (patch.spendRate !== undefined && parsePercentHundredths(patch.spendRate) === 0) {
    return { field: "spendRate", message: "«spendRate» должен быть не меньше 0.01." };
  }
  if (patch.codeMessageTemplate !== undefined && !patch.codeMessageTemplate.includes("{code}")) {
    return { field: "codeMessageTemplate", message: "Шаблон SMS с кодом должен содержать {code}." };
  }
  if (patch.timezone !== undefined && !isTimeZone(patch.timezone)) {
    return { field: "timezone", message: `«timezone»: неизвестный часовой пояс «${patch.timezone}» (нужен IANA, например Europe/Moscow).` };
  }
  if (patch.tiers !== undefined) {
    const names = new Set<string>();
    for (let i = 0; i < patch.tiers.length; i++) {
      const tier = patch.tiers[i]!;
      const field = `tiers[${i}]`;
      if (i > 0 && tier.minPurchases <= patch.tiers[i - 1]!.minPurchases) {
        return { field: `${field}.minPurchases`, message: "Уровни — по возрастанию minPurchases, без повторов." };
      }
      if (names.has(tier.name)) return { field: `${field}.name`, message: `Уровень «${tier.name}» указан дважды.` };
      names.add(tier.name);
      for (const f of ["earnPercent", "maxSpendPercent", "spendRate"] as const) {
        const v = tier[f];
        if (v !== undefined && parsePercentHundredths(v) === null) {
          return { field: `${field}.${f}`, message: `«${f}»: не более 2 знаков после запятой.` };
        }
      }
      if (tier.spendRate !== undefined && parsePercentHundredths(tier.spendRate) === 0) {
        return { field: `${field}.spendRate`, message: "«spendRate» должен быть не меньше 0.01." };
      }
    }
  }
  return null;
}

/** The patch as stored: the merchant's choices merged into what they chose before. */
export function mergeStored(stored: Record<string, unknown> | null, patch: ProgramPatch): Record<string, unknown> {
  const next: Record<string, unknown> = {};
  for (const name of SETTING_NAMES) if (stored && stored[name] !== undefined) next[name] = stored[name];
  for (const [name, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    next[name] = name === "excludedAssortmentIds" ? [...new Set(value as string[])] : value;
  }
  return next;
}
