// The request mixes, built once from a random sample of the generated customers and
// written to files the load generator replays in random order. Each request carries
// what a correct answer must contain; the pre-flight check holds every answer of a
// sample to that, the load generator only to a target-wide marker.
import { writeFile } from "node:fs/promises";
import type { Sql } from "../src/db/client.ts";
import { int, pick, type Rand, rng, uuid } from "./lib.ts";

export interface BenchRequest {
  method: "GET" | "POST";
  path: string;
  body?: string;
  /** Checked on pre-flight answers (JSON-parsed). */
  expect: Expectation;
}

export type Expectation =
  | { kind: "lookup"; id: string }
  | { kind: "search-exact"; id: string }
  | { kind: "search-name"; prefix: string }
  | { kind: "recalc"; balance: number; transactionType: "EARNING" | "SPENDING" };

export interface Target {
  name: "reference" | "recalc" | "search";
  label: string;
  /** A substring every 2xx body of this target contains (the generator's sample check). */
  marker: string;
  requests: BenchRequest[];
}

interface SampleCustomer {
  id: string;
  ms_id: string | null;
  name: string | null;
  phone: string;
  card_number: string;
  qr_token: string;
  balance: number;
}

export const MOYSKLAD = "/rest/integration/moysklad/v1";
const REMAP = "https://api.moysklad.ru/api/remap/1.2/entity";

export async function sampleCustomers(sql: Sql, tenantId: string, n: number): Promise<SampleCustomer[]> {
  const [{ total } = { total: 0 }] = await sql<{ total: number }[]>`
    select reltuples::bigint as total from pg_class where oid = 'customer'::regclass`;
  const fraction = Math.min(100, (100 * n * 1.3) / Math.max(total, 1));
  return sql<SampleCustomer[]>`
    select id, ms_id, name, phone, card_number, qr_token, balance
    from customer tablesample bernoulli (${fraction}) repeatable (7)
    where tenant_id = ${tenantId} and phone is not null and card_number is not null
    limit ${n}`;
}

/** "79031234567" as a cashier might type it. */
function phoneNotation(r: Rand, p: string): string {
  const d = p.slice(1); // 10 digits after the country code
  const [a, b, c, e] = [d.slice(0, 3), d.slice(3, 6), d.slice(6, 8), d.slice(8)];
  return pick(r, [
    `+7${d}`,
    `8${d}`,
    d,
    `+7 ${a} ${b}-${c}-${e}`,
    `8 (${a}) ${b}-${c}-${e}`,
    `+7 (${a}) ${b}${c}${e}`,
    `7${d}`,
  ]);
}

function referenceRequests(customers: SampleCustomer[]): BenchRequest[] {
  return customers.map((c) => ({
    method: "GET",
    path: `/lookup?phone=${c.phone}`,
    expect: { kind: "lookup", id: c.id },
  }));
}

/**
 * What the POS searches by: phones in any notation (45%), card numbers (25%), QR
 * payloads — the bare token, a URL ending in it, or a URL carrying the card (20%) —
 * and the first letters of a surname, sometimes with an initial (10%).
 */
function searchRequests(customers: SampleCustomer[], r: Rand): BenchRequest[] {
  return customers.map((c) => {
    const x = r();
    let search: string;
    let expect: Expectation = { kind: "search-exact", id: c.id };
    if (x < 0.45) search = phoneNotation(r, c.phone);
    else if (x < 0.7) search = c.card_number;
    else if (x < 0.8) search = c.qr_token;
    else if (x < 0.85) search = `https://bonus.example.ru/c/${c.qr_token}`;
    else if (x < 0.9) search = `https://bonus.example.ru/card?number=${c.card_number}`;
    else {
      const [last = "Иванов", first = "Иван"] = (c.name ?? "Иванов Иван").split(" ");
      search = r() < 0.7 ? last.slice(0, int(r, 3, Math.max(3, last.length))) : `${last} ${first[0]}`;
      if (r() < 0.5) search = search.toLowerCase();
      expect = { kind: "search-name", prefix: search.toLowerCase() };
    }
    return { method: "GET", path: `${MOYSKLAD}/counterparty?search=${encodeURIComponent(search)}`, expect };
  });
}

/**
 * Receipts of 1–5 positions (some weighed, some with serial numbers), half earning and
 * half spending; the customer named by phone (40%), by МойСклад id (35%, our id when
 * they have none), by our id as search returned it (15%) or by card (10%).
 */
function recalcRequests(customers: SampleCustomer[], r: Rand): BenchRequest[] {
  const products = Array.from({ length: 300 }, () => uuid(r));
  const store = uuid(r);
  return customers.map((c) => {
    const x = r();
    const agent: Record<string, unknown> = {};
    if (x < 0.4) agent.phone = phoneNotation(r, c.phone);
    else if (x < 0.75) {
      const id = c.ms_id ?? c.id;
      agent.meta = { href: `${REMAP}/counterparty/${id}`, id, type: "counterparty", mediaType: "application/json" };
    } else if (x < 0.9) agent.meta = { id: c.id, type: "counterparty" };
    else agent.discountCardNumber = c.card_number;
    if (c.name && r() < 0.5) agent.name = c.name;

    const positions = Array.from({ length: int(r, 1, 5) }, () => {
      const id = pick(r, products);
      const weighed = r() < 0.2;
      const price = int(r, 1_000, 300_000) / 100;
      const position: Record<string, unknown> = {
        assortment: { meta: { href: `${REMAP}/product/${id}`, id, type: "product", idType: "native" } },
        quantity: weighed ? int(r, 100, 2_500) / 1000 : int(r, 1, 3),
        price,
      };
      if (!weighed && r() < 0.05) {
        position.quantity = 2;
        position.sn = [{ name: `SN${int(r, 1e6, 9e6)}` }, { name: `SN${int(r, 1e6, 9e6)}` }];
      }
      return position;
    });
    const transactionType = r() < 0.5 ? "EARNING" : "SPENDING";
    const body: Record<string, unknown> = {
      retailStore: { meta: { href: `${REMAP}/retailstore/${store}`, id: store }, name: "Магазин №1" },
      agent,
      positions,
      bonusProgram: { transactionType },
    };
    if (transactionType === "SPENDING" && r() < 0.3) body.preferredBonusToSpend = int(r, 0, Math.max(0, c.balance));
    return {
      method: "POST",
      path: `${MOYSKLAD}/retaildemand/recalc`,
      body: JSON.stringify(body),
      expect: { kind: "recalc", balance: c.balance, transactionType },
    };
  });
}

export function buildTargets(customers: SampleCustomer[]): Target[] {
  return [
    { name: "reference", label: "reference (1 lookup)", marker: '"balance"', requests: referenceRequests(customers) },
    { name: "recalc", label: "POST retaildemand/recalc", marker: '"agentBonusBalanceAfter"', requests: recalcRequests(customers, rng(11)) },
    { name: "search", label: "GET counterparty?search", marker: '"rows":[{', requests: searchRequests(customers, rng(12)) },
  ];
}

/** One request a line: METHOD \t PATH \t BODY (JSON has no raw tabs or newlines). */
export async function writeRequestFile(file: string, requests: BenchRequest[]): Promise<void> {
  await writeFile(file, requests.map((q) => `${q.method}\t${q.path}\t${q.body ?? ""}`).join("\n") + "\n");
}

const kopecks = (roubles: number) => Math.round(roubles * 100);
/** price × quantity to the kopeck, half up, in integers as the till does. */
const lineKopecks = (price: number, quantity: number) => Math.round((kopecks(price) * Math.round(quantity * 1000)) / 1000);

/** Null when the answer is what this request must get, else what is wrong with it. */
export function checkAnswer(q: BenchRequest, status: number, body: any): string | null {
  if (status !== 200) return `status ${status}: ${JSON.stringify(body).slice(0, 300)}`;
  const e = q.expect;
  switch (e.kind) {
    case "lookup":
      return body?.id === e.id ? null : `expected id ${e.id}, got ${JSON.stringify(body)}`;
    case "search-exact":
      return body?.rows?.[0]?.id === e.id ? null : `expected ${e.id} first, got ${JSON.stringify(body?.rows?.map((x: any) => x.id))}`;
    case "search-name": {
      const rows: any[] = body?.rows ?? [];
      if (rows.length === 0) return "no rows for a name prefix that exists";
      const off = rows.find((x) => !String(x.name ?? "").toLowerCase().startsWith(e.prefix));
      return off ? `row "${off.name}" does not start with "${e.prefix}"` : null;
    }
    case "recalc": {
      const bp = body?.bonusProgram;
      if (!bp || bp.agentBonusBalance !== e.balance) return `expected balance ${e.balance}, got ${JSON.stringify(bp)}`;
      if (bp.transactionType !== e.transactionType) return `transactionType ${bp.transactionType}`;
      if (bp.agentBonusBalanceAfter !== bp.agentBonusBalance - bp.bonusValueToSpend + bp.bonusValueToEarn) {
        return "agentBonusBalanceAfter ≠ balance − spend + earn";
      }
      const request = JSON.parse(q.body!);
      const total = request.positions.reduce((s: number, p: any) => s + lineKopecks(p.price, p.quantity), 0);
      const paid = body.positions.reduce((s: number, p: any) => s + lineKopecks(p.discountedPrice, p.quantity), 0);
      if (paid !== total - kopecks(bp.paidByBonusPoints)) {
        return `positions sum to ${paid} kopecks, expected ${total} − ${kopecks(bp.paidByBonusPoints)}`;
      }
      return null;
    }
  }
}
