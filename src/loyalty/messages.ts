// What customers read: per-merchant templates with Russian defaults.

export const DEFAULT_TEMPLATES = {
  code: "Код подтверждения: {code}. Никому его не сообщайте, кроме кассира {shop}.",
  points: "{change}, баланс {balance}",
  return: "Возврат: {change}, баланс {balance}",
  tier: "Ваш уровень: {tier} — {percent}% баллами",
  welcome: "Добро пожаловать! Вам подарено {points}, баланс {balance}",
  birthday: "С днём рождения! Вам подарено {points}, баланс {balance}",
  expiry: "Сгорело {points}, баланс {balance}",
  reminder: "{points} сгорят {date}",
} as const;

/** Replaces {name} placeholders in one pass (a value is never scanned again). */
export function renderTemplate(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, key: string) => (key in vars ? String(vars[key]) : whole));
}

export function pointsWord(n: number): string {
  const m10 = Math.abs(n) % 10;
  const m100 = Math.abs(n) % 100;
  if (m10 === 1 && m100 !== 11) return "балл";
  if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14)) return "балла";
  return "баллов";
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
