// Gifts: points for joining (once per customer) and for a birthday (once per year).
import type { Queryable, Sql } from "../db/client.ts";
import { postLedgerEntry } from "./ledger.ts";
import { ledgerKey, ledgerKeySql } from "./ledger-keys.ts";
import { localTime } from "./localtime.ts";
import { syncLots } from "./lots.ts";
import { pointsPhrase, renderTemplate } from "./messages.ts";
import type { Program } from "./program.ts";

const DAY_MS = 86_400_000;

function lifetimeEnd(from: Date, days: number | null): Date | null {
  return days === null ? null : new Date(from.getTime() + days * DAY_MS);
}

export interface Gift {
  customerId: string;
  points: number;
  /** The message ref (one message per gift) and its text. */
  ref: string;
  text: string;
}

/**
 * The welcome gift, once per customer (key per customer): `on` says which moment is
 * asking, and only the one the merchant chose gives it.
 */
export async function grantWelcome(tx: Queryable, tenantId: string, customerId: string, program: Program, on: "registration" | "firstPurchase"): Promise<Gift | null> {
  const s = program.settings;
  if (s.welcomePoints <= 0 || s.welcomeOn !== on) return null;
  const { inserted } = await postLedgerEntry(tx, tenantId, {
    customerId,
    kind: "welcome",
    points: s.welcomePoints,
    idempotencyKey: ledgerKey.welcome(customerId),
    expiresAt: lifetimeEnd(new Date(), s.welcomePointsLifetimeDays ?? s.pointsLifetimeDays),
  });
  if (!inserted) return null;
  await syncLots(tx, tenantId, customerId);
  const [c] = await tx<{ balance: number }[]>`select balance from customer where tenant_id = ${tenantId} and id = ${customerId}`;
  return {
    customerId,
    points: s.welcomePoints,
    ref: `welcome-${customerId}`,
    text: renderTemplate(s.welcomeMessageTemplate, { points: pointsPhrase(s.welcomePoints), balance: c!.balance }),
  };
}

/** The day (local "YYYY-MM-DD") a birthday of `year` is celebrated: 29 February → 28 in other years. */
export function birthdayIn(birthDate: string, year: number): string {
  const [, m, d] = birthDate.split("-");
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const day = m === "02" && d === "29" && !leap ? "28" : d;
  return `${year}-${m}-${day}`;
}

function addDays(date: string, days: number): string {
  const t = Date.UTC(+date.slice(0, 4), +date.slice(5, 7) - 1, +date.slice(8, 10)) + days * DAY_MS;
  return new Date(t).toISOString().slice(0, 10);
}

/** A gift is still given this many days after its day, for a service that was down on it. */
export const BIRTHDAY_CATCH_UP_DAYS = 7;

/**
 * The birthday (year) whose gift is due on local day `today`, if any: the gift day is the
 * birthday minus `daysBefore`, and it stays due for BIRTHDAY_CATCH_UP_DAYS days.
 */
export function birthdayDue(birthDate: string, today: string, daysBefore: number): number | null {
  const year = +today.slice(0, 4);
  for (const y of [year, year + 1]) {
    const giftDay = addDays(birthdayIn(birthDate, y), -daysBefore);
    if (giftDay <= today && today < addDays(giftDay, BIRTHDAY_CATCH_UP_DAYS)) return y;
  }
  return null;
}

/**
 * Gives the birthday gifts due today to a batch of a merchant's customers (key per
 * customer and birthday year: a second worker or a re-run gives nothing twice).
 */
export async function grantBirthdays(sql: Sql, tenantId: string, program: Program, now = new Date()): Promise<Gift[]> {
  const s = program.settings;
  if (s.birthdayPoints <= 0) return [];
  const today = localTime(now, s.timezone).date;
  const year = +today.slice(0, 4);
  // Month-day candidates over the catch-up window (widened for 29 February): the exact
  // rule is birthdayDue below.
  const candidates = await sql<{ id: string; birth_date: string }[]>`
    select c.id, to_char(c.birth_date, 'YYYY-MM-DD') as birth_date from customer c
    where c.tenant_id = ${tenantId} and c.birth_date is not null
      and (extract(month from c.birth_date) * 100 + extract(day from c.birth_date))::int = any(${monthDays(today, s.birthdayDaysBefore)}::int[])
      and not exists (select 1 from ledger_entry e where e.tenant_id = c.tenant_id
        and e.idempotency_key = any(array[${ledgerKeySql(sql, ledgerKey.birthday, sql`c.id`, sql`${year}`)}, ${ledgerKeySql(sql, ledgerKey.birthday, sql`c.id`, sql`${year + 1}`)}]))`;
  const gifts: Gift[] = [];
  for (const c of candidates) {
    const due = birthdayDue(c.birth_date, today, s.birthdayDaysBefore);
    if (due === null) continue;
    const gift: Gift | null = await sql.begin(async (tx): Promise<Gift | null> => {
      const { inserted } = await postLedgerEntry(tx, tenantId, {
        customerId: c.id,
        kind: "birthday",
        points: s.birthdayPoints,
        idempotencyKey: ledgerKey.birthday(c.id, due),
        expiresAt: lifetimeEnd(now, s.birthdayPointsLifetimeDays ?? s.pointsLifetimeDays),
      });
      if (!inserted) return null;
      await syncLots(tx, tenantId, c.id);
      const [row] = await tx<{ balance: number }[]>`select balance from customer where tenant_id = ${tenantId} and id = ${c.id}`;
      return {
        customerId: c.id,
        points: s.birthdayPoints,
        ref: `birthday-${c.id}-${due}`,
        text: renderTemplate(s.birthdayMessageTemplate, { points: pointsPhrase(s.birthdayPoints), balance: row!.balance }),
      };
    });
    if (gift) gifts.push(gift);
  }
  return gifts;
}

/** Month·100 + day of every birthday whose gift may be due on `today` (as the birthday index holds them). */
function monthDays(today: string, daysBefore: number): number[] {
  const out = new Set<number>();
  for (let back = 0; back < BIRTHDAY_CATCH_UP_DAYS; back++) {
    const md = addDays(today, daysBefore - back);
    const n = Number(md.slice(5, 7)) * 100 + Number(md.slice(8, 10));
    out.add(n);
    if (n === 228) out.add(229);
  }
  return [...out];
}

/** The welcome gift of a customer just registered (when the merchant gives it on registration). */
export async function welcomeOnRegistration(sql: Sql, tenantId: string, program: Program, customerId: string): Promise<Gift | null> {
  if (program.settings.welcomePoints <= 0 || program.settings.welcomeOn !== "registration") return null;
  return sql.begin((tx) => grantWelcome(tx, tenantId, customerId, program, "registration")) as Promise<Gift | null>;
}
