// The browsers a customer subscribed on their web card: stored, retired, pruned.
import type { Queryable, Sql } from "../db/client.ts";

/** A customer keeps at most this many active browsers; older ones are retired. */
export const MAX_SUBSCRIPTIONS_PER_CUSTOMER = 10;

/** Retired subscriptions (replaced, or gone at the push service) are deleted after this. */
export const RETIRED_SUBSCRIPTION_DAYS = 30;

export interface NewSubscription {
  endpoint: string;
  p256dh: string;
  auth: string;
}

export async function customerByQrToken(sql: Sql, tenantId: string, qrToken: string): Promise<string | null> {
  const [row] = await sql<{ id: string }[]>`select id from customer where tenant_id = ${tenantId} and qr_token = ${qrToken}`;
  return row?.id ?? null;
}

/** Stores (or re-activates) a browser and retires the customer's oldest beyond the limit. */
export async function subscribe(
  sql: Sql,
  tenantId: string,
  customerId: string,
  s: NewSubscription,
): Promise<{ id: string; createdAt: Date; inserted: boolean }> {
  return sql.begin(async (tx) => {
    const [row] = await tx<{ id: string; created_at: Date; inserted: boolean }[]>`
      insert into push_subscription (tenant_id, customer_id, endpoint, p256dh, auth)
      values (${tenantId}, ${customerId}, ${s.endpoint}, ${s.p256dh}, ${s.auth})
      on conflict (tenant_id, endpoint) do update
        set customer_id = excluded.customer_id, p256dh = excluded.p256dh, auth = excluded.auth,
            expired_at = null, failure = null, created_at = now()
      returning id, created_at, (xmax = 0) as inserted`;
    // Keep the newest few: a card's token must not let anyone fan one message out to
    // thousands of endpoints.
    await tx`
      update push_subscription set expired_at = now(), failure = 'replaced by newer subscriptions'
      where tenant_id = ${tenantId} and customer_id = ${customerId} and expired_at is null
        and id not in (
          select id from push_subscription
          where tenant_id = ${tenantId} and customer_id = ${customerId} and expired_at is null
          order by created_at desc, id desc
          limit ${MAX_SUBSCRIPTIONS_PER_CUSTOMER})`;
    return { id: row!.id, createdAt: row!.created_at, inserted: row!.inserted };
  });
}

export async function unsubscribe(sql: Sql, tenantId: string, customerId: string, endpoint: string): Promise<void> {
  await sql`
    delete from push_subscription
    where tenant_id = ${tenantId} and customer_id = ${customerId} and endpoint = ${endpoint}`;
}

/** Deletes subscriptions retired more than RETIRED_SUBSCRIPTION_DAYS ago, a batch at a time. */
export async function pruneRetiredSubscriptions(sql: Queryable, limit = 5000): Promise<number> {
  const rows = await sql`
    delete from push_subscription where (tenant_id, id) in (
      select tenant_id, id from push_subscription
      where expired_at < now() - make_interval(days => ${RETIRED_SUBSCRIPTION_DAYS})
      limit ${limit})
    returning 1`;
  return rows.length;
}
