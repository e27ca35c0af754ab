// A merchant's customers for operators: find them, see one with level and expiring
// points, adjust points by hand, read the ledger.
import { Elysia, t } from "elysia";
import { queueWalletUpdateIfPass } from "../card/jobs.ts";
import type { AppDeps } from "../deps.ts";
import { ErrorBody, errors } from "../errors.ts";
import { adjustPoints } from "../loyalty/adjustments.ts";
import { type CustomerRow, getCustomer, searchCustomers } from "../loyalty/customers.ts";
import { type LedgerEntryRow, listLedger } from "../loyalty/ledger.ts";
import { ledgerKey } from "../loyalty/ledger-keys.ts";
import { expiringPoints } from "../loyalty/lots.ts";
import { formatPhone } from "../loyalty/phone.ts";
import { tierView } from "../loyalty/tiers.ts";
import { adminAuth, adminSecurity } from "./auth.ts";
import { AdjustmentCreate, AdminCustomer, AdminCustomerView, CustomerSearchQuery, LedgerEntry, LedgerPage, LedgerQuery } from "./models.ts";

export function adminCustomer(c: CustomerRow): typeof AdminCustomer.static {
  return {
    id: c.id,
    msId: c.ms_id,
    syncId: c.sync_id,
    name: c.name,
    legalFirstName: c.legal_first_name,
    legalMiddleName: c.legal_middle_name,
    legalLastName: c.legal_last_name,
    phone: c.phone ? formatPhone(c.phone) : null,
    discountCardNumber: c.card_number,
    qrToken: c.qr_token,
    email: c.email,
    birthDate: c.birth_date,
    sex: c.sex,
    statusCheck: c.status_check,
    balance: c.balance,
    pendingBalance: c.pending_balance,
    createdAt: c.created_at.toISOString(),
    updatedAt: c.updated_at.toISOString(),
  };
}

export function ledgerEntry(e: LedgerEntryRow): typeof LedgerEntry.static {
  return {
    id: e.id,
    customerId: e.customer_id,
    kind: e.kind,
    points: e.points,
    pending: e.released_at === null,
    availableAt: e.available_at.toISOString(),
    documentId: e.document_id,
    idempotencyKey: e.idempotency_key,
    reason: e.reason,
    createdAt: e.created_at.toISOString(),
  };
}

const detail = (summary: string, description?: string) => ({ tags: ["Администрирование"], summary, description, security: adminSecurity });
const errs = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody };

export const customersAdminController = (deps: AppDeps) =>
  new Elysia({ prefix: "/admin/v1" })
    .use(adminAuth(deps.config.adminToken))
    .get(
      "/tenants/:slug/customers",
      async ({ params, query }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const rows = await searchCustomers(deps.sql, tenant.id, query.search);
        return { rows: rows.map(adminCustomer) };
      },
      { query: CustomerSearchQuery, response: { 200: t.Object({ rows: t.Array(AdminCustomer) }), ...errs }, detail: detail("Найти покупателей") },
    )
    .get(
      "/tenants/:slug/customers/:id",
      async ({ params }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const customer = await getCustomer(deps.sql, tenant.id, params.id);
        if (!customer) throw errors.customerNotFound("id");
        const [tier, expiring] = await Promise.all([
          tierView(deps.sql, tenant.id, customer.id, customer.tier, tenant.program),
          expiringPoints(deps.sql, tenant.id, customer.id),
        ]);
        return {
          ...adminCustomer(customer),
          tier,
          expiring: expiring.map((e) => ({ points: e.points, expiresAt: e.expiresAt.toISOString() })),
        };
      },
      {
        response: { 200: AdminCustomerView, ...errs },
        detail: detail("Покупатель с балансом", "С уровнем (tier) и ближайшими сгораниями баллов (expiring)."),
      },
    )
    .post(
      "/tenants/:slug/customers/:id/adjustments",
      async ({ params, body, headers, set }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const given = headers["idempotency-key"];
        if (given !== undefined && (given.length < 1 || given.length > 200)) {
          throw errors.validation("Idempotency-Key: от 1 до 200 символов.", "Idempotency-Key");
        }
        const expiresAt = body.expiresAt ? new Date(body.expiresAt) : null;
        const entry = await adjustPoints(deps.sql, tenant.id, {
          customerId: params.id,
          points: body.points,
          reason: body.reason,
          key: ledgerKey.adjustment(given ?? crypto.randomUUID()),
          expiresAt,
        });
        await queueWalletUpdateIfPass(deps.sql, deps.queues, tenant.id, params.id);
        set.status = 201;
        return ledgerEntry(entry);
      },
      {
        params: t.Object({ slug: t.String(), id: t.String({ format: "uuid" }) }),
        body: AdjustmentCreate,
        response: { 201: LedgerEntry, ...errs, 409: ErrorBody },
        detail: detail(
          "Ручная корректировка баллов",
          "Списание не может увести баланс ниже нуля; начисление возможно всегда (так исправляют отрицательный баланс, целиком или частично). Заголовок Idempotency-Key (необязательный) защищает от двойного проведения при повторе запроса.",
        ),
      },
    )
    .get(
      "/tenants/:slug/customers/:id/ledger",
      async ({ params, query }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const customer = await getCustomer(deps.sql, tenant.id, params.id);
        if (!customer) throw errors.customerNotFound("id");
        const limit = query.limit ?? 100;
        const rows = await listLedger(deps.sql, tenant.id, customer.id, { limit, beforeId: query.before ?? null });
        return { rows: rows.map(ledgerEntry), nextBefore: rows.length === limit ? rows[rows.length - 1]!.id : null };
      },
      { query: LedgerQuery, response: { 200: LedgerPage, ...errs }, detail: detail("Журнал баллов покупателя", "Новые записи первыми.") },
    );
