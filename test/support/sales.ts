// Building sales and returns the way the POS sends them.
import { randomUUID } from "node:crypto";
import { localTime } from "../../src/loyalty/localtime.ts";
import { sleep } from "./runtime.ts";

export interface Line {
  id: string;
  price: number;
  quantity: number;
  discountedPrice?: number;
}

export function sale(opts: {
  id?: string;
  customerId?: string | null;
  agent?: Record<string, unknown> | null;
  lines: Line[];
  spend?: number;
  earn?: number;
  cash?: number;
  noCash?: number;
  name?: string;
  moment?: string;
}) {
  const id = opts.id ?? randomUUID();
  const body: Record<string, unknown> = {
    retailStore: { meta: { id: "7a7a7a7a-0000-4000-8000-000000000001", href: "https://api.moysklad.ru/api/remap/1.2/entity/retailstore/7a7a7a7a-0000-4000-8000-000000000001" }, name: "Магазин №1" },
    name: opts.name ?? `00${Math.floor(Math.random() * 1e6)}`,
    moment: opts.moment ?? "2026-11-28 12:00:00",
    meta: { href: `https://api.moysklad.ru/api/remap/1.2/entity/retaildemand/${id}`, id },
    positions: opts.lines.map((l) => ({
      assortment: { meta: { href: `https://api.moysklad.ru/api/remap/1.2/entity/product/${l.id}`, id: l.id } },
      quantity: l.quantity,
      price: l.price,
      discountPercent: 0,
      discountedPrice: l.discountedPrice ?? l.price,
    })),
    bonusProgram: { bonusValueToSpend: opts.spend ?? 0, bonusValueToEarn: opts.earn ?? 0 },
  };
  if (opts.cash !== undefined) body.cashSum = opts.cash;
  if (opts.noCash !== undefined) body.noCashSum = opts.noCash;
  if (opts.agent !== undefined) body.agent = opts.agent;
  else if (opts.customerId) body.agent = { meta: { id: opts.customerId } };
  return { id, body };
}

/**
 * A line of `units` at `priceKopecks` each, on which the customer wished to spend
 * `spendWish` points (1 ₽ each, never more than the line): the discounted price carries
 * the spend when it divides into whole kopecks per unit; otherwise the sale spends nothing.
 */
export function spendingLine(priceKopecks: number, units: number, spendWish: number): { line: Line; spend: number } {
  const full = priceKopecks * units;
  const spend = Math.min(spendWish, Math.floor(full / 100));
  const paidPerUnit = (full - spend * 100) / units;
  const exact = Number.isInteger(paidPerUnit);
  return {
    line: { id: "g", price: priceKopecks / 100, quantity: units, discountedPrice: (exact ? paidPerUnit : priceKopecks) / 100 },
    spend: exact ? spend : 0,
  };
}

export function saleReturn(opts: { id?: string; saleId?: string | null; lines: Line[]; agentId?: string }) {
  const id = opts.id ?? randomUUID();
  const body: Record<string, unknown> = {
    retailStore: { meta: { id: "7a7a7a7a-0000-4000-8000-000000000001" } },
    name: `R${Math.floor(Math.random() * 1e6)}`,
    moment: "2026-11-28 13:00:00",
    meta: { id },
    demand: opts.saleId === null ? { meta: {} } : { meta: { id: opts.saleId, href: `https://api.moysklad.ru/api/remap/1.2/entity/retaildemand/${opts.saleId}` } },
    agent: opts.agentId ? { id: opts.agentId } : {},
    positions: opts.lines.map((l) => ({
      assortment: { meta: { id: l.id } },
      quantity: l.quantity,
      price: l.price,
      discountedPrice: l.discountedPrice ?? l.price,
    })),
  };
  return { id, body };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A sale's `moment` as the POS writes it: Moscow wall-clock time `days` days ago, to the minute. */
export function mskDaysAgo(days: number): string {
  const l = localTime(new Date(Date.now() - days * 86_400_000), "Europe/Moscow");
  return `${l.date} ${String(Math.floor(l.minutes / 60)).padStart(2, "0")}:${String(l.minutes % 60).padStart(2, "0")}:00`;
}
