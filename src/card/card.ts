// The customer's card: what the card page shows, the card's token (the secret in its link
// and QR code), and the card link sent after registration. Controllers render what
// cardView() returns; nothing else gathers a card's data, so rules added later (levels,
// burning points) reach the page, the Wallet passes and tests through this one function.
import { randomBytes } from "node:crypto";
import type { Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import type { LedgerKind } from "../loyalty/ledger.ts";
import { renderTemplate } from "../loyalty/messages.ts";
import { programFromStored } from "../loyalty/program.ts";
import { expiringPoints } from "../loyalty/lots.ts";
import { tierView } from "../loyalty/tiers.ts";

/** 16 random bytes: 128 bits, URL-safe, 22 characters. */
export function newCardToken(): string {
  return randomBytes(16).toString("base64url");
}

/** Short code for the invite link; 10 characters of 62 ≈ 59 bits, enough not to be guessed in bulk. */
export function newReferralCode(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  const bytes = randomBytes(10);
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join("");
}

export const cardPath = (token: string) => `/card/${encodeURIComponent(token)}`;
export const cardUrl = (publicUrl: string, token: string) => `${publicUrl}${cardPath(token)}`;
export const inviteUrl = (publicUrl: string, slug: string, code: string) =>
  `${publicUrl}/join/${encodeURIComponent(slug)}?ref=${encodeURIComponent(code)}`;

export interface CardHistoryLine {
  points: number;
  /** «+12 за покупку 28 ноября», «−100 оплата баллами». */
  text: string;
  pending: boolean;
}

export interface CardView {
  tenantId: string;
  slug: string;
  shop: string;
  customerId: string;
  firstName: string | null;
  token: string;
  cardNumber: string | null;
  balance: number;
  pending: number;
  /** What the QR code holds: the card's URL (the POS search takes the token at its end). */
  qrPayload: string;
  cardUrl: string;
  inviteUrl: string;
  /** The program gives referral points (the invite block says how many). */
  referral: { referrerPoints: number; referredPoints: number };
  history: CardHistoryLine[];
  /** Filled when the program has levels (program rules); the page shows it only then. */
  level?: { name: string; toNext?: { name: string; rubles: number } | null } | null;
  /** Filled when points burn (program rules); the page shows it only then. */
  nextBurn?: { points: number; at: Date } | null;
  /** The merchant's zone: dates on the card are the shop's calendar days. */
  timeZone?: string;
}

const HISTORY_LIMIT = 20;

/** «28 ноября», in Moscow time (the customer's calendar). */
export function dayMonth(d: Date): string {
  return new Intl.DateTimeFormat("ru-RU", { day: "numeric", month: "long", timeZone: "Europe/Moscow" }).format(d);
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : `−${Math.abs(n)}`;
}

const KIND_WORDS: Record<string, (points: number) => string> = {
  accrual: () => "за покупку",
  spend: () => "оплата баллами",
  refund: () => "возврат баллов за возвращённый товар",
  clawback: () => "за возвращённый товар",
  adjustment: (p) => (p > 0 ? "начислено магазином" : "списано магазином"),
  welcome: () => "приветственные баллы",
  birthday: () => "в день рождения",
  expiry: () => "сгорели",
};

/** One ledger entry in words, as the customer reads it. */
export function historyText(e: { kind: LedgerKind | string; points: number; created_at: Date; available_at: Date; pending: boolean; idempotency_key: string }): string {
  const words =
    e.kind === "referral"
      ? e.idempotency_key.endsWith(":referred")
        ? "за покупку по приглашению"
        : "за приглашённого друга"
      : (KIND_WORDS[e.kind]?.(e.points) ?? "");
  const parts = [signed(e.points), words, dayMonth(e.created_at)].filter(Boolean);
  let text = parts.join(" ");
  if (e.pending) text += ` (станут доступны ${dayMonth(e.available_at)})`;
  return text;
}

interface CardRow {
  tenant_id: string;
  slug: string;
  shop: string;
  id: string;
  name: string | null;
  legal_first_name: string | null;
  card_number: string | null;
  qr_token: string;
  balance: number;
  pending_balance: number;
  referral_code: string | null;
  tier: string | null;
  settings: Record<string, unknown> | null;
}

function firstNameOf(row: { name: string | null; legal_first_name: string | null }): string | null {
  if (row.legal_first_name) return row.legal_first_name;
  return row.name?.trim().split(/\s+/)[0] || null;
}

/** The token has the card's shape (checked before it reaches the database). */
export function plausibleToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{16,200}$/.test(token);
}

/**
 * Everything the card shows, found by the card's token; null for a token that opens no
 * card (never telling whether it once did).
 */
export async function cardView(sql: Sql, publicUrl: string, token: string): Promise<CardView | null> {
  if (!plausibleToken(token)) return null;
  const [row] = await sql<CardRow[]>`
    select c.tenant_id, t.slug, t.name as shop, c.id, c.name, c.legal_first_name, c.card_number, c.qr_token,
           c.balance, c.pending_balance, c.referral_code, c.tier, p.settings
    from customer c join tenant t on t.id = c.tenant_id join program p on p.tenant_id = c.tenant_id
    where c.qr_token = ${token}
    limit 1`;
  if (!row) return null;
  const referralCode = row.referral_code ?? (await ensureReferralCode(sql, row.tenant_id, row.id));
  const entries = await sql<{ kind: LedgerKind; points: number; created_at: Date; available_at: Date; pending: boolean; idempotency_key: string }[]>`
    select kind, points, created_at, available_at, released_at is null as pending, idempotency_key
    from ledger_entry where tenant_id = ${row.tenant_id} and customer_id = ${row.id}
    order by id desc limit ${HISTORY_LIMIT}`;
  const program = programFromStored(row.settings);
  // The level only where the program has levels; the next burn only where points burn.
  const [level, expiring] = await Promise.all([
    program.settings.tiers.length > 0 ? tierView(sql, row.tenant_id, row.id, row.tier, program) : null,
    expiringPoints(sql, row.tenant_id, row.id, 1),
  ]);
  const url = cardUrl(publicUrl, row.qr_token);
  return {
    tenantId: row.tenant_id,
    slug: row.slug,
    shop: row.shop,
    customerId: row.id,
    firstName: firstNameOf(row),
    token: row.qr_token,
    cardNumber: row.card_number,
    balance: Number(row.balance),
    pending: Number(row.pending_balance),
    qrPayload: url,
    cardUrl: url,
    inviteUrl: inviteUrl(publicUrl, row.slug, referralCode),
    referral: { referrerPoints: program.settings.referrerPoints, referredPoints: program.settings.referredPoints },
    level: level ? { name: level.name, toNext: level.nextTier ? { name: level.nextTier, rubles: level.toNextTier ?? 0 } : null } : null,
    nextBurn: expiring[0] ? { points: expiring[0].points, at: expiring[0].expiresAt } : null,
    timeZone: program.settings.timezone,
    history: entries.map((e) => ({ points: Number(e.points), pending: e.pending, text: historyText({ ...e, points: Number(e.points) }) })),
  };
}

/** The customer's invite code, made on first use (concurrent first uses agree on one). */
export async function ensureReferralCode(sql: Sql, tenantId: string, customerId: string): Promise<string> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const [row] = await sql<{ referral_code: string }[]>`
        update customer set referral_code = coalesce(referral_code, ${newReferralCode()})
        where tenant_id = ${tenantId} and id = ${customerId}
        returning referral_code`;
      if (!row) throw errors.customerNotFound("id");
      return row.referral_code;
    } catch (e: any) {
      if (e?.code !== "23505") throw e; // another customer drew the same code: draw again
    }
  }
  throw errors.conflict("Не удалось выдать код приглашения, повторите.");
}

/**
 * A new token for the customer's card: the old link and QR code stop opening the card and
 * stop being found by the POS search at once (the column holds only the current token).
 */
export async function rotateCardToken(sql: Sql, publicUrl: string, tenantId: string, customerId: string): Promise<{ token: string; url: string }> {
  const token = newCardToken();
  const rows = await sql.begin(async (tx) => {
    const r = await tx`update customer set qr_token = ${token}, updated_at = now() where tenant_id = ${tenantId} and id = ${customerId} returning id`;
    // Wallet passes carry the QR code: devices must fetch the pass again.
    await tx`update wallet_pass set updated_at = now() where tenant_id = ${tenantId} and customer_id = ${customerId}`;
    return r;
  });
  if (rows.length === 0) throw errors.customerNotFound("id");
  return { token, url: cardUrl(publicUrl, token) };
}

export const DEFAULT_CARD_MESSAGE = "{shop}: ваша карта {url}";

/** The SMS with the card link, from the merchant's template. */
export function cardMessageText(template: string | null, vars: { shop: string; url: string }): string {
  return renderTemplate(template ?? DEFAULT_CARD_MESSAGE, vars);
}
