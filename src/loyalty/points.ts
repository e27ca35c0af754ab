// The one place that decides points for a customer: recalc at the till, settlement of a
// sale and the scheduled rules all ask here, with (program, customer, receipt or date),
// so the till's answer and the ledger cannot disagree. Arithmetic stays in the pure
// engine; this layer picks the rates (level, promotions) the engine applies.
import { computeReceipt, earnedPointsOnLines, type ProgramRules, type ReceiptLine, type ReceiptResult } from "./engine.ts";
import { localTime } from "./localtime.ts";
import { lineSumKopecks, mulDivFloor, parseKopecks, parseMilli, parsePercentHundredths } from "./money.ts";
import type { Program, Tier } from "./program.ts";
import type { Promotion } from "./promotions.ts";

/** The level a customer's stored tier name means now (null: base level or a tier since removed). */
export function currentTier(program: Program, tierName: string | null): Tier | null {
  if (!tierName) return null;
  return program.settings.tiers.find((t) => t.name === tierName) ?? null;
}

const tierRulesCache = new WeakMap<Program, Map<string, ProgramRules>>();

/** The program's rules with the level's overrides (earn percent, max spend, spend rate). */
export function rulesFor(program: Program, tier: Tier | null): ProgramRules {
  if (!tier || (tier.earnPercent === undefined && tier.maxSpendPercent === undefined && tier.spendRate === undefined)) {
    return program.rules;
  }
  let byTier = tierRulesCache.get(program);
  if (!byTier) tierRulesCache.set(program, (byTier = new Map()));
  let rules = byTier.get(tier.name);
  if (!rules) {
    rules = {
      ...program.rules,
      earnPercentBp: tier.earnPercent !== undefined ? parsePercentHundredths(tier.earnPercent)! : program.rules.earnPercentBp,
      maxSpendPercentBp: tier.maxSpendPercent !== undefined ? parsePercentHundredths(tier.maxSpendPercent)! : program.rules.maxSpendPercentBp,
      spendRateKopecks: tier.spendRate !== undefined ? parsePercentHundredths(tier.spendRate)! : program.rules.spendRateKopecks,
    };
    byTier.set(tier.name, rules);
  }
  return rules;
}

function minutesOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** Whether a promotion covers a receipt at `moment` (its date range, weekdays and hours in the merchant's zone). */
export function promotionApplies(p: Promotion, moment: Date, zone: string): boolean {
  if (p.endedAt && p.endedAt <= moment) return false;
  if (moment < p.startsAt || moment >= p.endsAt) return false;
  if (!p.weekdays && !p.hours) return true;
  const local = localTime(moment, zone);
  if (p.hours) {
    const from = minutesOf(p.hours.from);
    const to = minutesOf(p.hours.to);
    // A window past midnight (22:00–02:00) belongs to the day it started on.
    const overnight = from > to;
    const inside = overnight ? local.minutes >= from || local.minutes < to : local.minutes >= from && local.minutes < to;
    if (!inside) return false;
    if (p.weekdays) {
      const day = overnight && local.minutes < to ? ((local.weekday + 5) % 7) + 1 : local.weekday;
      return p.weekdays.includes(day);
    }
    return true;
  }
  return p.weekdays!.includes(local.weekday);
}

export interface LineRates {
  /** Hundredths of a percent per line. */
  rates: number[];
  /** Promotions that gave some line its rate, in the order they were first used. */
  promotions: string[];
}

/**
 * Each line's earn rate: the customer's (level's) rate, or the most generous promotion
 * that covers the receipt's moment and the line's goods. Promotions do not stack.
 * Null when no promotion applies: every line earns at the customer's rate.
 */
export function lineRates(
  rules: ProgramRules,
  promotions: readonly Promotion[],
  zone: string,
  lines: readonly { assortmentId: string }[],
  moment: Date,
): LineRates | null {
  if (promotions.length === 0) return null;
  const live = promotions.filter((p) => promotionApplies(p, moment, zone));
  if (live.length === 0) return null;
  const base = rules.earnPercentBp;
  const used: string[] = [];
  const rates = lines.map((line) => {
    let best = base;
    let by: Promotion | null = null;
    for (const p of live) {
      if (p.assortmentIds && !p.assortmentIds.includes(line.assortmentId)) continue;
      const rate =
        p.earnPercent !== null
          ? parsePercentHundredths(p.earnPercent)!
          : Math.floor((base * parsePercentHundredths(p.earnMultiplier!)!) / 100);
      if (rate > best) {
        best = rate;
        by = p;
      }
    }
    if (by && !used.includes(by.name)) used.push(by.name);
    return best;
  });
  return used.length > 0 ? { rates, promotions: used } : null;
}

export interface CustomerAtTill {
  balance: number;
  tier: string | null;
}

/** The till's answer for a receipt (recalc): the engine under the customer's level and the promotions at `moment`. */
export function quoteReceipt<S>(
  program: Program,
  promotions: readonly Promotion[],
  customer: CustomerAtTill,
  input: { lines: readonly ReceiptLine<S>[]; transactionType: "EARNING" | "SPENDING"; preferredSpend: number | null; moment: Date },
): ReceiptResult<S> & { promotions: string[] } {
  const rules = rulesFor(program, currentTier(program, customer.tier));
  const rated = lineRates(rules, promotions, program.settings.timezone, input.lines, input.moment);
  const r = computeReceipt(rules, {
    lines: input.lines,
    balance: customer.balance,
    transactionType: input.transactionType,
    preferredSpend: input.preferredSpend,
    lineEarnPercentBp: rated?.rates ?? null,
  });
  const named = rated ? `${r.receiptText}\n${rated.promotions.map((n) => `Акция: ${n}`).join("\n")}` : r.receiptText;
  return { ...r, receiptText: named, promotions: rated?.promotions ?? [] };
}

/** A stored sale's line as the POS reported it (validated at intake). */
interface StoredPosition {
  assortment?: { meta?: { id?: string; href?: string } };
  price: number;
  discountedPrice?: number | null;
  quantity: number;
}

/** The money each line of a stored sale was paid at (points discount included), by goods. */
export function storedSaleLines(body: { positions?: StoredPosition[] } | null): { assortmentId: string; moneyKopecks: number }[] {
  return (body?.positions ?? []).map((p) => {
    const price = p.discountedPrice ?? p.price;
    const kopecks = parseKopecks(price) ?? 0;
    const milli = parseMilli(p.quantity) ?? 0;
    return { assortmentId: p.assortment?.meta?.id ?? p.assortment?.meta?.href ?? "", moneyKopecks: lineSumKopecks(kopecks, milli) };
  });
}

/**
 * Points a settled sale earns: the same rates recalc applied for the same receipt, moment
 * and customer level, over the money each eligible line was paid.
 */
export function saleEarn(
  program: Program,
  promotions: readonly Promotion[],
  tierName: string | null,
  lines: readonly { assortmentId: string; moneyKopecks: number }[],
  moment: Date,
  spent: number,
): { earn: number; promotions: string[] } {
  const rules = rulesFor(program, currentTier(program, tierName));
  const rated = lineRates(rules, promotions, program.settings.timezone, lines, moment);
  const earn = earnedPointsOnLines(
    rules,
    lines.map((l, i) => ({
      moneyKopecks: rules.excludedAssortmentIds.has(l.assortmentId) ? 0 : l.moneyKopecks,
      earnPercentBp: rated ? rated.rates[i]! : rules.earnPercentBp,
    })),
    spent,
  );
  return { earn, promotions: rated?.promotions ?? [] };
}

export interface SaleEarnDecision {
  /** Points the sale earns on its own. */
  earn: number;
  /** Points beyond the merchant's bound for one receipt: an operator approves or rejects them. */
  held: number;
  promotions: string[];
  /** Sentences for an operator. */
  anomalies: string[];
}

/**
 * What a settled sale earns, with the intake's facts applied: when the POS reported less
 * money than the lines add up to, every line's money shrinks in that proportion (a sale
 * never earns on money nobody paid); anything beyond `maxPointsPerReceipt` is held.
 */
export function decideSaleEarn(
  program: Program,
  promotions: readonly Promotion[],
  tierName: string | null,
  sale: { lines: readonly { assortmentId: string; moneyKopecks: number }[]; paidKopecks: number | null; moment: Date; spent: number },
): SaleEarnDecision {
  const total = sale.lines.reduce((sum, l) => sum + l.moneyKopecks, 0);
  const short = sale.paidKopecks !== null && sale.paidKopecks < total;
  const lines = short ? sale.lines.map((l) => ({ ...l, moneyKopecks: mulDivFloor(l.moneyKopecks, sale.paidKopecks!, total) })) : sale.lines;
  const { earn, promotions: used } = saleEarn(program, promotions, tierName, lines, sale.moment, sale.spent);
  const bound = program.settings.maxPointsPerReceipt;
  if (earn > bound) {
    return {
      earn: bound,
      held: earn - bound,
      promotions: used,
      anomalies: [`Начисление ${earn} баллов больше предела на чек (${bound}): ${earn - bound} баллов ждут решения оператора.`],
    };
  }
  return { earn, held: 0, promotions: used, anomalies: [] };
}
