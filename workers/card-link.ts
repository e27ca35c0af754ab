// The card link by SMS after registration («Кофейня: ваша карта https://…/card/…»), once per
// customer. The link is built when sent, from the customer's token at that moment, so a
// token replaced before the job ran is never sent. The text opens the card: it is not
// logged and not kept in the notification table.
import { type Job, UnrecoverableError } from "bullmq";
import { cardMessageText, cardUrl } from "../src/card/card.ts";
import type { Sql } from "../src/db/client.ts";
import { log } from "../src/log.ts";
import type { Senders } from "../src/notify/types.ts";
import type { CardMessageJob, NotificationJob } from "../src/queue/queues.ts";
import type { SharedMetrics } from "../src/metrics/shared.ts";
import { asSendError, isLastAttempt, type NotificationOutcome, type Recorded, record, sentOn } from "./notifications.ts";

export function cardLinkProcessor(sql: Sql, senders: Senders, publicUrl: string, metrics?: SharedMetrics) {
  // Written and counted like every other message (messages by channel and outcome).
  const note = async (r: Recorded): Promise<void> => {
    await record(sql, r);
    metrics?.message(r.channel, r.status);
  };
  return async (job: Job<NotificationJob>, data: CardMessageJob): Promise<NotificationOutcome> => {
    const { tenantId, customerId } = data;
    const already = await sentOn(sql, tenantId, "card", customerId);
    if (already) return { status: "already", channel: already };
    const [c] = await sql<{ phone: string | null; qr_token: string | null; sms_failed_at: Date | null; shop: string; template: string | null }[]>`
      select c.phone, c.qr_token, c.sms_failed_at, t.name as shop, p.card_message_template as template
      from customer c join tenant t on t.id = c.tenant_id join program p on p.tenant_id = c.tenant_id
      where c.tenant_id = ${tenantId} and c.id = ${customerId}`;
    if (!c || !c.qr_token) return { status: "skipped", reason: "customer or card not found" };
    const base = { tenantId, customerId, purpose: "card" as const, ref: customerId, text: null };
    if (!senders.sms || !c.phone || c.sms_failed_at) {
      const reason = !c.phone ? "no phone" : c.sms_failed_at ? "SMS stopped after a permanent failure" : "SMS is not configured";
      await senders.log.send({ purpose: "card", tenantId, customerId, phone: c.phone, reason, text: "" });
      await note({ ...base, channel: "log", status: "sent" });
      return { status: "sent", channel: "log", reason };
    }
    const text = cardMessageText(c.template, { shop: c.shop, url: cardUrl(publicUrl, c.qr_token) });
    try {
      const d = await senders.sms.send(c.phone, text);
      await note({ ...base, channel: "sms", status: "sent", providerId: d.providerId });
      return { status: "sent", channel: "sms" };
    } catch (err) {
      const e = asSendError(err, "sms");
      if (e.retryable) {
        if (isLastAttempt(job)) await note({ ...base, channel: "sms", status: "failed", error: e.message });
        throw e;
      }
      await note({ ...base, channel: "sms", status: "failed", error: e.message });
      log.warn("card link not sent: permanent failure", { tenantId, customerId, kind: e.kind, err: e.message });
      throw new UnrecoverableError(`card link SMS not sent (${e.kind}): ${e.message}`);
    }
  };
}
