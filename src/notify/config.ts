// Notification providers from the environment, read once and validated:
//   SMS_RU_URL         SMS.ru base URL (default https://sms.ru)
//   SMS_RU_API_ID      the account's api_id; empty → SMS is not configured
//   SMS_RU_FROM        optional sender name approved in the SMS.ru account
//   VAPID_PUBLIC_KEY   Web Push keys (url-safe base64, as `web-push generate-vapid-keys`
//   VAPID_PRIVATE_KEY  prints them); both absent → push is not configured
//   VAPID_SUBJECT      mailto: or https: contact for push services; required with the keys
import { ConfigError } from "../config.ts";
import { LogSender } from "./log-sender.ts";
import { SmsRuClient } from "./smsru.ts";
import type { Senders } from "./types.ts";
import { checkVapidKeys, type VapidKeys, WebPushClient } from "./webpush.ts";
import { internalTarget, systemResolver } from "../web/push-endpoint.ts";

export interface SmsRuConfig {
  url: string;
  apiId: string;
  from?: string;
}

export interface NotifyConfig {
  /** null: SMS is not configured (codes and messages go to the log sender). */
  sms: SmsRuConfig | null;
  /** null: Web Push is not configured (the web card cannot subscribe). */
  push: VapidKeys | null;
}

type Env = Record<string, string | undefined>;

function trimmed(env: Env, name: string): string {
  return (env[name] ?? "").trim();
}

function smsConfig(env: Env): SmsRuConfig | null {
  const rawUrl = trimmed(env, "SMS_RU_URL") || "https://sms.ru";
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new ConfigError(`SMS_RU_URL must be a URL such as https://sms.ru, got "${rawUrl}"`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(`SMS_RU_URL must start with https:// (or http:// for a local gateway), got "${rawUrl}"`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new ConfigError(`SMS_RU_URL must be a plain base URL without query, fragment or credentials`);
  }
  const apiId = trimmed(env, "SMS_RU_API_ID");
  const from = trimmed(env, "SMS_RU_FROM");
  if (!apiId) return null;
  // SMS.ru's api_id looks like a UUID ("A3CA597E-3ACF-4E7D-82EE-CF82B52B1A8B").
  if (!/^[A-Za-z0-9-]{8,64}$/.test(apiId)) {
    throw new ConfigError(`SMS_RU_API_ID must be the api_id from the SMS.ru account (letters, digits and "-"), got ${apiId.length} other characters`);
  }
  // Alphanumeric sender ids are at most 11 characters; numeric ones up to 15 digits.
  if (from && !/^[A-Za-z0-9 ._-]{1,11}$/.test(from) && !/^\+?[0-9]{3,15}$/.test(from)) {
    throw new ConfigError(`SMS_RU_FROM must be a sender name approved in SMS.ru: up to 11 Latin letters, digits, " ", ".", "_", "-"`);
  }
  return { url: url.toString().replace(/\/+$/, ""), apiId, ...(from ? { from } : {}) };
}

function pushConfig(env: Env): VapidKeys | null {
  const publicKey = trimmed(env, "VAPID_PUBLIC_KEY");
  const privateKey = trimmed(env, "VAPID_PRIVATE_KEY");
  const subject = trimmed(env, "VAPID_SUBJECT");
  if (!publicKey && !privateKey) return null;
  if (!publicKey || !privateKey) {
    throw new ConfigError(`VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY must be set together (npx web-push generate-vapid-keys)`);
  }
  if (!subject) {
    throw new ConfigError(`VAPID_SUBJECT must be set with the VAPID keys: a mailto: address or https: URL, e.g. mailto:ops@example.com`);
  }
  const keys = { publicKey, privateKey, subject };
  try {
    checkVapidKeys(keys);
  } catch (e) {
    throw new ConfigError(`VAPID settings are malformed: ${(e as Error).message}`);
  }
  return keys;
}

export function loadNotifyConfig(env: Env = process.env): NotifyConfig {
  return { sms: smsConfig(env), push: pushConfig(env) };
}

let fromProcessEnv: NotifyConfig | undefined;

/** The process's configuration, read from process.env on first use. Throws ConfigError. */
export function notifyConfig(): NotifyConfig {
  fromProcessEnv ??= loadNotifyConfig();
  return fromProcessEnv;
}

export function sendersFromConfig(config: NotifyConfig, opts: { timeoutMs?: number } = {}): Senders {
  return {
    sms: config.sms ? new SmsRuClient({ ...config.sms, timeoutMs: opts.timeoutMs }) : null,
    push: config.push
      ? new WebPushClient({
          ...config.push,
          timeoutMs: opts.timeoutMs,
          // A stored endpoint's name may have been pointed inside our network since.
          refuseTarget: (url) => internalTarget(url.hostname.replace(/\.$/, ""), systemResolver),
        })
      : null,
    log: new LogSender(),
  };
}
