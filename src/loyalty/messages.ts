// What customers read: per-merchant templates with Russian defaults.

export const DEFAULT_TEMPLATES = {
  code: "Код подтверждения: {code}. Никому его не сообщайте, кроме кассира {shop}.",
  points: "{change}, баланс {balance}",
  return: "Возврат: {change}, баланс {balance}",
  tier: "Ваш уровень: {tier} — {percent}% баллами",
  welcome: "Добро пожаловать! Дарим вам {points}, баланс {balance}",
  birthday: "С днём рождения! Дарим вам {points}, баланс {balance}",
  expiry: "{points} {burnVerb}, баланс {balance}",
  reminder: "{points} {burnVerb} {date}",
} as const;

/**
 * Defaults of earlier versions whose verb did not agree with the number ("1 балл сгорят",
 * "Вам подарено 21 балл"). A merchant who saved the settings form stored the default of
 * the day as their own text: such a text is read as today's default. Any other text is
 * the merchant's and is used as written.
 */
export const FORMER_DEFAULTS = {
  welcome: ["Добро пожаловать! Вам подарено {points}, баланс {balance}"],
  birthday: ["С днём рождения! Вам подарено {points}, баланс {balance}"],
  expiry: ["Сгорело {points}, баланс {balance}"],
  reminder: ["{points} сгорят {date}"],
} as const satisfies Partial<Record<keyof typeof DEFAULT_TEMPLATES, readonly string[]>>;

/** A stored template, or today's default where it is a former default. */
export function currentTemplate(name: keyof typeof FORMER_DEFAULTS, stored: string): string {
  return (FORMER_DEFAULTS[name] as readonly string[]).includes(stored) ? DEFAULT_TEMPLATES[name] : stored;
}

/** Replaces {name} placeholders in one pass (a value is never scanned again). */
export function renderTemplate(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{([a-z][A-Za-z]*)\}/g, (whole, key: string) => (key in vars ? String(vars[key]) : whole));
}

/** The Russian word agreeing with a number: plural(3, ["товар", "товара", "товаров"]) → "товара". */
export function plural(n: number, [one, few, many]: [string, string, string]): string {
  const m10 = Math.abs(n) % 10;
  const m100 = Math.abs(n) % 100;
  if (m10 === 1 && m100 !== 11) return one;
  if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14)) return few;
  return many;
}

export const pointsWord = (n: number): string => plural(n, ["балл", "балла", "баллов"]);

/** "1 балл", "3 балла", "120 баллов". */
export function pointsPhrase(n: number): string {
  return `${n} ${pointsWord(n)}`;
}

/**
 * The {burnVerb} of the burn messages, agreeing with {points}: "1 балл сгорит",
 * "21 балл сгорит", "3 балла сгорят", "120 баллов сгорят" (reminder, future);
 * "1 балл сгорел", "5 баллов сгорели" (burned, past).
 */
export function burnVerb(n: number, tense: "future" | "past"): string {
  const one = pointsWord(n) === "балл";
  if (tense === "future") return one ? "сгорит" : "сгорят";
  return one ? "сгорел" : "сгорели";
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : `−${Math.abs(n)}`;
}

function ddmmyyyy(d: Date): string {
  // Moscow time: the customer's calendar, not the server's.
  const msk = new Date(d.getTime() + 3 * 3600_000);
  return `${String(msk.getUTCDate()).padStart(2, "0")}.${String(msk.getUTCMonth() + 1).padStart(2, "0")}.${msk.getUTCFullYear()}`;
}

/**
 * The {change} of a points message: "+12 баллов", "−171 +12 баллов",
 * "+50 баллов станут доступны 12.12.2026".
 */
export function changePhrase(changes: number[], pending: { points: number; at: Date } | null): string {
  const moved = changes.filter((c) => c !== 0);
  const parts: string[] = [];
  if (moved.length > 0) parts.push(`${moved.map(signed).join(" ")} ${pointsWord(moved[moved.length - 1]!)}`);
  if (pending && pending.points > 0) parts.push(`+${pending.points} ${pointsWord(pending.points)} станут доступны ${ddmmyyyy(pending.at)}`);
  return parts.join(", ");
}
