// Reading a completed sale or return as the POS sent it. The till has already given the
// discount and taken the money, so nothing here refuses: every field is read as well as
// it can be, and what does not add up becomes a sentence for an operator (an anomaly)
// next to the figures we settle by. The rules, in README ("Sales that do not add up"):
// - prices and quantities with more decimals than the protocol allows are rounded to the
//   kopeck / thousandth; a line we cannot read at all counts for no points;
// - a discounted price above the price counts at the price;
// - money fields that look like kopecks where roubles are expected (or the other way
//   round) are read in the unit that makes the payments meet the positions;
// - points reported as fractions are floored; negative figures count as zero;
// - sums beyond what any shop sells in one receipt are capped, and the receipt's points
//   wait for an operator (see the hold rules in loyalty/intake.ts).
import { createHash } from "node:crypto";
import type { DocumentSums } from "../loyalty/intake.ts";
import { readMoment } from "../loyalty/moment.ts";

/** What the protocol allows in one line, and more than any till sells in one receipt. */
export const LIMITS = {
  quantityMilli: 1_000_000_000n, // 1,000,000 units
  priceKopecks: 10_000_000_000n, // 100,000,000 roubles
  documentKopecks: 10_000_000_000_000n, // 100 billion roubles: beyond it totals are capped
  // A points figure beyond it is read as this: a billion points (the admin API's bound on
  // one adjustment too). It also keeps the figure inside the 32-bit integer Postgres takes a
  // bare statement parameter for (intake's storeSale compares and subtracts it untyped).
  points: 1_000_000_000n,
};

/** Rounding the till may do in the customer's favour when it takes money. */
export const PAYMENT_ROUNDING_KOPECKS = 99;

export interface ReadLine {
  assortmentId: string;
  quantityMilli: number;
  priceKopecks: number;
  discountedKopecks: number;
}

/** A line as earning sees it: the goods and the money paid for them (capped with the totals). */
export interface MoneyLine {
  assortmentId: string;
  moneyKopecks: number;
}

export interface ReadDocument {
  externalKey: string;
  name: string | null;
  moment: Date | null;
  retailStoreId: string | null;
  lines: ReadLine[];
  sums: DocumentSums;
  moneyLines: MoneyLine[];
  /** Cash + card + certificates in kopecks, in the unit we concluded; null when none was sent. */
  paidKopecks: number | null;
  /** Points the sale reports as spent and earned (returns report none). */
  pointsSpent: number;
  pointsEarnReported: number | null;
  /** The customer as the POS named them (strings only; a sale's agent, or a return's flat ref). */
  agent: { meta?: { id?: string; href?: string }; discountCardNumber?: string; phone?: string } | null;
  /** A return's link to its sale (demand.meta), when the POS sent one. */
  saleMeta: { id?: string; href?: string } | null;
  /** Sentences for an operator: what did not add up and what we concluded. */
  anomalies: string[];
}

/** Why a body cannot be stored: not an object, or it names nothing that happened. */
export class UnusableDocument extends Error {}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown, max = 2048): string | undefined =>
  typeof v === "string" ? (v.trim() ? v.trim().slice(0, max) : undefined) : typeof v === "number" && Number.isFinite(v) ? String(v) : undefined;
const metaOf = (v: unknown): { id?: string; href?: string } | undefined => {
  if (!isObject(v)) return undefined;
  const id = text(v.id, 256);
  const href = text(v.href);
  return id || href ? { ...(id ? { id } : {}), ...(href ? { href } : {}) } : undefined;
};

/** A JSON number (or a numeric string, which we note) as a decimal; null if it is no number. */
function numberOf(v: unknown): { value: number; fromString: boolean } | null {
  if (typeof v === "number" && Number.isFinite(v)) return { value: v, fromString: false };
  if (typeof v === "string" && /^\s*-?\d+([.,]\d+)?\s*$/.test(v)) {
    const value = Number(v.replace(",", "."));
    return Number.isFinite(value) ? { value, fromString: true } : null; // 400 digits read as Infinity
  }
  return null;
}

/**
 * `x` in units of 10^-decimals as a BigInt, rounded half away from zero, and whether
 * rounding was needed (more decimals than allowed). Reads the decimal text of the double,
 * so 62.95 is 6295 exactly.
 */
function scaled(x: number, decimals: number): { units: bigint; rounded: boolean } {
  const negative = x < 0;
  const abs = Math.abs(x);
  // From 10^21 toFixed writes exponents ("1e+21"); such a double is a whole number, exact
  // as a BigInt, and far past every limit below (which then says so in words).
  if (abs >= 1e21) {
    const units = BigInt(abs) * 10n ** BigInt(decimals);
    return { units: negative ? -units : units, rounded: false };
  }
  // toFixed handles up to 100 digits; 20 decimals is plenty to see the surplus.
  const [whole = "0", frac = ""] = abs.toFixed(Math.min(20, decimals + 12)).split(".");
  const kept = frac.slice(0, decimals).padEnd(decimals, "0");
  const rest = frac.slice(decimals).replace(/0+$/, "");
  // Binary noise (62.95 * 1 prints as 62.950000000000003) is not a surplus decimal.
  const noise = /^(0{6,}|9{6,})\d*$/.test(frac.slice(decimals)) || rest === "";
  let units = BigInt(whole + kept);
  const roundUp = rest !== "" && (noise ? /^9/.test(frac.slice(decimals)) : Number(`0.${rest}`) >= 0.5);
  if (roundUp) units += 1n;
  return { units: negative ? -units : units, rounded: !noise };
}

/** Kopecks as "1234.56 ₽", exact at any size (sums here may exceed 2^53 before capping). */
const roubles = (k: bigint | number) => {
  const b = BigInt(k);
  const abs = b < 0n ? -b : b;
  return `${b < 0n ? "-" : ""}${abs / 100n}.${String(abs % 100n).padStart(2, "0")} ₽`;
};

/** Canonical JSON: the same content always hashes the same, whatever the key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/**
 * The POS's identity of a document: meta.id, else meta.href, else a hash of the whole
 * body — the same body again is a redelivery, a different one a different document.
 */
export function documentKey(meta: { id?: string; href?: string } | undefined, body: unknown): string {
  if (meta?.id) return meta.id;
  if (meta?.href) return meta.href;
  return `hash:${createHash("sha256").update(canonical(body)).digest("hex")}`;
}

/** The identity a return's demand.meta gives its sale; null when the link is empty. */
export function saleKeyOf(meta: { id?: string; href?: string } | null): string | null {
  return meta?.id ?? meta?.href ?? null;
}

function readLines(positions: unknown, anomalies: string[]): ReadLine[] {
  if (positions === undefined || positions === null) return [];
  if (!Array.isArray(positions)) {
    anomalies.push("Позиции переданы не списком: чек сохранён без позиций, баллы за покупку не начислены.");
    return [];
  }
  const lines: ReadLine[] = [];
  positions.forEach((p, i) => {
    const n = i + 1;
    if (!isObject(p)) {
      anomalies.push(`Позиция ${n} не прочитана (не объект): за неё баллы не начислены.`);
      return;
    }
    const assortment = isObject(p.assortment) ? metaOf(p.assortment.meta) : undefined;
    const q = numberOf(p.quantity);
    const pr = numberOf(p.price);
    if (!q || !pr) {
      anomalies.push(`Позиция ${n}: ${!q ? "количество" : "цена"} не число — за позицию баллы не начислены.`);
      return;
    }
    if (q.fromString || pr.fromString) anomalies.push(`Позиция ${n}: число передано строкой, прочитано как число.`);
    const qty = scaled(q.value, 3);
    const price = scaled(pr.value, 2);
    if (qty.units <= 0n || price.units < 0n) {
      anomalies.push(`Позиция ${n}: ${qty.units <= 0n ? "количество не больше нуля" : "отрицательная цена"} — за позицию баллы не начислены.`);
      return;
    }
    if (qty.rounded) anomalies.push(`Позиция ${n}: количество ${q.value} с более чем 3 знаками после запятой, округлено до ${Number(qty.units) / 1000}.`);
    if (price.rounded) anomalies.push(`Позиция ${n}: цена ${pr.value} с более чем 2 знаками после запятой, округлена до ${roubles(price.units)}.`);
    if (qty.units > LIMITS.quantityMilli || price.units > LIMITS.priceKopecks) {
      anomalies.push(`Позиция ${n}: количество или цена больше допустимого протоколом — за позицию баллы не начислены.`);
      return;
    }
    let discounted = price.units;
    const dp = p.discountedPrice == null ? null : numberOf(p.discountedPrice);
    if (p.discountedPrice != null && !dp) {
      anomalies.push(`Позиция ${n}: цена со скидкой не число — взята цена без скидки.`);
    } else if (dp) {
      const d = scaled(dp.value, 2);
      if (d.rounded) anomalies.push(`Позиция ${n}: цена со скидкой ${dp.value} с более чем 2 знаками после запятой, округлена до ${roubles(d.units)}.`);
      if (d.units > price.units) {
        anomalies.push(`Позиция ${n}: цена со скидкой (${roubles(d.units)}) больше цены (${roubles(price.units)}) — взята цена.`);
      } else if (d.units < 0n) {
        anomalies.push(`Позиция ${n}: отрицательная цена со скидкой — взята цена.`);
      } else {
        discounted = d.units;
      }
    }
    lines.push({
      assortmentId: assortment?.id ?? assortment?.href ?? "",
      quantityMilli: Number(qty.units),
      priceKopecks: Number(price.units),
      discountedKopecks: Number(discounted),
    });
  });
  return lines;
}

/** price × quantity rounded to the kopeck, halves away from zero, in BigInt (never overflows). */
const lineSum = (priceKopecks: number, quantityMilli: number): bigint => {
  const p = BigInt(priceKopecks) * BigInt(quantityMilli);
  return (p + 500n) / 1000n;
};

function sumLines(
  lines: readonly ReadLine[],
  isExcluded: (assortmentId: string) => boolean,
  anomalies: string[],
): { sums: DocumentSums; moneyLines: MoneyLine[] } {
  let full = 0n;
  let total = 0n;
  let eligible = 0n;
  let eligibleFull = 0n;
  const paid = lines.map((l) => lineSum(l.discountedKopecks, l.quantityMilli));
  lines.forEach((l, i) => {
    const f = lineSum(l.priceKopecks, l.quantityMilli);
    full += f;
    total += paid[i]!;
    if (!isExcluded(l.assortmentId)) {
      eligible += paid[i]!;
      eligibleFull += f;
    }
  });
  // Beyond the cap every figure shrinks in one proportion, so nothing downstream can
  // overflow and lines still add up to the (capped) total.
  const over = full > LIMITS.documentKopecks;
  if (over) anomalies.push(`Сумма чека (${roubles(full)}) неправдоподобно велика: суммы ограничены ${roubles(LIMITS.documentKopecks)}.`);
  const scale = (v: bigint) => Number(over ? (v * LIMITS.documentKopecks) / full : v);
  return {
    sums: { fullKopecks: scale(full), totalKopecks: scale(total), eligibleKopecks: scale(eligible), eligibleFullKopecks: scale(eligibleFull) },
    moneyLines: lines.map((l, i) => ({ assortmentId: l.assortmentId, moneyKopecks: scale(paid[i]!) })),
  };
}

/** A money field in roubles (or kopecks), as kopecks in each reading; null if absent. */
function moneyField(v: unknown, field: string, anomalies: string[]): { asRoubles: bigint; asKopecks: bigint | null } | null {
  if (v === undefined || v === null) return null;
  const n = numberOf(v);
  if (!n || n.value < 0) {
    anomalies.push(`${field}: не неотрицательное число — не учтено.`);
    return null;
  }
  const r = scaled(n.value, 2);
  if (r.rounded) anomalies.push(`${field}: ${n.value} с более чем 2 знаками после запятой, округлено до ${roubles(r.units)}.`);
  // Only a whole number can be a count of kopecks.
  return { asRoubles: r.units, asKopecks: Number.isInteger(n.value) ? BigInt(n.value) : null };
}

/**
 * Money paid, in the unit that makes it meet the positions. `expectKopecks` names the
 * fields the protocol (or its changelog) says are in kopecks; a field read the other way
 * is recorded with what we concluded.
 */
function readPayments(body: Json, totalKopecks: number, expectKopecks: Set<string>, anomalies: string[]): number | null {
  const fields = ["cashSum", "noCashSum"] as const;
  const values = fields.map((f) => ({ field: f, v: moneyField(body[f], f, anomalies) }));
  let certificates = 0n;
  if (Array.isArray(body.giftCards)) {
    body.giftCards.forEach((g, i) => {
      const n = isObject(g) ? numberOf(g.paymentSum) : null;
      if (!n || n.value < 0 || !Number.isInteger(n.value)) {
        anomalies.push(`giftCards[${i}].paymentSum: ожидались целые копейки — не учтено.`);
        return;
      }
      certificates += BigInt(n.value);
    });
  }
  const present = values.filter((x) => x.v !== null);
  if (present.length === 0 && certificates === 0n) return null;
  const total = BigInt(totalKopecks);
  // Every reading of each field (roubles or kopecks); the one nearest the positions wins,
  // ties to the protocol's own unit.
  let best: { sum: bigint; kopeckFields: string[]; distance: bigint; surprises: number } | null = null;
  for (let mask = 0; mask < 1 << present.length; mask++) {
    let sum = certificates;
    const kopeckFields: string[] = [];
    let surprises = 0;
    let possible = true;
    present.forEach((x, i) => {
      const inKopecks = (mask >> i) & 1;
      if (inKopecks && x.v!.asKopecks === null) possible = false;
      sum += inKopecks ? (x.v!.asKopecks ?? 0n) : x.v!.asRoubles;
      if (inKopecks) kopeckFields.push(x.field);
      if (Boolean(inKopecks) !== expectKopecks.has(x.field)) surprises++;
    });
    if (!possible) continue;
    // Within the till's rounding counts as meeting the positions.
    const gap = total > sum ? total - sum : sum - total;
    const distance = sum <= total && gap <= BigInt(PAYMENT_ROUNDING_KOPECKS) ? 0n : gap;
    if (!best || distance < best.distance || (distance === best.distance && surprises < best.surprises)) {
      best = { sum, kopeckFields, distance, surprises };
    }
  }
  const expected = present.map((x) => ({ field: x.field, kopecks: expectKopecks.has(x.field) }));
  // Only a reading that actually meets the positions overrides the protocol's unit.
  if (best!.distance !== 0n || best!.surprises === 0) {
    let sum = certificates;
    for (const x of present) sum += expectKopecks.has(x.field) ? (x.v!.asKopecks ?? x.v!.asRoubles) : x.v!.asRoubles;
    best = { sum, kopeckFields: expected.filter((e) => e.kopecks).map((e) => e.field), distance: 0n, surprises: 0 };
  } else {
    for (const x of present) {
      const inKopecks = best!.kopeckFields.includes(x.field);
      if (inKopecks !== expectKopecks.has(x.field)) {
        anomalies.push(
          `${x.field} похоже ${inKopecks ? "в копейках" : "в рублях"}, а ожидались ${expectKopecks.has(x.field) ? "копейки" : "рубли"}: прочитано как ${roubles(inKopecks ? (x.v!.asKopecks ?? 0n) : x.v!.asRoubles)}.`,
        );
      }
    }
  }
  const paid = best!.sum;
  const gap = total - paid;
  if (paid > total || gap > BigInt(PAYMENT_ROUNDING_KOPECKS)) {
    anomalies.push(`Оплата (${roubles(paid)}) не сходится с суммой позиций по ценам со скидкой (${roubles(total)}).`);
  }
  return Number(paid > LIMITS.documentKopecks ? LIMITS.documentKopecks : paid);
}

function readPoints(v: unknown, field: string, anomalies: string[]): number | null {
  if (v === undefined || v === null) return null;
  const n = numberOf(v);
  if (!n) {
    anomalies.push(`${field}: не число — не учтено.`);
    return null;
  }
  if (n.value < 0) {
    anomalies.push(`${field}: отрицательное число — считается нулём.`);
    return 0;
  }
  let points = Math.floor(n.value);
  if (points !== n.value) anomalies.push(`${field}: дробное число баллов ${n.value}, учтено ${points}.`);
  if (BigInt(points) > LIMITS.points) {
    anomalies.push(`${field}: неправдоподобно много баллов (${n.value}).`);
    points = Number(LIMITS.points);
  }
  return points;
}

function header(body: Json, timeZone: string, anomalies: string[]) {
  const meta = metaOf(body.meta);
  const store = isObject(body.retailStore) ? metaOf(body.retailStore.meta) : undefined;
  let moment: Date | null = null;
  if (body.moment !== undefined && body.moment !== null) {
    moment = readMoment(body.moment, timeZone);
    if (!moment) anomalies.push(`Дата документа «${String(body.moment).slice(0, 40)}» не прочитана: взято время получения.`);
  }
  return {
    externalKey: documentKey(meta, body),
    name: text(body.name, 255) ?? null,
    moment,
    retailStoreId: store?.id ?? store?.href ?? null,
  };
}

function agentOf(v: unknown, flat: boolean): ReadDocument["agent"] {
  if (!isObject(v)) return null;
  const meta = flat ? metaOf(v) : metaOf(v.meta);
  const discountCardNumber = text(v.discountCardNumber, 64);
  const phone = text(v.phone, 64);
  if (!meta && !discountCardNumber && !phone) return null;
  return { ...(meta ? { meta } : {}), ...(discountCardNumber ? { discountCardNumber } : {}), ...(phone ? { phone } : {}) };
}

export interface ReadOptions {
  timeZone: string;
  isExcluded: (assortmentId: string) => boolean;
}

function requireObject(body: unknown): Json {
  if (!isObject(body)) throw new UnusableDocument("Тело запроса — не JSON-объект.");
  return body;
}

/** A completed sale (POST /retaildemand). Throws UnusableDocument only when it names nothing. */
export function readSale(raw: unknown, opts: ReadOptions): ReadDocument {
  const body = requireObject(raw);
  const anomalies: string[] = [];
  const bonus = isObject(body.bonusProgram) ? body.bonusProgram : {};
  const lines = readLines(body.positions, anomalies);
  const spent = readPoints(bonus.bonusValueToSpend, "bonusProgram.bonusValueToSpend", anomalies);
  const earnReported = readPoints(bonus.bonusValueToEarn, "bonusProgram.bonusValueToEarn", anomalies);
  const hasPositions = Array.isArray(body.positions) && body.positions.length > 0;
  if (!hasPositions && spent === null && earnReported === null) {
    throw new UnusableDocument("В продаже нет ни позиций, ни баллов: сохранять нечего.");
  }
  const { sums, moneyLines } = sumLines(lines, opts.isExcluded, anomalies);
  const paid = readPayments(body, sums.totalKopecks, new Set(), anomalies);
  return {
    ...header(body, opts.timeZone, anomalies),
    lines,
    sums,
    moneyLines,
    paidKopecks: paid,
    pointsSpent: spent ?? 0,
    pointsEarnReported: earnReported,
    agent: agentOf(body.agent, false),
    saleMeta: null,
    anomalies,
  };
}

/**
 * A return (POST /retailsalesreturn). Its agent is flat { href, id }; noCashSum is in
 * kopecks per the protocol's changelog of 24-10-2024, though tills in the field also send
 * roubles — the reading that meets the positions decides.
 */
export function readReturn(raw: unknown, opts: ReadOptions): ReadDocument {
  const body = requireObject(raw);
  const anomalies: string[] = [];
  if (!Array.isArray(body.positions) || body.positions.length === 0) {
    throw new UnusableDocument("В возврате нет позиций: сохранять нечего.");
  }
  const lines = readLines(body.positions, anomalies);
  const { sums, moneyLines } = sumLines(lines, opts.isExcluded, anomalies);
  const paid = readPayments(body, sums.totalKopecks, new Set(["noCashSum"]), anomalies);
  const demand = isObject(body.demand) ? metaOf(body.demand.meta) : undefined;
  return {
    ...header(body, opts.timeZone, anomalies),
    lines,
    sums,
    moneyLines,
    paidKopecks: paid,
    pointsSpent: 0,
    pointsEarnReported: null,
    agent: agentOf(body.agent, true),
    saleMeta: demand ?? null,
    anomalies,
  };
}
