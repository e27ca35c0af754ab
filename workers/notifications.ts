// The notifications processor: confirmation codes (by SMS) and "+N баллов, баланс M"
// messages (by Web Push to the customer's browsers, else by SMS), each delivered once. A
// settlement batch's plain sales send theirs in one job ("points-batch"), the rest in a
// job each; both go through the same channels and the same records.
//
// Exactly once: the `notification` table has one row per (tenant, purpose, ref, channel).
// Before sending, a message with a 'sent' row on any channel is not sent again; after a
// provider accepts it, the 'sent' row is written (a 'failed' row of an earlier attempt is
// turned into 'sent'; a 'sent' row is never overwritten). A retried job — after a crash,
// a temporary failure, an operator's retry — therefore skips what already went out. The one
// window left is a crash between the provider's answer and that insert.
//
// Failures (see src/notify/types.ts): temporary and configuration failures throw, and
// BullMQ retries with the queue's backoff (a 'failed' row is written on the last attempt,
// for operators). Permanent ones are recorded — customer.sms_failed_at for a number that
// cannot receive SMS, push_subscription.expired_at for a browser that unsubscribed — and
// that channel is not retried; when nothing at all could be delivered the job fails with
// BullMQ's UnrecoverableError, so Bull Board shows it failed with the reason.
import { type Job, UnrecoverableError } from "bullmq";
import type { Sql } from "../src/db/client.ts";
import type { Fragment } from "../src/loyalty/customers.ts";
import type { SharedMetrics } from "../src/metrics/shared.ts";
import { errorFields, log } from "../src/log.ts";
import { DEFAULT_TEMPLATES, renderTemplate } from "../src/loyalty/messages.ts";
import { type Channel, SendError, type Senders } from "../src/notify/types.ts";
import type { CardMessageJob, CodeMessageJob, NotificationJob, PointsBatchJob, PointsMessageJob, WalletUpdateJob } from "../src/queue/queues.ts";

export type { Senders } from "../src/notify/types.ts";

type Purpose = "code" | "points" | "card";

export interface ChannelFailure {
  channel: Channel;
  kind: SendError["kind"];
  error: string;
}

/** The job's return value (kept in Redis: never a code or its text). */
export interface NotificationOutcome {
  /** sent: delivered now; already: delivered by an earlier run; skipped: nothing to send. */
  status: "sent" | "already" | "skipped";
  channel?: Channel;
  reason?: string;
  /** Channels that failed permanently before the message went out on `channel`. */
  failures?: ChannelFailure[];
}

export interface Recorded {
  tenantId: string;
  customerId: string | null;
  purpose: Purpose;
  ref: string;
  channel: Channel;
  status: "sent" | "failed";
  providerId?: string | null;
  error?: string | null;
  /** Null for codes. */
  text: string | null;
}

const clip = (s: string, n = 500) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

export async function record(sql: Sql, r: Recorded): Promise<void> {
  await recordAll(sql, [r]);
}

/**
 * Outcomes in one statement (each row once: messages differ or channels do). A 'failed'
 * row of an earlier attempt becomes 'sent'; a 'sent' row is never overwritten.
 */
async function recordAll(sql: Sql, rs: Recorded[]): Promise<void> {
  if (rs.length === 0) return;
  await sql`
    insert into notification (tenant_id, customer_id, purpose, ref, channel, status, provider_id, error, text)
    select * from unnest(${rs.map((r) => r.tenantId)}::uuid[], ${rs.map((r) => r.customerId)}::uuid[], ${rs.map((r) => r.purpose)}::text[],
      ${rs.map((r) => r.ref)}::text[], ${rs.map((r) => r.channel)}::text[], ${rs.map((r) => r.status)}::text[],
      ${rs.map((r) => r.providerId ?? null)}::text[], ${rs.map((r) => (r.error ? clip(r.error) : null))}::text[], ${rs.map((r) => r.text)}::text[])
    on conflict (tenant_id, purpose, ref, channel) do update
      set status = excluded.status, provider_id = excluded.provider_id, error = excluded.error,
          text = excluded.text, created_at = now()
      where notification.status <> 'sent'`;
}

/** Messages of a batch job sent at once, and written together. */
const BATCH_SENDS = 25;

/**
 * For each points message (in order): the channel that already delivered it, if any, and
 * where to send it — one statement for one message or a batch's.
 */
async function recipients(sql: Sql, tenantId: string, messages: { ref: string; customerId: string }[]) {
  return sql<(Partial<Recipient> & { already: Channel | null })[]>`
    select (${sentChannel(sql, tenantId, "points", sql`m.ref`)}) as already,
           c.phone, c.sms_failed_at, c.sms_failure, t.name as shop
    from unnest(${messages.map((m) => m.ref)}::text[], ${messages.map((m) => m.customerId)}::uuid[]) with ordinality as m(ref, customer_id, n)
    left join customer c on c.tenant_id = ${tenantId} and c.id = m.customer_id
    left join tenant t on t.id = c.tenant_id
    order by m.n`;
}

/** The channel that delivered a message (a 'sent' row on any channel), as a query; `ref` is SQL. */
const sentChannel = (sql: Sql, tenantId: string, purpose: Purpose, ref: Fragment) => sql`
  select n.channel from notification n
  where n.tenant_id = ${tenantId} and n.purpose = ${purpose} and n.ref = ${ref} and n.status = 'sent'
  limit 1`;

export async function sentOn(sql: Sql, tenantId: string, purpose: Purpose, ref: string): Promise<Channel | null> {
  const [row] = await sql<{ channel: Channel }[]>`${sentChannel(sql, tenantId, purpose, sql`${ref}`)}`;
  return row?.channel ?? null;
}

export function asSendError(e: unknown, channel: Channel): SendError {
  if (e instanceof SendError) return e;
  // Our own bug or an unexpected library error: retry (the job shows it if it persists).
  return new SendError(channel, "temporary", (e as Error)?.message ?? String(e));
}

function complainIfConfig(e: SendError, ctx: Record<string, unknown>): void {
  if (e.kind === "config") {
    log.error(`${e.channel === "sms" ? "SMS.ru" : "Web Push"} rejects our settings; messages wait and retry until fixed`, {
      ...ctx,
      code: e.code,
      err: e.message,
    });
  } else if (e.code === 201 && e.channel === "sms") {
    log.error("SMS.ru account is out of money; messages wait and retry", { ...ctx, err: e.message });
  }
}

async function stopSms(sql: Sql, tenantId: string, customerId: string | null, phone: string, reason: string): Promise<void> {
  if (customerId) {
    await sql`update customer set sms_failed_at = now(), sms_failure = ${clip(reason)}
              where tenant_id = ${tenantId} and id = ${customerId}`;
  } else {
    await sql`update customer set sms_failed_at = now(), sms_failure = ${clip(reason)}
              where tenant_id = ${tenantId} and phone = ${phone}`;
  }
}

/** A number that just took an SMS works again (e.g. it left a stop-list). */
async function smsWorks(sql: Sql, tenantId: string, phone: string): Promise<void> {
  await sql`update customer set sms_failed_at = null, sms_failure = null
            where tenant_id = ${tenantId} and phone = ${phone} and sms_failed_at is not null`;
}

export function isLastAttempt(job: Job): boolean {
  return job.attemptsMade + 1 >= (job.opts?.attempts ?? 1);
}

interface Recipient {
  phone: string | null;
  sms_failed_at: Date | null;
  sms_failure: string | null;
  shop: string;
}

interface OutgoingMessage {
  tenantId: string;
  customerId: string;
  text: string;
  recipient: Recipient;
  ctx: Record<string, unknown>;
}

/**
 * What one channel did with a message: delivered, failed for good (the next channel is
 * tried), or not applicable (not configured, nowhere to send). A failure for now throws.
 */
type ChannelOutcome =
  | { result: "sent"; providerId: string | null }
  | { result: "failed"; failure: ChannelFailure }
  | { result: "skipped" };

interface MessageChannel {
  name: Channel;
  deliver(m: OutgoingMessage): Promise<ChannelOutcome>;
}

/** Web Push to every active browser of the customer. */
function pushChannel(sql: Sql, push: NonNullable<Senders["push"]>): MessageChannel {
  return {
    name: "push",
    async deliver(m) {
      const subs = await sql<{ id: string; endpoint: string; p256dh: string; auth: string }[]>`
        select id, endpoint, p256dh, auth from push_subscription
        where tenant_id = ${m.tenantId} and customer_id = ${m.customerId} and expired_at is null
        order by created_at`;
      if (subs.length === 0) return { result: "skipped" };
      const payload = { title: m.recipient.shop, body: m.text, tag: "points" };
      const results = await Promise.allSettled(subs.map((s) => push.send(s, payload)));
      const accepted: string[] = [];
      const retryable: SendError[] = [];
      const permanent: SendError[] = [];
      for (const [i, r] of results.entries()) {
        if (r.status === "fulfilled") {
          accepted.push(r.value.providerId ?? "");
          continue;
        }
        const e = asSendError(r.reason, "push");
        if (e.retryable) {
          retryable.push(e);
          continue;
        }
        permanent.push(e);
        if (e.kind === "recipient") {
          await sql`update push_subscription set expired_at = now(), failure = ${clip(e.message)}
                    where tenant_id = ${m.tenantId} and id = ${subs[i]!.id} and expired_at is null`;
        }
      }
      if (accepted.length > 0) {
        // At least one browser has it: delivered. Browsers that failed for now are not
        // retried, so the ones that got it never get it twice.
        if (retryable.length + permanent.length > 0) {
          log.info("push delivered to some browsers only", { ...m.ctx, accepted: accepted.length, failed: retryable.length + permanent.length });
        }
        return { result: "sent", providerId: accepted.find(Boolean) || null };
      }
      if (retryable.length > 0) throw retryable[0]!;
      // Every browser failed for good: the message falls back to the next channel.
      const summary = permanent.map((e) => e.message).join("; ");
      log.info("push failed permanently; falling back to SMS", { ...m.ctx, err: summary });
      return { result: "failed", failure: { channel: "push", kind: permanent[0]!.kind, error: summary } };
    },
  };
}

/** SMS to the customer's phone, unless the number failed for good before. */
function smsChannel(sql: Sql, sms: NonNullable<Senders["sms"]>): MessageChannel {
  return {
    name: "sms",
    async deliver(m) {
      const phone = m.recipient.phone;
      if (!phone || m.recipient.sms_failed_at) return { result: "skipped" };
      try {
        const d = await sms.send(phone, m.text);
        return { result: "sent", providerId: d.providerId };
      } catch (err) {
        const e = asSendError(err, "sms");
        if (e.retryable) throw e;
        if (e.kind === "recipient") await stopSms(sql, m.tenantId, m.customerId, phone, e.message);
        log.warn("message not sent: permanent failure", { ...m.ctx, kind: e.kind, err: e.message });
        return { result: "failed", failure: { channel: "sms", kind: e.kind, error: e.message } };
      }
    },
  };
}

/** The configured channels for points messages, in the order they are tried. */
function messageChannels(sql: Sql, senders: Senders): MessageChannel[] {
  const list: MessageChannel[] = [];
  if (senders.push) list.push(pushChannel(sql, senders.push));
  if (senders.sms) list.push(smsChannel(sql, senders.sms));
  return list;
}

/** Jobs of the customer's card (card link SMS, Wallet updates), handled in their own modules. */
export interface CardJobHandlers {
  card?: (job: Job<NotificationJob>, data: CardMessageJob) => Promise<NotificationOutcome>;
  wallet?: (job: Job<NotificationJob>, data: WalletUpdateJob) => Promise<NotificationOutcome>;
}

export function notificationsProcessor(sql: Sql, senders: Senders, cardJobs: CardJobHandlers = {}, metrics?: SharedMetrics) {
  // Every outcome written is also counted (messages by channel and outcome).
  const note = async (r: Recorded): Promise<void> => {
    await record(sql, r);
    metrics?.message(r.channel, r.status);
  };
  async function code(job: Job<NotificationJob>, data: CodeMessageJob): Promise<NotificationOutcome> {
    const { tenantId, codeId } = data;
    const [row] = await sql<
      { phone: string; customer_id: string | null; code: string | null; expired: boolean; shop: string; template: string | null }[]
    >`
      select vc.phone, vc.customer_id, vc.code, vc.expires_at <= now() as expired,
             t.name as shop, p.settings->>'codeMessageTemplate' as template
      from verification_code vc
      join tenant t on t.id = vc.tenant_id
      join program p on p.tenant_id = vc.tenant_id
      where vc.tenant_id = ${tenantId} and vc.id = ${codeId}`;
    if (!row) return { status: "skipped", reason: "code withdrawn" };
    if (row.code === null || row.expired) return { status: "skipped", reason: "code expired" };
    const already = await sentOn(sql, tenantId, "code", codeId);
    if (already) return { status: "already", channel: already };

    const base = { tenantId, customerId: row.customer_id, purpose: "code" as const, ref: codeId, text: null };
    if (!senders.sms) {
      await senders.log.send({ purpose: "code", tenantId, customerId: row.customer_id, phone: row.phone, reason: "SMS is not configured", text: "" });
      await note({ ...base, channel: "log", status: "sent" });
      return { status: "sent", channel: "log" };
    }
    const text = renderTemplate(row.template ?? DEFAULT_TEMPLATES.code, { code: row.code, shop: row.shop });
    try {
      const d = await senders.sms.send(row.phone, text);
      await note({ ...base, channel: "sms", status: "sent", providerId: d.providerId });
      await smsWorks(sql, tenantId, row.phone);
      return { status: "sent", channel: "sms" };
    } catch (err) {
      const e = asSendError(err, "sms");
      const ctx = { purpose: "code", tenantId, codeId, jobId: job.id };
      if (e.retryable) {
        complainIfConfig(e, ctx);
        if (isLastAttempt(job)) await note({ ...base, channel: "sms", status: "failed", error: e.message });
        throw e;
      }
      if (e.kind === "recipient") await stopSms(sql, tenantId, row.customer_id, row.phone, e.message);
      await note({ ...base, channel: "sms", status: "failed", error: e.message });
      log.warn("code not sent: permanent failure", { ...ctx, kind: e.kind, err: e.message });
      throw new UnrecoverableError(`SMS not sent (${e.kind}): ${e.message}`);
    }
  }

  // The channels a points message tries, in order: the first that delivers ends it.
  const channels = messageChannels(sql, senders);

  /**
   * One points message through the channels. Outcomes go to `write` as they happen (the
   * single job writes each at once; a batch collects a few and writes them together). A
   * failure for now throws (recorded on the last attempt); when every channel failed for
   * good the failures are returned.
   */
  async function sendPoints(
    message: OutgoingMessage,
    ref: string,
    lastAttempt: boolean,
    write: (r: Recorded) => Promise<void>,
  ): Promise<{ delivered: NotificationOutcome } | { undeliverable: ChannelFailure[] }> {
    const { tenantId, customerId, text, recipient: customer, ctx } = message;
    const base = { tenantId, customerId, purpose: "points" as const, ref, text };
    const failures: ChannelFailure[] = [];
    for (const channel of channels) {
      let outcome: ChannelOutcome;
      try {
        outcome = await channel.deliver(message);
      } catch (err) {
        // A failure for now: the job is retried (recorded for operators on its last attempt).
        const e = asSendError(err, channel.name);
        complainIfConfig(e, ctx);
        if (lastAttempt) await write({ ...base, channel: channel.name, status: "failed", error: e.message });
        throw e;
      }
      if (outcome.result === "skipped") continue;
      if (outcome.result === "sent") {
        await write({ ...base, channel: channel.name, status: "sent", providerId: outcome.providerId });
        return { delivered: { status: "sent", channel: channel.name, ...(failures.length ? { failures } : {}) } };
      }
      // Failed for good on this channel: recorded, and the next channel is tried.
      await write({ ...base, channel: channel.name, status: "failed", error: outcome.failure.error });
      failures.push(outcome.failure);
    }
    if (failures.length > 0) return { undeliverable: failures };

    // No channel to try: the log sender.
    const reason = !customer.phone
      ? "no push subscription and no phone"
      : customer.sms_failed_at
        ? `SMS stopped after a permanent failure: ${customer.sms_failure ?? "unknown"}`
        : "neither push nor SMS is configured";
    await senders.log.send({ purpose: "points", tenantId, customerId, phone: customer.phone, reason, text });
    await write({ ...base, channel: "log", status: "sent" });
    return { delivered: { status: "sent", channel: "log", reason } };
  }

  const undeliverableText = (failures: ChannelFailure[]) =>
    `not delivered: ${failures.map((f) => `${f.channel} (${f.kind}): ${f.error}`).join("; ")}`;

  async function points(job: Job<NotificationJob>, data: PointsMessageJob): Promise<NotificationOutcome> {
    const { tenantId, customerId, documentId, text } = data;
    const [row] = await recipients(sql, tenantId, [{ ref: documentId, customerId }]);
    if (row!.already) return { status: "already", channel: row!.already };
    if (row!.shop == null) return { status: "skipped", reason: "customer not found" };
    const ctx = { purpose: "points", tenantId, customerId, documentId, jobId: job.id };
    const message: OutgoingMessage = { tenantId, customerId, text, recipient: row as Recipient, ctx };
    const result = await sendPoints(message, documentId, isLastAttempt(job), note);
    if ("undeliverable" in result) throw new UnrecoverableError(undeliverableText(result.undeliverable));
    return result.delivered;
  }

  /**
   * A settlement batch's messages: who got theirs already and where to send the others in
   * one statement; then the sends, BATCH_SENDS at a time, each group's outcomes written in
   * one statement (a crash within a group may resend that group's messages: the window the
   * single job has per message, a group wide). A message failing for now makes the job
   * retry later — the ones sent meanwhile are skipped then; one no channel can take is
   * recorded failed and logged, and the others go on.
   */
  async function pointsBatch(job: Job<NotificationJob>, data: PointsBatchJob): Promise<NotificationOutcome> {
    const { tenantId, messages } = data;
    const rows = await recipients(sql, tenantId, messages.map((m) => ({ ref: m.documentId, customerId: m.customerId })));
    const counts = { sent: 0, already: 0, skipped: 0, undeliverable: 0 };
    const retry: SendError[] = [];
    const lastAttempt = isLastAttempt(job);
    for (let at = 0; at < messages.length; at += BATCH_SENDS) {
      const written: Recorded[] = [];
      const write = async (r: Recorded) => void written.push(r);
      await Promise.all(
        messages.slice(at, at + BATCH_SENDS).map(async (m, i) => {
          const row = rows[at + i]!;
          if (row.already) return void counts.already++;
          if (row.shop == null) return void counts.skipped++;
          const ctx = { purpose: "points", tenantId, customerId: m.customerId, documentId: m.documentId, jobId: job.id };
          const message: OutgoingMessage = { tenantId, customerId: m.customerId, text: m.text, recipient: row as Recipient, ctx };
          try {
            const result = await sendPoints(message, m.documentId, lastAttempt, write);
            if ("delivered" in result) return void counts.sent++;
            counts.undeliverable++;
            log.warn("message not delivered: every channel failed for good", { ...ctx, err: undeliverableText(result.undeliverable) });
          } catch (e) {
            retry.push(asSendError(e, "sms"));
          }
        }),
      );
      await recordAll(sql, written);
      metrics?.messages(written);
    }
    if (retry.length > 0) throw retry[0]!;
    const summary = Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(", ");
    return { status: counts.sent > 0 ? "sent" : counts.already > 0 ? "already" : "skipped", reason: summary || "nothing to send" };
  }

  return async (job: Job<NotificationJob>): Promise<NotificationOutcome> => {
    const data = job.data;
    if (data.type === "code") return code(job, data);
    if (data.type === "card") return cardJobs.card ? cardJobs.card(job, data) : { status: "skipped", reason: "card links not handled here" };
    if (data.type === "wallet") return cardJobs.wallet ? cardJobs.wallet(job, data) : { status: "skipped", reason: "Wallet is not configured" };
    if (data.type === "points-batch") return pointsBatch(job, data);
    return points(job, data);
  };
}

/** For the worker's "failed" event: what to log without the message text. */
export function failureFields(job: Job<NotificationJob> | undefined, e: Error): Record<string, unknown> {
  return {
    jobId: job?.id,
    type: job?.data?.type ?? "points",
    tenantId: job?.data?.tenantId,
    attempts: job?.attemptsMade,
    final: e instanceof UnrecoverableError || (job ? job.attemptsMade >= (job.opts?.attempts ?? 1) : true),
    ...errorFields(e),
  };
}
