// What every sender shares: the outcome of one send, and how a failure is classified.
// Web-standard only (fetch, AbortSignal): no runtime-specific APIs in src/notify.

export type Channel = "sms" | "push" | "log";

/**
 * How a failed send should be treated:
 * - `temporary`: try again later (network, timeouts, 5xx, gateway busy, out of money);
 * - `recipient`: this number / this browser subscription will never work (invalid number,
 *   stop-list, subscription gone) — recorded on the customer, that channel is not retried;
 * - `message`: this message can never be sent (too long, forbidden word) — recorded, not
 *   retried, the recipient is not blamed;
 * - `config`: our own settings are wrong (bad api_id, sender name, VAPID keys) — retried like
 *   a temporary failure (fixing the setting lets the queue drain), but logged loudly.
 */
export type FailureKind = "temporary" | "recipient" | "message" | "config";

export class SendError extends Error {
  override readonly name = "SendError";
  constructor(
    readonly channel: Channel,
    readonly kind: FailureKind,
    message: string,
    /** The provider's own code (SMS.ru status_code, HTTP status of a push service). */
    readonly code?: number,
  ) {
    super(message);
  }

  /** Retried by the queue (with its backoff). */
  get retryable(): boolean {
    return this.kind === "temporary" || this.kind === "config";
  }
}

/** What a provider answered when it accepted a message. */
export interface Delivery {
  /** SMS.ru's sms_id, the push service's message Location; null when it gives none. */
  providerId: string | null;
}

export interface SmsSender {
  /** `phone`: digits in international form ("79031234567"). Throws SendError. */
  send(phone: string, text: string): Promise<Delivery>;
  /** The account's balance in roubles, when the provider tells it. */
  balance?(): Promise<number>;
}

export interface PushTarget {
  endpoint: string;
  p256dh: string;
  auth: string;
}

/** What the merchant's web card shows: its service worker reads this JSON. */
export interface PushPayload {
  title: string;
  body: string;
  /** Lets the browser replace an older notification of the same kind. */
  tag?: string;
}

export interface PushSender {
  /** Throws SendError. */
  send(target: PushTarget, payload: PushPayload): Promise<Delivery>;
}

export interface LogMessage {
  purpose: "code" | "points" | "card";
  tenantId: string;
  customerId: string | null;
  /** The phone the message would have gone to (logged masked), if any. */
  phone: string | null;
  /** The channel it would have used had it been configured, and why it was not. */
  reason: string;
  /** Logged for points messages only; never for a code or a card link (its token opens the card). */
  text: string;
}

export interface LogSenderLike {
  send(m: LogMessage): Promise<Delivery>;
}

/**
 * The senders a notifications worker uses. `sms`/`push` absent → that provider is not
 * configured. `log` is always there (development, or a customer with no reachable channel).
 */
export interface Senders {
  sms?: SmsSender | null;
  push?: PushSender | null;
  log: LogSenderLike;
}
