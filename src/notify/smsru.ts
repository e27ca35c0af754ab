// SMS through SMS.ru's HTTP API: POST {base}/sms/send with api_id, to, msg, json=1 and an
// optional from (sender name). POST (form-encoded) rather than GET keeps the key and the
// text — a confirmation code — out of URLs and access logs; SMS.ru accepts both.
//
// The answer with json=1 (https://sms.ru/api/send):
//   { "status": "OK" | "ERROR", "status_code": 100,              ← the request as a whole
//     "sms": { "79255070602": { "status": "OK", "status_code": 100, "sms_id": "000000-10000000" },
//              "74993221627": { "status": "ERROR", "status_code": 207, "status_text": "…" } },
//     "balance": 4122.56 }
// A request-level error has "status": "ERROR" with its status_code (and status_text) and
// no "sms" object. HTTP is 200 in both cases; anything else is the gateway (or a proxy in
// front of it) failing.
//
// Status codes and how we treat them. Source: SMS.ru's published code list (the "Коды
// ответов" table of its API documentation, https://sms.ru/api/send and https://sms.ru/api/status),
// as reproduced verbatim in open-source SMS.ru clients; descriptions translated.
//
//   code  meaning (SMS.ru)                                              our kind
//   100   accepted / queued                                             — success
//   150   cannot be delivered: no route to this number                  recipient
//   200   wrong api_id                                                  config
//   201   not enough money on the account                               temporary (loud)
//   202   recipient number is wrong, or there is no route to it        recipient
//   203   no message text                                               message
//   204   sender name not approved by SMS.ru                            config
//   205   message too long (over 8 SMS)                                 message
//   206   daily sending limit reached / would be exceeded               temporary
//   207   no route to this number (cannot send to it)                   recipient
//   208   bad `time` parameter                                          message
//   209   number is in the account's stop-list                          recipient
//   210   GET used where POST is required                               config
//   211   method not found                                              config
//   212   text must be UTF-8                                            config
//   213   too many recipients in one request                            message
//   214   number is abroad ("send to Russian numbers only" is on)       recipient
//   215   number is in SMS.RU's stop-list (recipient complained: spam)   recipient
//   216   forbidden word in the text                                    message
//   220   service temporarily unavailable, try a bit later              temporary
//   230   daily limit of messages to this number                        temporary
//   231   limit of identical messages to this number per minute         temporary
//   232   limit of identical messages to this number per day            temporary
//   233   too many repeated code messages to this number (anti-fraud)   temporary
//   300   wrong token (expired, or the IP changed)                      config
//   301   wrong api_id or login/password                                config
//   302   account not confirmed                                         config
//   500   server error, repeat the request                              temporary
//   501–508 rate limits by IP / country / calls                         temporary
//   other (unknown)                                                     temporary
//
// Transport: network errors and timeouts → temporary; HTTP 5xx and 429 → temporary; other
// non-2xx (404: wrong SMS_RU_URL, 401/403) → config; a 2xx body that is not the JSON above
// → temporary.
import { type Delivery, type FailureKind, SendError, type SmsSender } from "./types.ts";

const RECIPIENT = new Set([150, 202, 207, 209, 214, 215]);
const MESSAGE = new Set([203, 205, 208, 213, 216]);
const CONFIG = new Set([200, 204, 210, 211, 212, 300, 301, 302]);

/** How one SMS.ru status_code is treated (see the table above). */
export function classifySmsRuCode(code: number): FailureKind {
  if (RECIPIENT.has(code)) return "recipient";
  if (MESSAGE.has(code)) return "message";
  if (CONFIG.has(code)) return "config";
  return "temporary";
}

export interface SmsRuOptions {
  /** Base URL, e.g. "https://sms.ru" (a test points it at a loopback fake). */
  url: string;
  apiId: string;
  /** Sender name approved in the SMS.ru account; the account's default when absent. */
  from?: string;
  /** Per request, connection to last byte. */
  timeoutMs?: number;
  /** Injected for tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

interface SmsRuNumberAnswer {
  status?: string;
  status_code?: number | string;
  status_text?: string;
  sms_id?: string;
}

interface SmsRuAnswer {
  status?: string;
  status_code?: number | string;
  status_text?: string;
  sms?: Record<string, SmsRuNumberAnswer>;
  balance?: number;
}

function describe(code: number, text: string | undefined): string {
  return `SMS.ru ${code}${text ? `: ${text}` : ""}`;
}

export class SmsRuClient implements SmsSender {
  private readonly base: string;
  private readonly endpoint: string;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly opts: SmsRuOptions) {
    this.base = opts.url.replace(/\/+$/, "");
    this.endpoint = this.base + "/sms/send";
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.fetchFn = opts.fetch ?? fetch;
  }

  async send(phone: string, text: string): Promise<Delivery> {
    const form = new URLSearchParams({ api_id: this.opts.apiId, to: phone, msg: text, json: "1" });
    if (this.opts.from) form.set("from", this.opts.from);

    let res: Response;
    let body: string;
    try {
      res = await this.fetchFn(this.endpoint, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8", accept: "application/json" },
        body: form.toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      body = await res.text();
    } catch (e) {
      const timedOut = (e as Error)?.name === "TimeoutError" || (e as Error)?.name === "AbortError";
      throw new SendError(
        "sms",
        "temporary",
        timedOut ? `SMS.ru did not answer in ${this.timeoutMs} ms` : `SMS.ru unreachable: ${(e as Error)?.message ?? e}`,
      );
    }

    if (res.status >= 500 || res.status === 429) {
      throw new SendError("sms", "temporary", `SMS.ru answered HTTP ${res.status}`, res.status);
    }
    if (!res.ok) {
      throw new SendError("sms", "config", `SMS.ru answered HTTP ${res.status} (check SMS_RU_URL)`, res.status);
    }

    let answer: SmsRuAnswer;
    try {
      answer = JSON.parse(body) as SmsRuAnswer;
    } catch {
      throw new SendError("sms", "temporary", `SMS.ru answered something that is not JSON: ${body.slice(0, 120)}`);
    }
    if (!answer || typeof answer !== "object") {
      throw new SendError("sms", "temporary", "SMS.ru answered an empty body");
    }

    const topCode = Number(answer.status_code);
    if (answer.status !== "OK") {
      const code = Number.isFinite(topCode) ? topCode : 0;
      throw new SendError("sms", classifySmsRuCode(code), describe(code, answer.status_text), code);
    }

    const perNumber = answer.sms ?? {};
    // Keyed by the number as SMS.ru normalised it; with one recipient there is one entry.
    const entry = perNumber[phone] ?? (Object.keys(perNumber).length === 1 ? Object.values(perNumber)[0] : undefined);
    if (!entry) throw new SendError("sms", "temporary", `SMS.ru answered without a status for ${phone.slice(0, 3)}…`);
    const code = Number(entry.status_code);
    if (entry.status === "OK") return { providerId: entry.sms_id ?? null };
    const c = Number.isFinite(code) ? code : 0;
    throw new SendError("sms", classifySmsRuCode(c), describe(c, entry.status_text), c);
  }

  /**
   * The account's balance in roubles (POST {base}/my/balance, answered
   * {"status":"OK","status_code":100,"balance":4122.56}), for the metrics that warn before
   * SMS stop going out. Throws SendError like send().
   */
  async balance(): Promise<number> {
    let answer: SmsRuAnswer;
    try {
      const res = await this.fetchFn(this.base + "/my/balance", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8", accept: "application/json" },
        body: new URLSearchParams({ api_id: this.opts.apiId, json: "1" }).toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (!res.ok) throw new SendError("sms", res.status >= 500 ? "temporary" : "config", `SMS.ru balance: HTTP ${res.status}`, res.status);
      answer = (await res.json()) as SmsRuAnswer;
    } catch (e) {
      if (e instanceof SendError) throw e;
      throw new SendError("sms", "temporary", `SMS.ru balance not read: ${(e as Error)?.message ?? e}`);
    }
    const code = Number(answer?.status_code);
    if (answer?.status !== "OK" || typeof answer.balance !== "number") {
      throw new SendError("sms", classifySmsRuCode(code), describe(Number.isFinite(code) ? code : 0, answer?.status_text));
    }
    return answer.balance;
  }
}
