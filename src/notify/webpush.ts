// Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291).
//
// The `web-push` package does the cryptography: `generateRequestDetails` encrypts the
// payload for the browser's keys and signs the VAPID JWT for the push service's origin.
// We send the request with fetch instead of its `sendNotification`, which always speaks
// TLS through node:https (an http:// endpoint fails with WRONG_VERSION_NUMBER) and has no
// AbortSignal; fetch gives one code path for real push services (https) and the loopback
// fake the tests run against (http), with a timeout.
//
// Answers (RFC 8030 §5–8; FCM, Mozilla autopush, Apple and WNS follow them):
//   201 (200/202)        accepted → sent; its Location header names the message
//   404, 410             the subscription is gone (unsubscribed, expired) → recipient
//   400, 413             this request is malformed / payload too large → message
//   401, 403             VAPID rejected (wrong or rotated keys, bad subject) → config
//   429, 5xx, network    temporary
//   other 4xx            message
import webpush from "web-push";
import { type Delivery, type PushPayload, type PushSender, type PushTarget, SendError } from "./types.ts";

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  /** "mailto:ops@example.com" or an https: URL: how the push service reaches the sender. */
  subject: string;
}

export interface WebPushOptions extends VapidKeys {
  /** How long the push service keeps an undelivered message (seconds). */
  ttlSeconds?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
  /**
   * Asked before each message with the endpoint's URL: a reason not to send there (its
   * name now leads into our own network), or null. Absent in tests whose push service
   * is a loopback stand-in.
   */
  refuseTarget?: (url: URL) => Promise<string | null>;
}

/** Throws the library's own message when the keys or the subject are malformed. */
export function checkVapidKeys(keys: VapidKeys): void {
  webpush.getVapidHeaders("https://push.example.com", keys.subject, keys.publicKey, keys.privateKey, "aes128gcm");
}

export function classifyPushStatus(status: number): SendError["kind"] {
  if (status === 404 || status === 410) return "recipient";
  if (status === 429 || status >= 500) return "temporary";
  if (status === 401 || status === 403) return "config";
  return "message";
}

export class WebPushClient implements PushSender {
  private readonly ttl: number;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly opts: WebPushOptions) {
    this.ttl = opts.ttlSeconds ?? 24 * 3600;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.fetchFn = opts.fetch ?? fetch;
  }

  get publicKey(): string {
    return this.opts.publicKey;
  }

  async send(target: PushTarget, payload: PushPayload): Promise<Delivery> {
    let details: webpush.RequestDetails;
    try {
      details = webpush.generateRequestDetails(
        { endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } },
        JSON.stringify(payload),
        {
          vapidDetails: { subject: this.opts.subject, publicKey: this.opts.publicKey, privateKey: this.opts.privateKey },
          TTL: this.ttl,
          contentEncoding: "aes128gcm",
          urgency: "normal",
        },
      );
    } catch (e) {
      // Keys the browser gave us that cannot be encrypted for: the subscription is unusable.
      throw new SendError("push", "recipient", `subscription unusable: ${(e as Error).message}`);
    }

    const headers = new Headers();
    for (const [name, value] of Object.entries(details.headers)) {
      if (name.toLowerCase() === "content-length") continue; // fetch sets it from the body
      headers.set(name, String(value));
    }

    const refused = await this.opts.refuseTarget?.(new URL(details.endpoint));
    if (refused) throw new SendError("push", "recipient", `push endpoint refused: ${refused}`);

    let res: Response;
    try {
      res = await this.fetchFn(details.endpoint, {
        method: details.method,
        headers,
        body: details.body ? new Uint8Array(details.body) : null,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
    } catch (e) {
      const timedOut = (e as Error)?.name === "TimeoutError" || (e as Error)?.name === "AbortError";
      throw new SendError(
        "push",
        "temporary",
        timedOut ? `push service did not answer in ${this.timeoutMs} ms` : `push service unreachable: ${(e as Error)?.message ?? e}`,
      );
    }
    if (res.status >= 200 && res.status < 300) return { providerId: res.headers.get("location") };
    const kind = classifyPushStatus(res.status);
    const what = kind === "recipient" ? "subscription gone" : kind === "config" ? "VAPID rejected" : "push service refused";
    throw new SendError("push", kind, `${what}: HTTP ${res.status}`, res.status);
  }
}
