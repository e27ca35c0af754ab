// SMS through SMS.ru's HTTP API: POST {base}/sms/send with api_id, to, msg, json=1 and an
// optional from (sender name). POST (form-encoded) rather than GET keeps the key and the
// text — a confirmation code — out of URLs and access logs; SMS.ru accepts both.
// The answer (SmsRuAnswer below) is HTTP 200 whether the request as a whole failed
// ("status": "ERROR" with its status_code) or a number did (its entry under "sms");
// any other HTTP status is the gateway, or a proxy in front of it, failing.
import { type Delivery, type FailureKind, SendError, type SmsSender } from "./types.ts";

// SMS.ru's status codes ("Коды ответов", https://sms.ru/api/send) by what would make a
// send succeed. Everything else is temporary: 201 (no money left), the daily and
// per-number limits (206, 220, 230–233), 500–508, and codes we do not know.
/** Sending to this number again will not work. */
const RECIPIENT = new Set([
  150, // no route to this number
  202, // number wrong or unreachable
  207, // no route to this number
  209, // in the account's stop-list
  214, // abroad while "Russian numbers only" is on
  215, // in SMS.ru's stop-list (the recipient complained of spam)
]);
/** This text will never be sent. */
const MESSAGE = new Set([
  203, // no text
  205, // longer than 8 SMS
  208, // bad `time` parameter
  213, // too many recipients in one request
  216, // a forbidden word in the text
]);
/** Our account or settings are wrong. */
const CONFIG = new Set([
  200, // wrong api_id
  204, // sender name not approved
  210, // GET where POST is required
  211, // method not found
  212, // text not UTF-8
  300, // wrong token
  301, // wrong api_id or login/password
  302, // account not confirmed
]);

/** How one SMS.ru status_code is treated. */
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
