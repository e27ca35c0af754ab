// What an operator looks at when something is off: documents that need a person,
// negative balances, the queues and their failed jobs.
import { Elysia, t } from "elysia";
import type { AppDeps } from "../deps.ts";
import { ApiError, errors, ErrorBody } from "../errors.ts";
import { within } from "../within.ts";
import type { CustomerRow } from "../loyalty/customers.ts";
import { decideHold } from "../loyalty/holds.ts";
import { ALL_QUEUES } from "../queue/queues.ts";
import { adminAuth, adminSecurity } from "./auth.ts";
import { listDocuments, type DocumentRow } from "../loyalty/document-list.ts";
import { AdminCustomer, AdminDocument, DocumentPage, DocumentQuery } from "./models.ts";
import { adminCustomer } from "./customers.ts";

const HoldDecisionBody = t.Object({
  decision: t.Union([t.Literal("approve"), t.Literal("reject")]),
  note: t.Optional(t.String({ maxLength: 500, description: "почему — для истории" })),
});

const HoldStateBody = t.Object({
  documentId: t.String(),
  heldSpendPoints: t.Integer(),
  heldEarnPoints: t.Integer(),
  decision: t.Nullable(t.Union([t.Literal("approved"), t.Literal("rejected")])),
  decidedAt: t.Nullable(t.String()),
  note: t.Nullable(t.String()),
  decidedBy: t.Nullable(t.String({ description: "кто решил: оператор через API или сотрудник МойСклад из кабинета" })),
});

const QueueCounts = t.Object({
  name: t.String(),
  waiting: t.Integer(),
  active: t.Integer(),
  delayed: t.Integer(),
  prioritized: t.Integer(),
  failed: t.Integer(),
  completed: t.Integer(),
});

const FailedJob = t.Object({
  id: t.Nullable(t.String()),
  name: t.String(),
  data: t.Any(),
  failedReason: t.Nullable(t.String()),
  attemptsMade: t.Integer(),
  timestamp: t.Number(),
  finishedOn: t.Nullable(t.Number()),
});

export function adminDocument(r: DocumentRow): typeof AdminDocument.static {
  return {
    id: r.id,
    kind: r.kind,
    externalKey: r.external_key,
    name: r.name,
    moment: r.moment?.toISOString() ?? null,
    customerId: r.customer_id,
    matchStatus: r.match_status,
    state: r.state,
    flagReason: r.flag_reason,
    totalKopecks: r.total_kopecks,
    giftCardShortfallKopecks: r.gift_card_shortfall_kopecks,
    pointsSpent: r.points_spent,
    pointsEarned: r.points_earned,
    pointsSpentReported: r.points_spent_reported,
    heldSpendPoints: r.held_spend_points,
    heldEarnPoints: r.held_earn_points,
    holdDecision: r.hold_decision,
    saleKey: r.sale_key,
    receivedAt: r.received_at.toISOString(),
    settledAt: r.settled_at?.toISOString() ?? null,
  };
}

const detail = (summary: string, description?: string) => ({ tags: ["Операторы"], summary, description, security: adminSecurity });

/**
 * Every Redis call of these views is bounded (the producer connection's command timeout,
 * and this deadline around the whole view): a paused or lost Redis answers 503 in
 * seconds instead of holding the operator's request.
 */
async function fromRedis<T>(deadlineMs: number, view: () => Promise<T>): Promise<T> {
  try {
    return await within(deadlineMs, view(), "Redis did not answer in time");
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw errors.unavailable("Очереди (Redis)");
  }
}

export const operationsController = (deps: AppDeps) => {
  const queue = (name: string) => {
    const q = deps.queues?.all().find((x) => x.name === name);
    if (!q) throw errors.notFound(`Очереди «${name}» нет. Есть: ${ALL_QUEUES.join(", ")}.`, "name");
    return q;
  };
  const redisDeadline = 2 * (deps.queues?.commandTimeoutMs ?? 2000);
  return new Elysia({ prefix: "/admin/v1" })
    .use(adminAuth(deps.config.adminToken))
    .get(
      "/tenants/:slug/negative-balances",
      async ({ params }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const rows = await deps.sql<CustomerRow[]>`
          select id, ms_id, sync_id, name, legal_first_name, legal_middle_name, legal_last_name, phone,
            card_number, qr_token, email, to_char(birth_date, 'YYYY-MM-DD') as birth_date, sex,
            status_check, balance, pending_balance, created_at, updated_at
          from customer where tenant_id = ${tenant.id} and balance < 0
          order by balance limit 500`;
        return { rows: rows.map(adminCustomer) };
      },
      { response: { 200: t.Object({ rows: t.Array(AdminCustomer) }), 401: ErrorBody, 404: ErrorBody }, detail: detail("Отрицательные балансы") },
    )
    .get(
      "/tenants/:slug/documents",
      async ({ params, query }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const page = await listDocuments(deps.sql, tenant.id, { ...query, limit: query.limit ?? 100 });
        return { rows: page.rows.map(adminDocument), nextBefore: page.nextBefore };
      },
      {
        query: DocumentQuery,
        response: { 200: DocumentPage, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody },
        detail: detail(
          "Продажи и возвраты",
          "Новые первыми, страницами: nextBefore ответа передайте как ?before= для следующей страницы (null — страниц больше нет). " +
            "?attention=true — что-то не сошлось (flagReason словами), баллы ждут решения (heldSpendPoints, heldEarnPoints), не найден покупатель, возврат без продажи или ждёт продажу. " +
            "?held=true — только документы с баллами, ждущими решения оператора (POST …/documents/:id/hold).",
        ),
      },
    )
    .post(
      "/tenants/:slug/documents/:id/hold",
      async ({ params, body }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const s = await decideHold(deps.sql, tenant.id, params.id, body.decision === "approve" ? "approved" : "rejected", body.note ?? null, "оператор (API)");
        return {
          documentId: s.documentId,
          heldSpendPoints: s.heldSpendPoints,
          heldEarnPoints: s.heldEarnPoints,
          decision: s.decision,
          decidedAt: s.decidedAt?.toISOString() ?? null,
          note: s.note,
          decidedBy: s.decidedBy,
        };
      },
      {
        params: t.Object({ slug: t.String(), id: t.String({ format: "uuid" }) }),
        body: HoldDecisionBody,
        response: { 200: HoldStateBody, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody },
        detail: detail(
          "Решение по баллам, ждущим оператора",
          "approve — провести списание сверх баланса и/или начисление сверх предела на чек; reject — не проводить. Решение принимается один раз.",
        ),
      },
    )
    .get(
      "/queues",
      async () => {
        const queues = deps.queues?.all() ?? [];
        return fromRedis(redisDeadline, async () => ({
          rows: await Promise.all(
            queues.map(async (q) => {
              const c = await q.getJobCounts("waiting", "active", "delayed", "prioritized", "failed", "completed");
              return {
                name: q.name,
                waiting: c.waiting ?? 0,
                active: c.active ?? 0,
                delayed: c.delayed ?? 0,
                prioritized: c.prioritized ?? 0,
                failed: c.failed ?? 0,
                completed: c.completed ?? 0,
              };
            }),
          ),
        }));
      },
      { response: { 200: t.Object({ rows: t.Array(QueueCounts) }), 401: ErrorBody, 503: ErrorBody }, detail: detail("Очереди: сколько задач в каком состоянии") },
    )
    .get(
      "/queues/:name/failed",
      async ({ params, query }) => {
        const q = queue(params.name);
        const jobs = await fromRedis(redisDeadline, () => q.getFailed(0, (query.limit ?? 100) - 1));
        return {
          rows: jobs.map((j) => ({
            id: j.id ?? null,
            name: j.name,
            data: j.data,
            failedReason: j.failedReason ?? null,
            attemptsMade: j.attemptsMade,
            timestamp: j.timestamp,
            finishedOn: j.finishedOn ?? null,
          })),
        };
      },
      {
        params: t.Object({ name: t.String() }),
        query: t.Object({ limit: t.Optional(t.Integer({ minimum: 1, maximum: 1000 })) }),
        response: { 200: t.Object({ rows: t.Array(FailedJob) }), 401: ErrorBody, 404: ErrorBody, 503: ErrorBody },
        detail: detail("Упавшие задачи очереди с причиной"),
      },
    )
    .post(
      "/queues/:name/jobs/:id/retry",
      async ({ params }) => {
        const q = queue(params.name);
        return fromRedis(redisDeadline, async () => {
          const job = await q.getJob(params.id);
          if (!job) throw errors.notFound("Задача не найдена.", "id");
          if (!(await job.isFailed())) throw errors.conflict("Задача не в состоянии failed.", "id");
          await job.retry("failed");
          return { id: params.id, retried: true };
        });
      },
      {
        params: t.Object({ name: t.String(), id: t.String() }),
        response: { 200: t.Object({ id: t.String(), retried: t.Boolean() }), 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody },
        detail: detail("Повторить упавшую задачу"),
      },
    );
};

