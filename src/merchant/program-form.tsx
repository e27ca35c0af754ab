// The program settings as a form, in Russian words. One list describes every setting
// (label, hint, input kind); the settings page and later the cabinet render and read it.
// Adding a setting = adding one entry. Values are checked by the admin API's own schema
// (ProgramPatch) and saved through TenantDirectory.updateProgram — the use case behind
// `PUT /admin/v1/tenants/:slug/program` — so validation lives in one place.
import { Value } from "@sinclair/typebox/value";
import { ProgramPatch, type ProgramSettings } from "../loyalty/program.ts";

export type FieldKind = "percent" | "decimal" | "integer" | "optionalInteger" | "choice" | "boolean" | "text" | "textarea";

export interface ProgramField {
  key: keyof ProgramSettings;
  label: string;
  hint?: string;
  kind: FieldKind;
  section: string;
  /** optionalInteger: what an empty field means («никогда»). */
  emptyMeans?: string;
  /** choice: value → words. */
  options?: Record<string, string>;
}

export const PROGRAM_FIELDS: ProgramField[] = [
  { section: "Начисление баллов", key: "earnPercent", kind: "percent", label: "Сколько процентов от покупки начислять баллами", hint: "1 балл за каждый рубль этой доли; например, 5 — это 5 баллов со 100 ₽." },
  { section: "Начисление баллов", key: "accrualDelayDays", kind: "integer", label: "Через сколько дней начисленные баллы можно тратить", hint: "0 — сразу после покупки. Задержка защищает от списания баллов за покупку, которую потом вернут." },
  { section: "Начисление баллов", key: "earnWhileRedeeming", kind: "boolean", label: "Начислять баллы и тогда, когда покупатель платит баллами" },
  { section: "Оплата баллами", key: "spendRate", kind: "decimal", label: "Сколько рублей стоит один балл", hint: "Например, 1 — один балл оплачивает один рубль." },
  { section: "Оплата баллами", key: "maxSpendPercent", kind: "percent", label: "Какую часть чека можно оплатить баллами, %", hint: "100 — весь чек." },
  { section: "Оплата баллами", key: "requireSpendVerification", kind: "boolean", label: "Списывать баллы только по коду из SMS покупателю" },
  { section: "Коды подтверждения", key: "requireRegistrationVerification", kind: "boolean", label: "Регистрировать покупателя только по коду из SMS" },
  { section: "Коды подтверждения", key: "codeLength", kind: "integer", label: "Цифр в коде" },
  { section: "Коды подтверждения", key: "codeTtlSeconds", kind: "integer", label: "Сколько секунд код действителен" },
  { section: "Коды подтверждения", key: "codeRepeatSeconds", kind: "integer", label: "Через сколько секунд можно запросить новый код" },
  { section: "Коды подтверждения", key: "codesPerPhonePerHour", kind: "integer", label: "Не больше кодов на один телефон в час" },
  { section: "Коды подтверждения", key: "codesPerTenantPerHour", kind: "integer", label: "Не больше кодов на магазин в час", hint: "Защита от расходов на SMS при ошибке или злоупотреблении." },
  { section: "Тексты", key: "receiptTemplate", kind: "textarea", label: "Текст на чеке", hint: "Подстановки: {earned} — начислено, {spent} — списано, {balance} — баланс, {paid} — оплачено баллами." },
  { section: "Тексты", key: "codeMessageTemplate", kind: "textarea", label: "SMS с кодом подтверждения", hint: "Обязательно {code}; {shop} — название магазина." },
  { section: "Тексты", key: "pointsMessageTemplate", kind: "textarea", label: "Сообщение после покупки", hint: "{change} — изменение, {balance} — баланс, {earned} — начислено, {spent} — списано." },
  { section: "Тексты", key: "returnMessageTemplate", kind: "textarea", label: "Сообщение после возврата", hint: "{change} — изменение, {balance} — баланс, {refunded} — возвращено, {clawed} — списано обратно." },
  { section: "Магазин", key: "timezone", kind: "text", label: "Часовой пояс магазина", hint: "Название IANA, например Europe/Moscow или Asia/Yekaterinburg: по нему считаются дни, дни рождения и часы акций." },
  { section: "Магазин", key: "maxPointsPerReceipt", kind: "integer", label: "Больше скольких баллов за один чек ждать решения оператора", hint: "Списание сверх баланса и начисление сверх этого числа не проводятся сами: их подтверждает оператор." },
  { section: "Подарки", key: "welcomePoints", kind: "integer", label: "Приветственные баллы новому покупателю", hint: "0 — не дарить." },
  { section: "Подарки", key: "welcomeOn", kind: "choice", label: "Когда дарить приветственные баллы", options: { registration: "при регистрации", firstPurchase: "после первой покупки" } },
  { section: "Подарки", key: "birthdayPoints", kind: "integer", label: "Баллы ко дню рождения, раз в год", hint: "0 — не дарить." },
  { section: "Подарки", key: "birthdayDaysBefore", kind: "integer", label: "За сколько дней до дня рождения дарить (0–30)" },
  { section: "Подарки", key: "referrerPoints", kind: "integer", label: "Баллы за приглашённого друга (после его первой покупки)", hint: "0 — не начислять." },
  { section: "Подарки", key: "referredPoints", kind: "integer", label: "Баллы приглашённому другу за первую покупку", hint: "0 — не начислять." },
  { section: "Сгорание баллов", key: "pointsLifetimeDays", kind: "optionalInteger", emptyMeans: "не сгорают", label: "Через сколько дней сгорают начисленные баллы", hint: "Пусто — не сгорают. Срок считается с дня, когда баллы стали доступны." },
  { section: "Сгорание баллов", key: "welcomePointsLifetimeDays", kind: "optionalInteger", emptyMeans: "как начисленные", label: "Через сколько дней сгорают приветственные баллы", hint: "Пусто — как начисленные." },
  { section: "Сгорание баллов", key: "birthdayPointsLifetimeDays", kind: "optionalInteger", emptyMeans: "как начисленные", label: "Через сколько дней сгорают баллы ко дню рождения", hint: "Пусто — как начисленные." },
  { section: "Сгорание баллов", key: "expiryReminderDays", kind: "optionalInteger", emptyMeans: "не напоминать", label: "За сколько дней напомнить о сгорании", hint: "Пусто — не напоминать." },
  { section: "Уровни", key: "tierWindowDays", kind: "optionalInteger", emptyMeans: "за всё время", label: "За сколько дней считать покупки для уровня", hint: "Пусто — за всё время. Сами уровни задаются через API администратора (tiers)." },
  { section: "Уровни", key: "baseTierName", kind: "text", label: "Название начального уровня" },
];

/** Form field names: the setting's key under a prefix, so they never clash with the page's own fields. */
const fieldName = (f: ProgramField) => `p.${f.key}`;

function shown(f: ProgramField, v: unknown): string {
  if (f.kind === "boolean") return v ? "да" : "нет";
  if (f.kind === "choice") return f.options?.[String(v)] ?? String(v ?? "");
  if (f.kind === "optionalInteger" && (v === null || v === undefined || v === "")) return "";
  if (typeof v === "string" && f.kind !== "text" && f.kind !== "textarea") return v;
  if (typeof v === "number") return String(v).replace(".", ",");
  return String(v ?? "");
}

/** What the merchant typed for a field, when a refused form is shown again. */
function typedText(form: Record<string, unknown> | undefined, f: ProgramField): string | undefined {
  const raw = form?.[fieldName(f)];
  const last = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  return typeof last === "string" ? last : undefined;
}

export function ProgramFieldsForm(props: {
  values: ProgramSettings;
  /** Shown as «По умолчанию: …» (DEFAULT_PROGRAM_SETTINGS). */
  defaults: ProgramSettings;
  readOnly: boolean;
  fields?: ProgramField[];
  /** A refused form: show what was typed (not the stored values) and mark the wrong field. */
  typed?: Record<string, unknown>;
  invalid?: keyof ProgramSettings;
}): JSX.Element {
  const fields = props.fields ?? PROGRAM_FIELDS;
  const sections = [...new Set(fields.map((f) => f.section))];
  return (
    <>
      {sections.map((section) => (
        <fieldset class="card">
          <legend safe>{section}</legend>
          {fields
            .filter((f) => f.section === section)
            .map((f) => {
              const name = fieldName(f);
              const id = `f-${f.key}`;
              const typed = typedText(props.typed, f);
              const value = typed !== undefined ? (f.kind === "boolean" ? typed === "1" : typed) : props.values[f.key];
              const invalid = props.invalid === f.key ? "true" : undefined;
              const def = props.defaults[f.key];
              const defText =
                f.kind === "textarea" || f.kind === "text"
                  ? `По умолчанию: «${shown(f, def)}»`
                  : f.kind === "optionalInteger" && def === null
                    ? `По умолчанию: ${f.emptyMeans ?? "пусто"}.`
                    : `По умолчанию: ${shown(f, def)}`;
              if (f.kind === "boolean") {
                return (
                  <div class="field check">
                    <input type="hidden" name={name} value="0" />
                    <input type="checkbox" id={id} name={name} value="1" checked={value === true} disabled={props.readOnly} />
                    <label for={id} safe>
                      {f.label}
                    </label>
                    <p class="hint" safe>
                      {[f.hint, defText].filter(Boolean).join(" ")}
                    </p>
                  </div>
                );
              }
              if (f.kind === "choice") {
                return (
                  <div class="field">
                    <label for={id} safe>
                      {f.label}
                    </label>
                    <select id={id} name={name} disabled={props.readOnly}>
                      {Object.entries(f.options ?? {}).map(([v, words]) => (
                        <option value={v} selected={String(value) === v} safe>
                          {words}
                        </option>
                      ))}
                    </select>
                    <p class="hint" safe>
                      {[f.hint, defText].filter(Boolean).join(" ")}
                    </p>
                  </div>
                );
              }
              return (
                <div class="field">
                  <label for={id} safe>
                    {f.label}
                  </label>
                  {f.kind === "textarea" ? (
                    <textarea id={id} name={name} aria-invalid={invalid} rows={String(Math.min(8, Math.max(2, String(value ?? "").split("\n").length + 1)))} readonly={props.readOnly} safe>
                      {String(value ?? "")}
                    </textarea>
                  ) : (
                    <input type="text" aria-invalid={invalid} inputmode={f.kind === "integer" || f.kind === "optionalInteger" ? "numeric" : f.kind === "text" ? undefined : "decimal"} id={id} name={name} value={shown(f, value)} readonly={props.readOnly} />
                  )}
                  <p class="hint" safe>
                    {[f.hint, defText].filter(Boolean).join(" ")}
                  </p>
                </div>
              );
            })}
        </fieldset>
      ))}
    </>
  );
}

export class ProgramFormError extends Error {
  constructor(
    readonly field: ProgramField,
    readonly words: string,
  ) {
    super(`${field.label}: ${words}`);
  }
}

function bounds(schema: any): string {
  const parts: string[] = [];
  if (schema?.minimum !== undefined) parts.push(`не меньше ${schema.minimum}`);
  if (schema?.exclusiveMinimum !== undefined) parts.push(`больше ${schema.exclusiveMinimum}`);
  if (schema?.maximum !== undefined) parts.push(`не больше ${schema.maximum}`);
  if (schema?.minLength !== undefined && schema.minLength > 0) parts.push(`не пустое`);
  if (schema?.maxLength !== undefined) parts.push(`не длиннее ${schema.maxLength} символов`);
  return parts.join(", ");
}

/**
 * Reads the form into a program patch and checks it against the admin API's schema.
 * Throws ProgramFormError naming the setting in words.
 */
export function readProgramForm(form: Record<string, unknown>, fields: ProgramField[] = PROGRAM_FIELDS): Partial<ProgramSettings> {
  const patch: Record<string, unknown> = {};
  for (const f of fields) {
    const raw = form[fieldName(f)];
    if (raw === undefined) continue;
    // A checkbox sends its hidden "0" and, when ticked, "1" after it.
    const last = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    const text = typeof last === "string" ? last.trim() : "";
    if (f.kind === "boolean") {
      patch[f.key] = text === "1";
    } else if (f.kind === "text" || f.kind === "textarea") {
      patch[f.key] = typeof last === "string" ? last.replace(/\r\n/g, "\n") : "";
    } else if (f.kind === "choice") {
      if (!f.options || !(text in f.options)) throw new ProgramFormError(f, "выберите одно из значений.");
      patch[f.key] = text;
    } else if (f.kind === "optionalInteger" && text === "") {
      patch[f.key] = null;
    } else {
      const normal = text.replace(/\s/g, "").replace(",", ".");
      if (normal === "") throw new ProgramFormError(f, "заполните поле.");
      const n = Number(normal);
      if (!/^-?\d+(\.\d+)?$/.test(normal) || !Number.isFinite(n)) throw new ProgramFormError(f, f.kind === "integer" ? "нужно целое число." : "нужно число.");
      patch[f.key] = n;
    }
  }
  const first = Value.Errors(ProgramPatch, patch).First();
  if (first) {
    const key = first.path.split("/")[1] as keyof ProgramSettings;
    const f = fields.find((x) => x.key === key) ?? fields[0]!;
    const b = bounds(first.schema);
    throw new ProgramFormError(f, first.schema?.type === "integer" && Number.isInteger(first.value) === false ? "нужно целое число." : b ? `значение должно быть ${b}.` : "недопустимое значение.");
  }
  return patch as Partial<ProgramSettings>;
}
