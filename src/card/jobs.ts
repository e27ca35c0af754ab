// Jobs of the customer's card on the notifications queue: the card link after
// registration, and Wallet refreshes after a balance change.
import type { Sql } from "../db/client.ts";
import { errorFields } from "../log.ts";
import { throttledLog } from "../log-throttle.ts";
import { jobId, NotificationPriority, type Queues } from "../queue/queues.ts";

/** How long a Wallet refresh waits for more changes of the same balance. */
export const WALLET_COALESCE_MS = 1000;

/** During a Redis outage every registration would log the same failure: once per cause per 10 s. */
const outageLog = throttledLog("warn", 10_000);

/** The card link by SMS, once per customer (deterministic job id). Best effort: never fails the registration. */
export async function queueCardLink(queues: Queues | undefined, tenantId: string, customerId: string): Promise<void> {
  if (!queues) return;
  try {
    await queues.addWithinRequest(() =>
      queues.notifications.add(
        "card",
        { type: "card", tenantId, customerId },
        { jobId: jobId.cardMessage(customerId), priority: NotificationPriority.points },
      ),
    );
  } catch (e) {
    outageLog("card link not queued", { tenantId, customerId, ...errorFields(e) });
  }
}

/**
 * One Wallet refresh per customer however often the balance moves: while a refresh waits
 * (WALLET_COALESCE_MS) more changes join it, and a change while one runs leaves exactly one
 * more behind it. The refresh reads the balance when it runs, so the last balance is sent.
 */
export async function queueWalletUpdate(queues: Queues, tenantId: string, customerId: string): Promise<void> {
  const id = jobId.walletUpdate(customerId);
  await queues.notifications.add(
    "wallet",
    { type: "wallet", tenantId, customerId },
    { delay: WALLET_COALESCE_MS, deduplication: { id, keepLastIfActive: true }, priority: NotificationPriority.points },
  );
}

/**
 * Refreshes the Wallet passes of the customers whose points a document moved (the buyer,
 * an inviter) — only those who have a pass, so shops without Wallet queue nothing.
 */
export async function queueWalletUpdatesForDocument(sql: Sql, queues: Queues, tenantId: string, documentId: string): Promise<void> {
  // Key lookups only (document, its referral, wallet_pass): this runs for every settlement.
  const rows = await sql<{ customer_id: string }[]>`
    select w.customer_id from wallet_pass w
    where w.tenant_id = ${tenantId} and w.customer_id in (
      select d.customer_id from document d where d.tenant_id = ${tenantId} and d.id = ${documentId}
      union all
      select r.referrer_id from document d
      join referral r on r.tenant_id = d.tenant_id and r.referred_id = d.customer_id and r.sale_document_id = d.id
      where d.tenant_id = ${tenantId} and d.id = ${documentId})`;
  for (const r of rows) await queueWalletUpdate(queues, tenantId, r.customer_id);
}

/** The same for one customer (manual adjustments, a new card token). */
export async function queueWalletUpdateIfPass(sql: Sql, queues: Queues | undefined, tenantId: string, customerId: string): Promise<void> {
  if (!queues) return;
  const [row] = await sql`select 1 from wallet_pass where tenant_id = ${tenantId} and customer_id = ${customerId}`;
  if (!row) return;
  try {
    await queues.addWithinRequest(() => queueWalletUpdate(queues, tenantId, customerId));
  } catch (e) {
    outageLog("wallet update not queued", { tenantId, customerId, ...errorFields(e) });
  }
}
