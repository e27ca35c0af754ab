// Apple Wallet and Google Wallet, configured per deployment by environment; each is off
// while its first variable is unset (the card then shows no button for it). Files are read
// once at start, and a half-configured Wallet stops the process with one line naming what
// is missing.
//
// Apple (a Pass Type ID certificate from developer.apple.com, see README):
//   APPLE_PASS_TYPE_ID      pass.ru.example.loyalty — turns Apple Wallet on
//   APPLE_TEAM_ID           the developer team id (10 characters)
//   APPLE_PASS_CERT         PEM file: the Pass Type ID certificate
//   APPLE_PASS_KEY          PEM file: its private key; APPLE_PASS_KEY_PASSPHRASE if encrypted
//   APPLE_WWDR_CERT         PEM file: Apple's WWDR intermediate certificate (G4)
//   APNS_KEY_ID, APNS_KEY   the APNs auth key (.p8 file) and its id, for pass updates
//   APNS_URL                default https://api.push.apple.com
//   APNS_CA                 PEM file of extra trusted CAs (a private APNs stand-in only)
// Google (a Google Wallet issuer account and a service account, see README):
//   GOOGLE_WALLET_ISSUER_ID       the issuer id — turns Google Wallet on
//   GOOGLE_WALLET_SERVICE_ACCOUNT the service account's JSON key file
//   GOOGLE_WALLET_API_URL         default https://walletobjects.googleapis.com
//   GOOGLE_OAUTH_URL              default https://oauth2.googleapis.com/token
import { readFileSync } from "node:fs";
import { ConfigError } from "../config.ts";

export interface AppleWalletConfig {
  passTypeId: string;
  teamId: string;
  signerCert: string;
  signerKey: string;
  signerKeyPassphrase?: string;
  wwdr: string;
  apns: { keyId: string; key: string; url: string; ca?: string } | null;
}

export interface GoogleWalletConfig {
  issuerId: string;
  clientEmail: string;
  privateKey: string;
  apiUrl: string;
  oauthUrl: string;
}

export interface WalletConfig {
  apple: AppleWalletConfig | null;
  google: GoogleWalletConfig | null;
}

type Env = Record<string, string | undefined>;

const v = (env: Env, name: string) => (env[name] ?? "").trim();

function required(env: Env, name: string, why: string): string {
  const value = v(env, name);
  if (!value) throw new ConfigError(`${name} must be set ${why}`);
  return value;
}

function file(env: Env, name: string, why: string): string {
  const path = required(env, name, why);
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`${name}: cannot read ${path}: ${(e as Error).message}`);
  }
}

function httpUrl(env: Env, name: string, def: string): string {
  const raw = v(env, name) || def;
  try {
    const u = new URL(raw);
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error("not http(s)");
    return raw.replace(/\/+$/, "");
  } catch {
    throw new ConfigError(`${name} must be an https:// URL, got "${raw}"`);
  }
}

function appleConfig(env: Env): AppleWalletConfig | null {
  const passTypeId = v(env, "APPLE_PASS_TYPE_ID");
  if (!passTypeId) return null;
  const why = "with APPLE_PASS_TYPE_ID (see README: The customer's card and Wallet)";
  if (!/^pass\.[A-Za-z0-9.-]+$/.test(passTypeId)) throw new ConfigError(`APPLE_PASS_TYPE_ID must look like pass.ru.example.loyalty`);
  const teamId = required(env, "APPLE_TEAM_ID", why);
  const apnsKeyId = v(env, "APNS_KEY_ID");
  const apns = apnsKeyId
    ? {
        keyId: apnsKeyId,
        key: file(env, "APNS_KEY", "with APNS_KEY_ID"),
        url: httpUrl(env, "APNS_URL", "https://api.push.apple.com"),
        ...(v(env, "APNS_CA") ? { ca: file(env, "APNS_CA", "") } : {}),
      }
    : null;
  const passphrase = v(env, "APPLE_PASS_KEY_PASSPHRASE");
  return {
    passTypeId,
    teamId,
    signerCert: file(env, "APPLE_PASS_CERT", why),
    signerKey: file(env, "APPLE_PASS_KEY", why),
    ...(passphrase ? { signerKeyPassphrase: passphrase } : {}),
    wwdr: file(env, "APPLE_WWDR_CERT", why),
    apns,
  };
}

function googleConfig(env: Env): GoogleWalletConfig | null {
  const issuerId = v(env, "GOOGLE_WALLET_ISSUER_ID");
  if (!issuerId) return null;
  if (!/^[0-9]{5,25}$/.test(issuerId)) throw new ConfigError(`GOOGLE_WALLET_ISSUER_ID must be the issuer id (digits) from the Google Pay & Wallet console`);
  const raw = file(env, "GOOGLE_WALLET_SERVICE_ACCOUNT", "with GOOGLE_WALLET_ISSUER_ID");
  let key: { client_email?: string; private_key?: string };
  try {
    key = JSON.parse(raw);
  } catch {
    throw new ConfigError(`GOOGLE_WALLET_SERVICE_ACCOUNT must be the service account's JSON key file`);
  }
  if (!key.client_email || !key.private_key) throw new ConfigError(`GOOGLE_WALLET_SERVICE_ACCOUNT: the JSON has no client_email or private_key`);
  return {
    issuerId,
    clientEmail: key.client_email,
    privateKey: key.private_key,
    apiUrl: httpUrl(env, "GOOGLE_WALLET_API_URL", "https://walletobjects.googleapis.com"),
    oauthUrl: httpUrl(env, "GOOGLE_OAUTH_URL", "https://oauth2.googleapis.com/token"),
  };
}

export function loadWalletConfig(env: Env = process.env): WalletConfig {
  return { apple: appleConfig(env), google: googleConfig(env) };
}

let cached: WalletConfig | undefined;
/** The process's Wallet configuration, read once. */
export function walletConfig(): WalletConfig {
  cached ??= loadWalletConfig();
  return cached;
}
