// Levels: a customer's purchases over the program's rolling window decide their tier,
// which the till then applies (src/loyalty/points.ts reads customer.tier).
import type { Queryable, Sql } from "../db/client.ts";
import { localTime } from "./localtime.ts";
import { renderTemplate } from "./messages.ts";
import { kopecksToRoubles } from "./money.ts";
import type { Program, Tier } from "./program.ts";

/** The tier purchases of `kopecks` reach (null: below the first). */
export function tierForPurchases(program: Program, kopecks: number): Tier | null {
  let reached: Tier | null = null;
  for (const tier of program.settings.tiers) if (kopecks >= tier.minPurchases * 100) reached = tier;
  return reached;
}

/**
 * Settled sales minus returns of a customer over the window, in kopecks: money and points
 * together at discounted prices (what the goods cost the customer, however paid).
 */
export async function windowPurchases(tx: Queryable, tenantId: string, customerId: string, program: Program, settling: string | null = null): Promise<number> {
  const days = program.settings.tierWindowDays;
  const [row] = await tx<{ kopecks: string }[]>`
    select coalesce(sum(case when kind = 'sale' then total_kopecks + points_spent * ${program.rules.spendRateKopecks}
                             else -total_kopecks end), 0)::bigint as kopecks
    from document
    where tenant_id = ${tenantId} and customer_id = ${customerId}
      and (state = 'settled' ${settling ? tx`or id = ${settling}` : tx``})
      ${days === null ? tx`` : tx`and moment > now() - make_interval(days => ${days})`}`;
  return Math.max(0, Number(row?.kopecks ?? 0));
}

export interface TierChange {
  from: string | null;
  to: string | null;
  /** What the customer is told; null when the level did not change. */
  text: string | null;
}

/**
 * Recomputes and stores a customer's level (call with the customer row locked or lockable);
 * `settling` is a sale being settled in this transaction, counted before its state says so.
 */
export async function recomputeTier(
  tx: Queryable,
  tenantId: string,
  customerId: string,
  program: Program,
  settling: string | null = null,
  known: string | null | undefined = undefined,
  now = new Date(),
): Promise<TierChange> {
  // `known`: the level the caller already read (undefined: read it here).
  const before =
    known !== undefined
      ? known
      : ((await tx<{ tier: string | null }[]>`select tier from customer where tenant_id = ${tenantId} and id = ${customerId}`)[0]?.tier ?? null);
  if (program.settings.tiers.length === 0 && before === null) return { from: null, to: null, text: null };
  const kopecks = await windowPurchases(tx, tenantId, customerId, program, settling);
  const tier = tierForPurchases(program, kopecks);
  const after = tier?.name ?? null;
  const today = localTime(now, program.settings.timezone).date;
  await tx`update customer set tier = ${after}, tier_checked_on = ${today}::date
           where tenant_id = ${tenantId} and id = ${customerId}`;
  if (after === before) return { from: before, to: after, text: null };
  return { from: before, to: after, text: tierMessage(program, tier) };
}

export function tierMessage(program: Program, tier: Tier | null): string {
  return renderTemplate(program.settings.tierMessageTemplate, {
    tier: tier?.name ?? program.settings.baseTierName,
    percent: tier?.earnPercent ?? program.settings.earnPercent,
  });
}

/** What the admin customer view shows: the level, its rate, the next one and how far it is. */
export async function tierView(sql: Sql, tenantId: string, customerId: string, tierName: string | null, program: Program) {
  const tiers = program.settings.tiers;
  const current = tiers.find((t) => t.name === tierName) ?? null;
  const next = current ? (tiers[tiers.indexOf(current) + 1] ?? null) : (tiers[0] ?? null);
  const kopecks = next ? await windowPurchases(sql, tenantId, customerId, program) : 0;
  return {
    name: current?.name ?? program.settings.baseTierName,
    earnPercent: current?.earnPercent ?? program.settings.earnPercent,
    nextTier: next?.name ?? null,
    toNextTier: next ? kopecksToRoubles(Math.max(0, next.minPurchases * 100 - kopecks)) : null,
  };
}
