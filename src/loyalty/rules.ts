// The time-based rules, one pass: burn due lots, remind before burning, birthday gifts,
// the daily level check. Run by the scheduled `rules` job (workers/rules.ts); every grant
// and burn carries an idempotency key and runs under the customer's row lock, so two
// workers running a pass at once never do the same work twice.
import type { Sql } from "../db/client.ts";
import { grantBirthdays } from "./gifts.ts";
import { dayAndMonth, localTime } from "./localtime.ts";
import { burnLot, dueLots } from "./lots.ts";
import { burnVerb, pointsPhrase, renderTemplate } from "./messages.ts";
import { type Program, programFromStored } from "./program.ts";
import { recomputeTier } from "./tiers.ts";

/** A message for a customer, `ref` naming it once (the notifications queue sends each ref once per channel). */
export interface RuleMessage {
  tenantId: string;
  customerId: string;
  ref: string;
  text: string;
}

export interface RulesPass {
  burned: number;
  reminded: number;
  birthdays: number;
  tiersChecked: number;
  messages: RuleMessage[];
}

async function programs(sql: Sql, tenantIds: string[]): Promise<Map<string, Program>> {
  if (tenantIds.length === 0) return new Map();
  const rows = await sql<{ tenant_id: string; settings: Record<string, unknown> }[]>`
    select tenant_id, settings from program where tenant_id = any(${tenantIds}::uuid[])`;
  return new Map(rows.map((r) => [r.tenant_id, programFromStored(r.settings)]));
}

export async function runRules(sql: Sql, now = new Date()): Promise<RulesPass> {
  const pass: RulesPass = { burned: 0, reminded: 0, birthdays: 0, tiersChecked: 0, messages: [] };
  await burnDue(sql, pass);
  await remind(sql, pass, now);
  await birthdays(sql, pass, now);
  await dailyTiers(sql, pass, now);
  return pass;
}

async function burnDue(sql: Sql, pass: RulesPass): Promise<void> {
  for (;;) {
    const due = await dueLots(sql);
    if (due.length === 0) return;
    const progs = await programs(sql, [...new Set(due.map((d) => d.tenant_id))]);
    let burnedAny = false;
    for (const lot of due) {
      const burned = await burnLot(sql, lot.tenant_id, lot.customer_id, Number(lot.id));
      if (!burned) continue;
      burnedAny = true;
      pass.burned++;
      const program = progs.get(lot.tenant_id)!;
      pass.messages.push({
        tenantId: lot.tenant_id,
        customerId: lot.customer_id,
        ref: `expiry-${lot.id}`,
        text: renderTemplate(program.settings.expiryMessageTemplate, {
          points: pointsPhrase(burned.points),
          burnVerb: burnVerb(burned.points, "past"),
          balance: burned.balance,
        }),
      });
    }
    // Lots another worker took or that had nothing left are done too: the next batch differs.
    if (!burnedAny && due.length < 500) return;
  }
}

/** One reminder per customer and burn date, `expiryReminderDays` before it. */
async function remind(sql: Sql, pass: RulesPass, now: Date): Promise<void> {
  const tenants = await sql<{ tenant_id: string }[]>`
    select distinct tenant_id from points_lot
    where remaining > 0 and burned_at is null and reminded_at is null and expires_at is not null
      and expires_at <= ${now}::timestamptz + interval '366 days'`;
  const progs = await programs(sql, tenants.map((t) => t.tenant_id));
  for (const [tenantId, program] of progs) {
    const days = program.settings.expiryReminderDays;
    if (days === null) continue;
    // Claimed in one statement: a second worker finds them reminded.
    const lots = await sql<{ customer_id: string; expires_at: Date; remaining: number }[]>`
      update points_lot set reminded_at = now()
      where tenant_id = ${tenantId} and remaining > 0 and burned_at is null and reminded_at is null
        and expires_at is not null and expires_at > ${now} and expires_at <= ${now}::timestamptz + make_interval(days => ${days})
      returning customer_id, expires_at, remaining`;
    const byCustomerDay = new Map<string, { customerId: string; day: string; at: Date; points: number }>();
    for (const l of lots) {
      const day = localTime(l.expires_at, program.settings.timezone).date;
      const key = `${l.customer_id}-${day}`;
      const entry = byCustomerDay.get(key) ?? { customerId: l.customer_id, day, at: l.expires_at, points: 0 };
      entry.points += Number(l.remaining);
      byCustomerDay.set(key, entry);
    }
    for (const [key, r] of byCustomerDay) {
      pass.reminded++;
      pass.messages.push({
        tenantId,
        customerId: r.customerId,
        ref: `reminder-${key}`,
        text: renderTemplate(program.settings.reminderMessageTemplate, {
          points: pointsPhrase(r.points),
          burnVerb: burnVerb(r.points, "future"),
          date: dayAndMonth(r.at, program.settings.timezone),
        }),
      });
    }
  }
}

async function birthdays(sql: Sql, pass: RulesPass, now: Date): Promise<void> {
  const rows = await sql<{ tenant_id: string; settings: Record<string, unknown> }[]>`
    select tenant_id, settings from program where coalesce((settings->>'birthdayPoints')::int, 0) > 0`;
  for (const r of rows) {
    const gifts = await grantBirthdays(sql, r.tenant_id, programFromStored(r.settings), now);
    pass.birthdays += gifts.length;
    for (const g of gifts) pass.messages.push({ tenantId: r.tenant_id, customerId: g.customerId, ref: g.ref, text: g.text });
  }
}

/** Old purchases leave the window: levels are checked once a local day. */
async function dailyTiers(sql: Sql, pass: RulesPass, now: Date): Promise<void> {
  const rows = await sql<{ tenant_id: string; settings: Record<string, unknown> }[]>`
    select p.tenant_id, p.settings from program p
    where exists (select 1 from customer c where c.tenant_id = p.tenant_id and c.tier is not null)`;
  for (const r of rows) {
    const program = programFromStored(r.settings);
    const today = localTime(now, program.settings.timezone).date;
    for (;;) {
      const batch = await sql<{ id: string }[]>`
        select id from customer where tenant_id = ${r.tenant_id} and tier is not null
          and (tier_checked_on is null or tier_checked_on < ${today}::date)
        limit 200`;
      if (batch.length === 0) break;
      for (const c of batch) {
        const change = await sql.begin(async (tx) => {
          const [locked] = await tx<{ tier_checked_on: string | null }[]>`
            select to_char(tier_checked_on, 'YYYY-MM-DD') as tier_checked_on from customer
            where tenant_id = ${r.tenant_id} and id = ${c.id} for update`;
          if (locked?.tier_checked_on && locked.tier_checked_on >= today) return null;
          return recomputeTier(tx, r.tenant_id, c.id, program, null, undefined, now);
        });
        pass.tiersChecked++;
        if (change?.text) {
          pass.messages.push({ tenantId: r.tenant_id, customerId: c.id, ref: `tier-${c.id}-${today}`, text: change.text });
        }
      }
    }
  }
}
