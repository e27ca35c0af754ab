// What the cabinet does to one customer: read them with their history, adjust points by
// hand, correct phone / name / birthday, give them a new card link, and erase their
// personal data (152-ФЗ).
import { rotateCardToken } from "../card/card.ts";
import { queueWalletUpdateIfPass } from "../card/jobs.ts";
import type { Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { asUuid, type CustomerRow, getCustomer } from "../loyalty/customers.ts";
import { type LedgerEntryRow, postLedgerEntry } from "../loyalty/ledger.ts";
import { normalizePhone } from "../loyalty/phone.ts";
import type { Queues } from "../queue/queues.ts";

export interface ErasableCustomer extends CustomerRow {
  erased_at: Date | null;
  purchases_count: number;
  purchases_kopecks: number;
  last_purchase_at: Date | null;
}

export async function getCustomerCard(sql: Sql, tenantId: string, id: string): Promise<ErasableCustomer | null> {
  const base = await getCustomer(sql, tenantId, id);
  if (!base) return null;
  const [extra] = await sql<{ erased_at: Date | null; purchases_count: number; purchases_kopecks: number; last_purchase_at: Date | null }[]>`
    select erased_at, purchases_count, purchases_kopecks,
      (select max(coalesce(moment, received_at)) from document d
        where d.tenant_id = ${tenantId} and d.customer_id = ${base.id} and d.kind = 'sale') as last_purchase_at
    from customer where tenant_id = ${tenantId} and id = ${base.id}`;
  return { ...base, ...extra! };
}

export interface ProfilePatch {
  /** Any notation; "" removes the phone. */
  phone?: string;
  /** "" removes the name. */
  name?: string;
  /** YYYY-MM-DD; "" removes the birthday. */
  birthDate?: string;
}

/** Corrects what the merchant may correct by hand; a phone another customer has is a conflict. */
export async function updateProfile(sql: Sql, tenantId: string, customerId: string, patch: ProfilePatch): Promise<CustomerRow> {
  const id = asUuid(customerId);
  const current = id ? await getCustomerCard(sql, tenantId, id) : null;
  if (!current) throw errors.customerNotFound("id");
  if (current.erased_at) throw errors.conflict("Данные покупателя удалены по его просьбе: их нельзя заполнить снова.", "id");
  let phone = current.phone;
  if (patch.phone !== undefined) {
    const raw = patch.phone.trim();
    phone = raw ? normalizePhone(raw) : null;
    if (raw && !phone) throw errors.validation(`Телефон «${raw.slice(0, 40)}» не похож на номер.`, "phone");
  }
  let name = current.name;
  if (patch.name !== undefined) {
    name = patch.name.trim().replace(/\s+/g, " ") || null;
    if (name && name.length > 200) throw errors.validation("Имя длиннее 200 символов.", "name");
  }
  let birthDate = current.birth_date;
  if (patch.birthDate !== undefined) {
    const raw = patch.birthDate.trim();
    birthDate = raw || null;
    if (raw) {
      const d = /^\d{4}-\d{2}-\d{2}$/.test(raw) ? new Date(`${raw}T00:00:00Z`) : null;
      if (!d || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== raw || d > new Date() || d.getUTCFullYear() < 1900) {
        throw errors.validation("Дата рождения: ГГГГ-ММ-ДД, не в будущем.", "birthDate");
      }
    }
  }
  try {
    await sql`
      update customer set phone = ${phone}, name = ${name}, birth_date = ${birthDate}::date,
        -- a new number may well take SMS: forget the old number's permanent failure
        sms_failed_at = case when phone is distinct from ${phone}::text then null else sms_failed_at end,
        sms_failure = case when phone is distinct from ${phone}::text then null else sms_failure end,
        updated_at = now()
      where tenant_id = ${tenantId} and id = ${current.id}`;
  } catch (e: any) {
    if (e?.code === "23505") throw errors.conflict("Этот телефон уже указан у другого покупателя.", "phone");
    throw e;
  }
  return (await getCustomer(sql, tenantId, current.id))!;
}

/**
 * A new card token, as the admin API's card-token call gives one (the same use case, and
 * the same Wallet refresh: passes carry the QR): the old link and QR stop opening the card
 * and stop being found by the till. Like that call it sends no SMS — the registration's
 * card message goes once per customer. Refused for an erased customer: a token would make
 * them findable again.
 */
export async function newCardLink(
  sql: Sql,
  queues: Queues | undefined,
  publicUrl: string,
  tenantId: string,
  customerId: string,
): Promise<{ token: string; url: string }> {
  const id = asUuid(customerId);
  const current = id ? await getCustomerCard(sql, tenantId, id) : null;
  if (!current) throw errors.customerNotFound("id");
  if (current.erased_at) throw errors.conflict("Данные покупателя удалены по его просьбе: новую ссылку на карту выдать нельзя.", "id");
  const issued = await rotateCardToken(sql, publicUrl, tenantId, current.id);
  await queueWalletUpdateIfPass(sql, queues, tenantId, current.id);
  return issued;
}

/**
 * Erases a customer's personal data on their request (152-ФЗ): name, phone, card, QR
 * token, e-mail, birthday, МойСклад link, push subscriptions, codes sent to them and the
 * buyer's details in their receipts. The row stays with its balance and its ledger (the
 * merchant's totals must still add up) but nothing can find it again: every column search,
 * the POS and export look at is empty, and export skips erased rows.
 * Returns false when there is no such customer; erasing twice is harmless.
 */
export async function erasePersonalData(sql: Sql, tenantId: string, customerId: string): Promise<boolean> {
  const id = asUuid(customerId);
  if (!id) return false;
  return sql.begin(async (tx) => {
    const [c] = await tx<{ phone: string | null }[]>`
      select phone from customer where tenant_id = ${tenantId} and id = ${id} for update`;
    if (!c) return false;
    await tx`
      update customer set name = null, legal_first_name = null, legal_middle_name = null, legal_last_name = null,
        phone = null, card_number = null, qr_token = null, email = null, birth_date = null, sex = null,
        ms_id = null, sync_id = null, sms_failed_at = null, sms_failure = null,
        erased_at = coalesce(erased_at, now()), updated_at = now()
      where tenant_id = ${tenantId} and id = ${id}`;
    await tx`delete from push_subscription where tenant_id = ${tenantId} and customer_id = ${id}`;
    await tx`delete from verification_code where tenant_id = ${tenantId} and (customer_id = ${id} or phone = ${c.phone})`;
    // The receipts' `agent` carried the buyer's phone, card and МойСклад id.
    await tx`update document set body = body - 'agent' where tenant_id = ${tenantId} and customer_id = ${id} and body ? 'agent'`;
    return true;
  });
}

// ---------------------------------------------------------------------------------
// The customer's history for their page.

export interface PurchaseRow {
  id: string;
  kind: "sale" | "return";
  name: string | null;
  moment: Date;
  state: string;
  total_kopecks: number;
  points_spent: number;
  points_earned: number;
}

export async function customerDocuments(sql: Sql, tenantId: string, customerId: string, limit = 50): Promise<PurchaseRow[]> {
  return sql<PurchaseRow[]>`
    select id, kind, name, coalesce(moment, received_at) as moment, state, total_kopecks, points_spent, points_earned
    from document where tenant_id = ${tenantId} and customer_id = ${customerId}
    order by received_at desc limit ${limit}`;
}

export interface MessageRow {
  channel: string;
  status: string;
  text: string | null;
  purpose: string;
  error: string | null;
  created_at: Date;
}

export async function customerMessages(sql: Sql, tenantId: string, customerId: string, limit = 50): Promise<MessageRow[]> {
  return sql<MessageRow[]>`
    select channel, status, text, purpose, error, created_at from notification
    where tenant_id = ${tenantId} and customer_id = ${customerId}
    order by created_at desc limit ${limit}`;
}

/** Pending entries: when each amount becomes spendable. */
export async function pendingPoints(sql: Sql, tenantId: string, customerId: string): Promise<{ points: number; available_at: Date }[]> {
  return sql<{ points: number; available_at: Date }[]>`
    select points, available_at from ledger_entry
    where tenant_id = ${tenantId} and customer_id = ${customerId} and released_at is null
    order by available_at limit 100`;
}

/** A ledger entry in the merchant's words. */
export function ledgerKindText(kind: string): string {
  return (
    {
      accrual: "Начислено за покупку",
      spend: "Списано в оплату покупки",
      refund: "Возвращено при возврате товара",
      clawback: "Снято при возврате товара",
      adjustment: "Корректировка вручную",
      welcome: "Приветственные баллы",
      birthday: "Баллы ко дню рождения",
      expiry: "Сгорели",
      import: "Перенесено из прежней программы",
    } as Record<string, string>
  )[kind] ?? kind;
}

export interface CustomerListRow {
  id: string;
  name: string | null;
  phone: string | null;
  card_number: string | null;
  balance: number;
  pending_balance: number;
  last_purchase_at: Date | null;
}

/** The newest customers (the list before anything is searched). */
export async function recentCustomers(sql: Sql, tenantId: string, limit = 50): Promise<CustomerListRow[]> {
  return sql<CustomerListRow[]>`
    select id, name, phone, card_number, balance, pending_balance,
      (select max(coalesce(moment, received_at)) from document d
        where d.tenant_id = ${tenantId} and d.customer_id = c.id and d.kind = 'sale') as last_purchase_at
    from customer c where tenant_id = ${tenantId} and erased_at is null
    order by created_at desc, id limit ${limit}`;
}

/** Search results with their last purchase. */
export async function withLastPurchase(sql: Sql, tenantId: string, rows: CustomerRow[]): Promise<CustomerListRow[]> {
  if (rows.length === 0) return [];
  const last = await sql<{ customer_id: string; at: Date }[]>`
    select customer_id, max(coalesce(moment, received_at)) as at from document
    where tenant_id = ${tenantId} and customer_id = any(${rows.map((r) => r.id)}::uuid[]) and kind = 'sale'
    group by customer_id`;
  const byId = new Map(last.map((l) => [l.customer_id, l.at]));
  return rows.map((r) => ({
    id: r.id, name: r.name, phone: r.phone, card_number: r.card_number, balance: r.balance,
    pending_balance: r.pending_balance, last_purchase_at: byId.get(r.id) ?? null,
  }));
}
