// The program settings as a form, in Russian words. One list describes every setting
// (label, hint, input kind); the settings page and later the cabinet render and read it.
// Adding a setting = adding one entry. Values are checked by the admin API's own schema
// (ProgramPatch) and saved through TenantDirectory.updateProgram — the use case behind
// `PUT /admin/v1/tenants/:slug/program` — so validation lives in one place.
import { Value } from "@sinclair/typebox/value";
import { checkProgramPatch, ProgramPatch, type ProgramSettings, type Tier } from "../loyalty/program.ts";

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
  /** choice: a value outside `options` (set through the admin API) is kept and shown as is. */
  openChoice?: boolean;
}

/** The zones of МойСклад's merchants, in words; any other IANA zone set by an operator stays selectable. */
const TIME_ZONES: Record<string, string> = {
  "Europe/Kaliningrad": "Калининград (МСК−1)",
  "Europe/Moscow": "Москва (МСК)",
  "Europe/Samara": "Самара, Ижевск (МСК+1)",
  "Asia/Yekaterinburg": "Екатеринбург, Пермь, Уфа, Челябинск (МСК+2)",
  "Asia/Omsk": "Омск (МСК+3)",
  "Asia/Novosibirsk": "Новосибирск, Барнаул, Томск (МСК+4)",
  "Asia/Krasnoyarsk": "Красноярск, Кемерово (МСК+4)",
  "Asia/Irkutsk": "Иркутск, Улан-Удэ (МСК+5)",
  "Asia/Yakutsk": "Якутск, Чита (МСК+6)",
  "Asia/Vladivostok": "Владивосток, Хабаровск (МСК+7)",
  "Asia/Magadan": "Магадан, Сахалин (МСК+8)",
  "Asia/Kamchatka": "Камчатка, Чукотка (МСК+9)",
  "Europe/Minsk": "Минск",
  "Asia/Almaty": "Алматы, Астана",
};

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
  { section: "Тексты", key: "welcomeMessageTemplate", kind: "textarea", label: "Сообщение о приветственных баллах", hint: "{points} — подарено баллов, {balance} — баланс." },
  { section: "Тексты", key: "birthdayMessageTemplate", kind: "textarea", label: "Поздравление с днём рождения", hint: "{points} — подарено баллов, {balance} — баланс." },
  { section: "Тексты", key: "reminderMessageTemplate", kind: "textarea", label: "Напоминание, что баллы скоро сгорят", hint: "{points} — сколько баллов сгорит («1 балл», «120 баллов»), {burnVerb} — «сгорит» или «сгорят» в согласии с числом, {date} — когда." },
  { section: "Тексты", key: "expiryMessageTemplate", kind: "textarea", label: "Сообщение о сгоревших баллах", hint: "{points} — сколько баллов сгорело («1 балл», «120 баллов»), {burnVerb} — «сгорел» или «сгорели» в согласии с числом, {balance} — баланс." },
  { section: "Тексты", key: "tierMessageTemplate", kind: "textarea", label: "Сообщение о новом уровне", hint: "{tier} — название уровня, {percent} — сколько процентов баллами." },
  { section: "Магазин", key: "timezone", kind: "choice", openChoice: true, options: TIME_ZONES, label: "Часовой пояс магазина", hint: "По нему считаются дни, дни рождения и часы акций." },
  { section: "Магазин", key: "maxPointsPerReceipt", kind: "integer", label: "Сколько баллов за один чек проводить без проверки", hint: "Если списать нужно больше, чем есть у покупателя, или начислить больше этого числа, баллы сами не проводятся: такие чеки видны в кабинете («Документы» → «Требуют внимания») и ждут проверки." },
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
  { section: "Уровни", key: "tierWindowDays", kind: "optionalInteger", emptyMeans: "за всё время", label: "За сколько дней считать покупки для уровня", hint: "Пусто — за всё время." },
  { section: "Уровни", key: "baseTierName", kind: "text", label: "Название начального уровня", hint: "Уровень покупателя, пока он не набрал покупок на первый уровень из таблицы ниже." },
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
                      {(f.openChoice && !(String(value) in (f.options ?? {})) ? [[String(value), String(value)], ...Object.entries(f.options ?? {})] : Object.entries(f.options ?? {})).map(([v, words]) => (
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
          {section === TIERS_SECTION && fields === PROGRAM_FIELDS ? <TiersTable tiers={props.values.tiers} readOnly={props.readOnly} typed={props.typed} invalid={props.invalid === "tiers"} /> : ""}
        </fieldset>
      ))}
    </>
  );
}

// ── levels (tiers): a small table, one row a level, blank rows to add one ───────────

const TIERS_SECTION = "Уровни";
const TIER_ROWS_FIELD = "t.rows";
/** For errors about the table as a whole. */
const TIERS_FIELD: ProgramField = { key: "tiers", label: "Уровни", kind: "text", section: TIERS_SECTION };
const MAX_TIERS = 20;

type TierKey = keyof Tier;
const TIER_COLUMNS: { key: TierKey; label: string; kind: "text" | "integer" | "decimal" }[] = [
  { key: "name", label: "Название уровня", kind: "text" },
  { key: "minPurchases", label: "Покупки от, ₽", kind: "integer" },
  { key: "earnPercent", label: "Начислять, % от покупки", kind: "decimal" },
  { key: "maxSpendPercent", label: "Оплата баллами, % чека", kind: "decimal" },
  { key: "spendRate", label: "Рублей за один балл", kind: "decimal" },
];
const tierName = (i: number, key: TierKey) => `t.${i}.${key}`;

function TiersTable(props: { tiers: Tier[]; readOnly: boolean; typed?: Record<string, unknown>; invalid: boolean }): JSX.Element {
  const typedRows = props.typed && props.typed[TIER_ROWS_FIELD] !== undefined ? Math.min(Number(props.typed[TIER_ROWS_FIELD]) || 0, MAX_TIERS) : null;
  const rows = typedRows ?? (props.readOnly ? props.tiers.length : Math.min(props.tiers.length + 2, MAX_TIERS));
  const cell = (i: number, key: TierKey): string => {
    if (typedRows !== null) {
      const raw = props.typed?.[tierName(i, key)];
      return typeof raw === "string" ? raw : "";
    }
    const v = props.tiers[i]?.[key];
    return v === undefined ? "" : String(v).replace(".", ",");
  };
  return (
    <div class="field" id="tiers">
      <label>Уровни выше начального</label>
      {rows === 0 ? (
        <p class="muted">Уровней нет: все покупатели получают баллы по общим правилам выше.</p>
      ) : (
        <table>
          <thead>
            <tr>
              {TIER_COLUMNS.map((c) => (
                <th safe>{c.label}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {Array.from({ length: rows }, (_, i) => (
              <tr>
                {TIER_COLUMNS.map((c) => (
                  <td>
                    <input
                      type="text"
                      name={tierName(i, c.key)}
                      value={cell(i, c.key)}
                      aria-label={`${c.label}, строка ${i + 1}`}
                      aria-invalid={props.invalid ? "true" : undefined}
                      inputmode={c.kind === "integer" ? "numeric" : c.kind === "decimal" ? "decimal" : undefined}
                      readonly={props.readOnly}
                    />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <input type="hidden" name={TIER_ROWS_FIELD} value={String(rows)} />
      <p class="hint" safe>
        {"Покупатель переходит на уровень, когда сумма его покупок за срок выше достигает «Покупки от». Пустые ячейки процентов и цены балла — как в общих правилах." +
          (props.readOnly ? "" : " Чтобы добавить уровень, заполните пустую строку (после сохранения появятся ещё); чтобы убрать — очистите строку.") +
          " По умолчанию: уровней нет."}
      </p>
    </div>
  );
}

/** The table's rows as tiers (blank rows skipped, sorted by the purchases sum); undefined when the form has no table. */
function readTiers(form: Record<string, unknown>): Tier[] | undefined {
  const count = Number(form[TIER_ROWS_FIELD]);
  if (form[TIER_ROWS_FIELD] === undefined || !Number.isInteger(count) || count < 0) return undefined;
  const tiers: Tier[] = [];
  for (let i = 0; i < Math.min(count, MAX_TIERS); i++) {
    const text = (key: TierKey) => {
      const raw = form[tierName(i, key)];
      return typeof raw === "string" ? raw.trim() : "";
    };
    if (TIER_COLUMNS.every((c) => text(c.key) === "")) continue;
    const row = `строка ${i + 1}`;
    const tier: Record<string, unknown> = {};
    for (const c of TIER_COLUMNS) {
      const t = text(c.key);
      if (c.kind === "text") {
        if (t === "") throw new ProgramFormError(TIERS_FIELD, `${row}: укажите название уровня.`);
        tier[c.key] = t;
        continue;
      }
      if (t === "") {
        if (c.key === "minPurchases") throw new ProgramFormError(TIERS_FIELD, `${row}: укажите, от какой суммы покупок (в рублях) действует уровень.`);
        continue;
      }
      const normal = t.replace(/\s/g, "").replace(",", ".");
      const n = Number(normal);
      if (!/^\d+(\.\d+)?$/.test(normal) || !Number.isFinite(n) || (c.kind === "integer" && !Number.isInteger(n))) {
        throw new ProgramFormError(TIERS_FIELD, `${row}, «${c.label}»: ${c.kind === "integer" ? "нужно целое число рублей" : "нужно число"}.`);
      }
      tier[c.key] = n;
    }
    tiers.push(tier as Tier);
  }
  tiers.sort((a, b) => a.minPurchases - b.minPurchases);
  for (let i = 1; i < tiers.length; i++) {
    if (tiers[i]!.minPurchases === tiers[i - 1]!.minPurchases) {
      throw new ProgramFormError(TIERS_FIELD, `у уровней «${tiers[i - 1]!.name}» и «${tiers[i]!.name}» одна и та же сумма покупок — у каждого уровня она своя.`);
    }
  }
  return tiers;
}

/** A setting's path in a schema or rule error (`/tiers/0/earnPercent`, `tiers[0].name`) → the form's words for it. */
function placeOf(path: string, fields: ProgramField[]): { field: ProgramField; prefix: string } {
  const parts = path.replace(/^\//, "").split(/[/.[\]]+/).filter(Boolean);
  if (parts[0] === "tiers") {
    const col = TIER_COLUMNS.find((c) => c.key === parts[2]);
    const row = parts[1] !== undefined ? `уровень ${Number(parts[1]) + 1} по возрастанию суммы покупок` : "";
    return { field: TIERS_FIELD, prefix: [row, col ? `«${col.label}»` : ""].filter(Boolean).join(", ") };
  }
  return { field: fields.find((x) => x.key === parts[0]) ?? fields[0]!, prefix: "" };
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
      if (!f.options || (!(text in f.options) && !(f.openChoice && text !== ""))) throw new ProgramFormError(f, "выберите одно из значений.");
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
  if (fields === PROGRAM_FIELDS) {
    const tiers = readTiers(form);
    if (tiers !== undefined) patch.tiers = tiers;
  }
  const first = Value.Errors(ProgramPatch, patch).First();
  if (first) {
    const { field, prefix } = placeOf(first.path, fields);
    const b = bounds(first.schema);
    const words = first.schema?.type === "integer" && Number.isInteger(first.value) === false ? "нужно целое число." : b ? `значение должно быть ${b}.` : "недопустимое значение.";
    throw new ProgramFormError(field, prefix ? `${prefix}: ${words}` : words);
  }
  // The rules the schema cannot say (2 decimals, a known zone, {code} in the SMS…), with the form's names, not the API's.
  const problem = checkProgramPatch(patch as Partial<ProgramSettings>);
  if (problem) {
    const { field, prefix } = placeOf(problem.field, fields);
    const words = problem.message.replace(/^«[A-Za-z]+»:?\s*/, "").replace(/^должен/, "значение должно").replace(/«[A-Za-z]+»/g, "значение");
    throw new ProgramFormError(field, prefix ? `${prefix}: ${words}` : words);
  }
  return patch as Partial<ProgramSettings>;
}
