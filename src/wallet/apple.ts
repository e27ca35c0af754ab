// Apple Wallet: the customer's store card pass and Apple's PassKit web service.
//
// Packaging and signing is passkit-generator's (the most used Node library for passes: it
// writes manifest.json with every file's SHA-1 and a detached PKCS#7 signature made with
// the Pass Type ID certificate, its key and Apple's WWDR certificate, through node-forge).
// Every pass carries its own authentication token (wallet_pass.auth_token); every web
// service call names the pass and must bring that token.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PKPass } from "passkit-generator";
import { type CardView, cardView } from "../card/card.ts";
import type { Sql } from "../db/client.ts";
import { asUuid } from "../loyalty/customers.ts";
import type { AppleWalletConfig } from "./config.ts";

const ICONS = ["icon.png", "icon@2x.png", "icon@3x.png", "logo.png", "logo@2x.png"];
let icons: Record<string, Buffer> | undefined;
function iconFiles(): Record<string, Buffer> {
  icons ??= Object.fromEntries(ICONS.map((n) => [n, readFileSync(fileURLToPath(new URL(`./static/${n}`, import.meta.url)))]));
  return icons;
}

export interface WalletPassRow {
  serial: string;
  auth_token: string;
  updated_at: Date;
}

/** The customer's pass record (serial, token), made on first download. */
export async function ensureWalletPass(sql: Sql, tenantId: string, customerId: string): Promise<WalletPassRow> {
  await sql`
    insert into wallet_pass (tenant_id, customer_id, auth_token)
    values (${tenantId}, ${customerId}, ${randomBytes(24).toString("base64url")})
    on conflict (tenant_id, customer_id) do nothing`;
  const [row] = await sql<WalletPassRow[]>`
    select serial, auth_token, updated_at from wallet_pass where tenant_id = ${tenantId} and customer_id = ${customerId}`;
  return row!;
}

/** pass.json of the store card: the card's QR code, balance, level when the program has one. */
export function passJson(cfg: AppleWalletConfig, publicUrl: string, view: CardView, pass: WalletPassRow): Record<string, unknown> {
  const secondary: Record<string, unknown>[] = [];
  if (view.pending > 0) secondary.push({ key: "pending", label: "Скоро будут", value: view.pending });
  if (view.level) secondary.push({ key: "level", label: "Уровень", value: view.level.name });
  if (view.firstName) secondary.push({ key: "name", label: "Владелец", value: view.firstName });
  return {
    formatVersion: 1,
    passTypeIdentifier: cfg.passTypeId,
    teamIdentifier: cfg.teamId,
    serialNumber: pass.serial,
    authenticationToken: pass.auth_token,
    webServiceURL: `${publicUrl}/wallet/apple/`,
    organizationName: view.shop,
    description: `Карта покупателя ${view.shop}`,
    logoText: view.shop,
    foregroundColor: "rgb(255, 255, 255)",
    backgroundColor: "rgb(31, 111, 235)",
    labelColor: "rgb(220, 230, 255)",
    barcodes: [{ format: "PKBarcodeFormatQR", message: view.qrPayload, messageEncoding: "iso-8859-1", altText: view.cardNumber ?? undefined }],
    storeCard: {
      primaryFields: [{ key: "balance", label: "Баллы", value: view.balance, changeMessage: "Баланс: %@ баллов" }],
      secondaryFields: secondary,
      backFields: [
        { key: "card", label: "Карта онлайн", value: view.cardUrl },
        { key: "invite", label: "Пригласить друга", value: view.inviteUrl },
      ],
    },
  };
}

/** The signed .pkpass (a zip: pass.json, images, manifest.json, signature). */
export function buildPkpass(cfg: AppleWalletConfig, json: Record<string, unknown>): Buffer {
  const pass = new PKPass(
    { "pass.json": Buffer.from(JSON.stringify(json)), ...iconFiles() },
    { wwdr: cfg.wwdr, signerCert: cfg.signerCert, signerKey: cfg.signerKey, signerKeyPassphrase: cfg.signerKeyPassphrase },
  );
  return pass.getAsBuffer();
}

/** The pass for the card behind `token`, or null for a token that opens no card. */
export async function passForCard(sql: Sql, cfg: AppleWalletConfig, publicUrl: string, token: string): Promise<{ pkpass: Buffer; updatedAt: Date } | null> {
  const view = await cardView(sql, publicUrl, token);
  if (!view) return null;
  const pass = await ensureWalletPass(sql, view.tenantId, view.customerId);
  return { pkpass: buildPkpass(cfg, passJson(cfg, publicUrl, view, pass)), updatedAt: pass.updated_at };
}

// ---------------------------------------------------------------------------------
// PassKit web service (Apple's "Wallet Passes Web Service" protocol).

function tokenFromHeader(header: string | undefined): string | null {
  const m = /^ApplePass (\S+)$/.exec(header?.trim() ?? "");
  return m ? m[1]! : null;
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

interface AuthorisedPass {
  tenant_id: string;
  customer_id: string;
  serial: string;
  updated_at: Date;
}

/** The pass named by the URL if the request carries its token; null → 401. */
export async function authorisedPass(sql: Sql, cfg: AppleWalletConfig, passTypeId: string, serial: string, authorization: string | undefined): Promise<AuthorisedPass | null> {
  const token = tokenFromHeader(authorization);
  if (!token || passTypeId !== cfg.passTypeId || !asUuid(serial)) return null;
  const [row] = await sql<(AuthorisedPass & { auth_token: string })[]>`
    select tenant_id, customer_id, serial, updated_at, auth_token from wallet_pass where serial = ${serial}`;
  if (!row || !sameToken(row.auth_token, token)) return null;
  return row;
}

/** 201 registered now, 200 already registered (push token refreshed). */
export async function registerDevice(sql: Sql, deviceId: string, serial: string, pushToken: string): Promise<201 | 200> {
  const [row] = await sql<{ inserted: boolean }[]>`
    insert into apple_registration (device_library_id, serial, push_token)
    values (${deviceId}, ${serial}, ${pushToken})
    on conflict (device_library_id, serial) do update set push_token = excluded.push_token
    returning (xmax = 0) as inserted`;
  return row!.inserted ? 201 : 200;
}

export async function unregisterDevice(sql: Sql, deviceId: string, serial: string): Promise<void> {
  await sql`delete from apple_registration where device_library_id = ${deviceId} and serial = ${serial}`;
}

/**
 * Serials registered on the device whose pass changed after `since` (our tag: the change
 * time in microseconds, exact as Postgres keeps it). Null → 204 (nothing new).
 */
export async function updatedSerials(sql: Sql, cfg: AppleWalletConfig, deviceId: string, passTypeId: string, since: string | undefined): Promise<{ serialNumbers: string[]; lastUpdated: string } | null> {
  if (passTypeId !== cfg.passTypeId) return null;
  const sinceUs = since && /^[0-9]{1,18}$/.test(since) ? since : null;
  const rows = await sql<{ serial: string; updated_us: string }[]>`
    select serial, updated_us from (
      select w.serial, (extract(epoch from w.updated_at) * 1000000)::bigint as updated_us
      from apple_registration r join wallet_pass w on w.serial = r.serial
      where r.device_library_id = ${deviceId}) p
    ${sinceUs !== null ? sql`where updated_us > ${sinceUs}::bigint` : sql``}`;
  if (rows.length === 0) return null;
  const last = rows.reduce((m, r) => (BigInt(r.updated_us) > m ? BigInt(r.updated_us) : m), 0n);
  return { serialNumbers: rows.map((r) => r.serial), lastUpdated: last.toString() };
}

/** The current pass for the web service (the device asks after a push). */
export async function latestPass(sql: Sql, cfg: AppleWalletConfig, publicUrl: string, pass: AuthorisedPass): Promise<Buffer | null> {
  const [c] = await sql<{ qr_token: string | null }[]>`select qr_token from customer where tenant_id = ${pass.tenant_id} and id = ${pass.customer_id}`;
  if (!c?.qr_token) return null;
  const view = await cardView(sql, publicUrl, c.qr_token);
  if (!view) return null;
  const row = await ensureWalletPass(sql, pass.tenant_id, pass.customer_id);
  return buildPkpass(cfg, passJson(cfg, publicUrl, view, row));
}
