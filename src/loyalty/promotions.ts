// Promotions: a time-boxed earn rate on some or all goods, for receipts whose moment falls inside.
import { t } from "elysia";
import type { Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { readMoment } from "./moment.ts";
import { parsePercentHundredths } from "./money.ts";

export interface Promotion {
  id: string;
  name: string;
  startsAt: Date;
  endsAt: Date;
  /** 1 = Monday … 7; null = every day. */
  weekdays: number[] | null;
  /** "HH:MM" local; the window [from, to) may pass midnight (22:00–02:00). */
  hours: { from: string; to: string } | null;
  assortmentIds: string[] | null;
  earnPercent: number | null;
  earnMultiplier: number | null;
  endedAt: Date | null;
}

export interface PromotionRow {
  id: string;
  name: string;
  starts_at: Date | string;
  ends_at: Date | string;
  weekdays: number[] | null;
  hours_from: string | null;
  hours_to: string | null;
  assortment_ids: string[] | null;
  earn_percent: string | number | null;
  earn_multiplier: string | number | null;
  ended_at: Date | string | null;
}

const date = (v: Date | string) => (v instanceof Date ? v : new Date(v));

export function promotionFromRow(r: PromotionRow): Promotion {
  return {
    id: r.id,
    name: r.name,
    startsAt: date(r.starts_at),
    endsAt: date(r.ends_at),
    weekdays: r.weekdays,
    hours: r.hours_from && r.hours_to ? { from: r.hours_from, to: r.hours_to } : null,
    assortmentIds: r.assortment_ids,
    earnPercent: r.earn_percent === null ? null : Number(r.earn_percent),
    earnMultiplier: r.earn_multiplier === null ? null : Number(r.earn_multiplier),
    endedAt: r.ended_at === null ? null : date(r.ended_at),
  };
}

export async function listPromotions(sql: Sql, tenantId: string): Promise<Promotion[]> {
  const rows = await sql<PromotionRow[]>`
    select * from promotion where tenant_id = ${tenantId} order by starts_at desc, created_at desc limit 1000`;
  return rows.map(promotionFromRow);
}

// What an operator or a merchant sends to create a promotion (all fields) or change one
// (any of them): the admin API validates with these schemas, the cabinet's form builds
// the same shape. Rules across fields are checked below, against the stored promotion.
const hhmm = t.String({ maxLength: 5, description: "ЧЧ:ММ по времени магазина" });
const moment = t.String({ minLength: 10, maxLength: 40, description: "ISO с часовым поясом или «YYYY-MM-DD HH:MM:SS» по времени магазина" });

export const PromotionFields = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 200 }),
    startsAt: moment,
    endsAt: moment,
    weekdays: t.Optional(t.Nullable(t.Array(t.Integer({ minimum: 1, maximum: 7 }), { minItems: 1, maxItems: 7, description: "1 — понедельник … 7" }))),
    hours: t.Optional(t.Nullable(t.Object({ from: hhmm, to: hhmm }, { additionalProperties: false }))),
    assortmentIds: t.Optional(t.Nullable(t.Array(t.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 10_000, description: "только эти товары" }))),
    earnPercent: t.Optional(t.Nullable(t.Number({ minimum: 0, maximum: 100, description: "процент баллами вместо обычного" }))),
    earnMultiplier: t.Optional(t.Nullable(t.Number({ exclusiveMinimum: 0, maximum: 100, description: "во сколько раз больше обычного процента покупателя" }))),
  },
  { additionalProperties: false },
);
export const PromotionPatch = t.Partial(PromotionFields, { additionalProperties: false });
export type PromotionInput = typeof PromotionPatch.static;

const HHMM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/** ISO with an offset, or "YYYY-MM-DD HH:MM[:SS]" read in the merchant's zone (as a sale's moment is). */
function parseMoment(text: string, zone: string, field: string): Date {
  const at = readMoment(text, zone);
  if (at) return at;
  throw errors.validation(`«${field}»: дата и время ISO (с часовым поясом) или «YYYY-MM-DD HH:MM:SS» по времени магазина.`, field);
}

function checked(input: PromotionInput, before: Promotion | null, zone: string) {
  const startsAt = input.startsAt !== undefined ? parseMoment(input.startsAt, zone, "startsAt") : before?.startsAt;
  const endsAt = input.endsAt !== undefined ? parseMoment(input.endsAt, zone, "endsAt") : before?.endsAt;
  if (!startsAt) throw errors.validation("Укажите начало акции.", "startsAt");
  if (!endsAt) throw errors.validation("Укажите конец акции.", "endsAt");
  if (endsAt <= startsAt) throw errors.validation("Акция должна заканчиваться позже, чем начинается.", "endsAt");
  const weekdays = input.weekdays !== undefined ? input.weekdays : (before?.weekdays ?? null);
  if (weekdays && (weekdays.length === 0 || new Set(weekdays).size !== weekdays.length)) {
    throw errors.validation("Дни недели: от 1 (понедельник) до 7, без повторов.", "weekdays");
  }
  const hours = input.hours !== undefined ? input.hours : (before?.hours ?? null);
  if (hours) {
    if (!HHMM.test(hours.from)) throw errors.validation("Часы: «ЧЧ:ММ».", "hours.from");
    if (!HHMM.test(hours.to)) throw errors.validation("Часы: «ЧЧ:ММ».", "hours.to");
    if (hours.from === hours.to) throw errors.validation("Начало и конец часов акции совпадают.", "hours.to");
  }
  let earnPercent = input.earnPercent !== undefined ? input.earnPercent : (before?.earnPercent ?? null);
  let earnMultiplier = input.earnMultiplier !== undefined ? input.earnMultiplier : (before?.earnMultiplier ?? null);
  // Setting one effect in an update replaces the other.
  if (input.earnPercent != null && input.earnMultiplier === undefined) earnMultiplier = null;
  if (input.earnMultiplier != null && input.earnPercent === undefined) earnPercent = null;
  if ((earnPercent === null) === (earnMultiplier === null)) {
    throw errors.validation("Укажите одно из двух: earnPercent или earnMultiplier.", "earnPercent");
  }
  if (earnPercent !== null && parsePercentHundredths(earnPercent) === null) {
    throw errors.validation("«earnPercent»: не более 2 знаков после запятой.", "earnPercent");
  }
  if (earnMultiplier !== null && parsePercentHundredths(earnMultiplier) === null) {
    throw errors.validation("«earnMultiplier»: не более 2 знаков после запятой.", "earnMultiplier");
  }
  const name = input.name ?? before?.name;
  if (!name) throw errors.validation("Укажите название акции.", "name");
  const assortmentIds = input.assortmentIds !== undefined ? input.assortmentIds : (before?.assortmentIds ?? null);
  return {
    name,
    starts_at: startsAt,
    ends_at: endsAt,
    weekdays: weekdays ? [...weekdays].sort((a, b) => a - b) : null,
    hours_from: hours?.from ?? null,
    hours_to: hours?.to ?? null,
    assortment_ids: assortmentIds ? [...new Set(assortmentIds)] : null,
    earn_percent: earnPercent,
    earn_multiplier: earnMultiplier,
  };
}

export async function createPromotion(sql: Sql, tenantId: string, zone: string, input: PromotionInput): Promise<Promotion> {
  const v = checked(input, null, zone);
  const [row] = await sql<PromotionRow[]>`
    insert into promotion (tenant_id, name, starts_at, ends_at, weekdays, hours_from, hours_to, assortment_ids, earn_percent, earn_multiplier)
    values (${tenantId}, ${v.name}, ${v.starts_at}, ${v.ends_at}, ${v.weekdays}, ${v.hours_from}, ${v.hours_to},
      ${v.assortment_ids}, ${v.earn_percent}, ${v.earn_multiplier})
    returning *`;
  return promotionFromRow(row!);
}

export async function updatePromotion(sql: Sql, tenantId: string, zone: string, id: string, input: PromotionInput): Promise<Promotion> {
  return sql.begin(async (tx) => {
    const [row] = await tx<PromotionRow[]>`
      select * from promotion where tenant_id = ${tenantId} and id = ${id}::uuid for update`;
    if (!row) throw errors.notFound("Акция не найдена.", "id");
    const before = promotionFromRow(row);
    if (before.endedAt) throw errors.conflict("Акция удалена: создайте новую.", "id");
    const v = checked(input, before, zone);
    const [updated] = await tx<PromotionRow[]>`
      update promotion set ${tx(v as Record<string, unknown>)}
      where tenant_id = ${tenantId} and id = ${id}::uuid returning *`;
    return promotionFromRow(updated!);
  });
}

/** Ends a promotion now; it stays for the history of receipts it named. */
export async function endPromotion(sql: Sql, tenantId: string, id: string): Promise<void> {
  const [row] = await sql`
    update promotion set ended_at = coalesce(ended_at, now())
    where tenant_id = ${tenantId} and id = ${id}::uuid returning id`;
  if (!row) throw errors.notFound("Акция не найдена.", "id");
}
