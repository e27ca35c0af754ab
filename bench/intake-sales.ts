// Completed sales for bench/intake.ts, the way the POS sends them to POST /retaildemand:
// 1–5 positions (some weighed), paid in cash or by card; most name a customer — by
// МойСклад id, by our id, by phone in any notation or by card — and a third of those
// spend points, reflected in the discounted price of one position so validation passes;
// some are anonymous and a few name a customer we do not know.
//
// Bodies are templates with "@ID@" where the document's id goes (meta.id and meta.href):
// the wrk script (intake-wrk.lua) and the Bun loader put a fresh id in each request.
import { writeFile } from "node:fs/promises";
import type { Sql } from "../src/db/client.ts";
import { lineSumKopecks } from "../src/loyalty/money.ts";
import { int, pick, type Rand, rng, uuid } from "./lib.ts";

export const RETAILDEMAND = "/rest/integration/moysklad/v1/retaildemand";
export const ID_MARK = "@ID@";
const REMAP = "https://api.moysklad.ru/api/remap/1.2/entity";

export interface SaleCustomer {
  id: string;
  ms_id: string | null;
  phone: string;
  card_number: string;
  balance: number;
}

/** What the mix holds, counted over the templates. */
export interface SaleMix {
  templates: number;
  anonymous: number;
  unmatched: number;
  byMsId: number;
  byOurId: number;
  byPhone: number;
  byCard: number;
  spending: number;
  positions: number;
  meanBodyBytes: number;
}

/** A random sample of customers with a phone and a card (the sales name them). */
export async function sampleSaleCustomers(sql: Sql, tenantId: string, n: number): Promise<SaleCustomer[]> {
  return sql<SaleCustomer[]>`
    select id, ms_id, phone, card_number, balance from customer
    where tenant_id = ${tenantId} and phone is not null and card_number is not null
    order by md5(id::text) limit ${n}`;
}

function phoneNotation(r: Rand, p: string): string {
  const d = p.slice(1);
  const [a, b, c, e] = [d.slice(0, 3), d.slice(3, 6), d.slice(6, 8), d.slice(8)];
  return pick(r, [`+7${d}`, `8${d}`, `+7 ${a} ${b}-${c}-${e}`, `8 (${a}) ${b}-${c}-${e}`, `7${d}`]);
}

/** "YYYY-MM-DD HH:mm:ss" in Moscow time, `hoursAgo` before now. */
function moscowMoment(hoursAgo: number): string {
  const t = new Date(Date.now() - hoursAgo * 3600_000 + 3 * 3600_000);
  return t.toISOString().slice(0, 19).replace("T", " ");
}

/**
 * `n` sale templates over the sample (each customer in turn, so sales spread over all of
 * them). Mix: 12% anonymous, 3% a customer we do not know (a phone no one has), the rest
 * by МойСклад id (45%, our id when they have none), our id (20%), phone (20%), card (15%);
 * a third of the named customers with ≥ 30 points spend 10…300 of them.
 */
export function buildSaleTemplates(customers: SaleCustomer[], n: number, seed = 17): { templates: string[]; mix: SaleMix } {
  const r = rng(seed);
  const products = Array.from({ length: 400 }, () => uuid(r));
  const stores = Array.from({ length: 5 }, () => uuid(r));
  const mix: SaleMix = {
    templates: n, anonymous: 0, unmatched: 0, byMsId: 0, byOurId: 0, byPhone: 0, byCard: 0, spending: 0, positions: 0, meanBodyBytes: 0,
  };
  const templates: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = customers[i % customers.length]!;
    const x = r();
    let agent: Record<string, unknown> | null = null;
    let named = false;
    if (x < 0.12) mix.anonymous++;
    else if (x < 0.15) {
      // 78… numbers: the generated customers all have 79… phones.
      agent = { phone: `+7 (8${int(r, 10, 99)}) ${int(r, 100, 999)}-${int(r, 10, 99)}-${int(r, 10, 99)}`, name: "Покупатель без карты" };
      mix.unmatched++;
    } else {
      named = true;
      const y = r();
      if (y < 0.45) {
        const id = c.ms_id ?? c.id;
        agent = { meta: { href: `${REMAP}/counterparty/${id}`, id, type: "counterparty", mediaType: "application/json" } };
        mix.byMsId++;
      } else if (y < 0.65) {
        agent = { meta: { id: c.id, type: "counterparty" } };
        mix.byOurId++;
      } else if (y < 0.85) {
        agent = { phone: phoneNotation(r, c.phone) };
        mix.byPhone++;
      } else {
        agent = { discountCardNumber: c.card_number };
        mix.byCard++;
      }
    }
    const spend = named && c.balance >= 30 && r() < 0.34 ? int(r, 10, Math.min(300, c.balance)) : 0;
    if (spend > 0) mix.spending++;

    const count = pick(r, [1, 1, 2, 2, 3, 3, 4, 5]);
    mix.positions += count;
    let totalKopecks = 0;
    let fullKopecks = 0;
    const positions = Array.from({ length: count }, (_, k) => {
      const id = pick(r, products);
      const weighed = k > 0 && r() < 0.15;
      const quantity = weighed ? int(r, 100, 2500) / 1000 : pick(r, [1, 1, 1, 2, 3]);
      // The position that takes the points: one unit, worth more than the points spent
      // (1 point = 1 rouble, the default program), its discounted price lower by them.
      const takesPoints = k === 0 && spend > 0;
      const priceKopecks = takesPoints ? (spend + int(r, 20, 2000)) * 100 + pick(r, [0, 90, 50]) : int(r, 3_000, 300_000);
      const q = takesPoints ? 1 : quantity;
      const discountedKopecks = takesPoints ? priceKopecks - spend * 100 : priceKopecks;
      const qMilli = Math.round(q * 1000);
      fullKopecks += lineSumKopecks(priceKopecks, qMilli);
      totalKopecks += lineSumKopecks(discountedKopecks, qMilli);
      return {
        assortment: { meta: { href: `${REMAP}/product/${id}`, id, type: "product", mediaType: "application/json" } },
        quantity: q,
        price: priceKopecks / 100,
        discountPercent: 0,
        discountedPrice: discountedKopecks / 100,
      };
    });
    if (fullKopecks - totalKopecks !== spend * 100) throw new Error("bench sale generator: points not reflected in prices");
    const store = pick(r, stores);
    const body: Record<string, unknown> = {
      meta: { href: `${REMAP}/retaildemand/${ID_MARK}`, id: ID_MARK, type: "retaildemand", mediaType: "application/json" },
      retailStore: { meta: { href: `${REMAP}/retailstore/${store}`, id: store }, name: "Магазин №1" },
      name: String(int(r, 1, 999_999)).padStart(6, "0"),
      moment: moscowMoment(1 + r() * 20),
      positions,
      bonusProgram: {
        bonusValueToSpend: spend,
        bonusValueToEarn: spend > 0 || !named ? 0 : Math.floor((totalKopecks * 5) / 10_000),
      },
    };
    if (agent) body.agent = agent;
    if (r() < 0.6) body.noCashSum = totalKopecks / 100;
    else body.cashSum = totalKopecks / 100;
    const json = JSON.stringify(body);
    mix.meanBodyBytes += Buffer.byteLength(json);
    templates.push(json);
  }
  mix.meanBodyBytes = Math.round(mix.meanBodyBytes / Math.max(1, n));
  return { templates, mix };
}

export const fillTemplate = (template: string, id: string) => template.replaceAll(ID_MARK, id);

/** One template a line (JSON has no raw newlines), for the wrk script. */
export async function writeTemplateFile(file: string, templates: string[]): Promise<void> {
  await writeFile(file, templates.join("\n") + "\n");
}

export interface LoadOutcome {
  sent: number;
  created: number;
  errors: number;
  errorSample: string;
  seconds: number;
  /** Our document ids from the 201 answers. */
  ids: string[];
}

/**
 * Sends `n` sales with fresh ids, `concurrency` at a time, through the real API (to build
 * a settlement backlog; not a measurement: Bun's fetch costs more CPU than wrk).
 */
export async function sendSales(baseUrl: string, apiKey: string, templates: string[], n: number, concurrency = 32): Promise<LoadOutcome> {
  const t0 = performance.now();
  const out: LoadOutcome = { sent: 0, created: 0, errors: 0, errorSample: "", seconds: 0, ids: [] };
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const body = fillTemplate(templates[i % templates.length]!, crypto.randomUUID());
        out.sent++;
        try {
          const res = await fetch(baseUrl + RETAILDEMAND, {
            method: "POST",
            headers: { "Lognex-Discount-API-Auth-Token": apiKey, "Content-Type": "application/json" },
            body,
          });
          const text = await res.text();
          if (res.status === 201) {
            out.created++;
            out.ids.push((JSON.parse(text) as { id: string }).id);
          } else {
            out.errors++;
            if (!out.errorSample) out.errorSample = `${res.status} ${text.slice(0, 300)}`;
          }
        } catch (e) {
          out.errors++;
          if (!out.errorSample) out.errorSample = String(e);
        }
      }
    }),
  );
  out.seconds = (performance.now() - t0) / 1000;
  return out;
}
