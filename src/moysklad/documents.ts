// Completed sales and returns: POST /retaildemand and POST /retailsalesreturn. The till has
// already closed the receipt, so these are facts: every JSON body that names what happened
// is stored and answered 201, whatever does not add up is flagged for an operator (see
// document-reading.ts). Only a body with nothing usable in it gets a 400 — and is logged.
import { Elysia } from "elysia";
import type { AppDeps } from "../deps.ts";
import { errors, VALIDATION_STATUS } from "../errors.ts";
import { GroupCommit } from "../db/group-commit.ts";
import { declaredBytes, logRefusedBody } from "../refused-bodies.ts";
import { pathOf } from "../request-guard.ts";
import { customerRef, hasRef } from "../loyalty/customers.ts";
import { acceptReturn, acceptSale, type Stored } from "../loyalty/intake.ts";
import type { TenantContext } from "../loyalty/tenants.ts";
import { moyskladAuth, moyskladSecurity } from "./auth.ts";
import { type ReadDocument, type ReadOptions, readReturn, readSale, saleKeyOf, UnusableDocument } from "./document-reading.ts";
import { ErrorBody } from "../errors.ts";
import { DocumentAccepted, RetailDemand, RetailSalesReturn } from "./models.ts";

const readOptions = (tenant: TenantContext): ReadOptions => ({
  timeZone: tenant.program.settings.timezone,
  isExcluded: (id) => tenant.program.rules.excludedAssortmentIds.has(id),
});

/** Reads the body; an unusable one is logged (its shape, never its content; throttled per cause) and refused. */
function read(request: Request, tenant: TenantContext, body: unknown, reader: (b: unknown, o: ReadOptions) => ReadDocument): ReadDocument {
  try {
    return reader(body, readOptions(tenant));
  } catch (e) {
    if (!(e instanceof UnusableDocument)) throw e;
    const keys = body && typeof body === "object" && !Array.isArray(body) ? Object.keys(body).slice(0, 30).map((k) => k.slice(0, 40)) : [];
    logRefusedBody(
      {
        path: pathOf(request.url),
        status: VALIDATION_STATUS,
        reason: "nothing usable",
        contentType: request.headers.get("content-type"),
        declaredBytes: declaredBytes(request),
        tenantId: tenant.id,
      },
      { type: Array.isArray(body) ? "array" : typeof body, keys },
    );
    throw errors.validation(e.message, "positions");
  }
}

/** Stored: hand it to settlement (a Redis failure only delays it; see the sweeper) and answer. */
async function accepted(deps: AppDeps, tenantId: string, stored: Stored): Promise<{ id: string }> {
  if (stored.spendPosted) deps.queues?.metrics.ledger([{ kind: "spend", points: -stored.spendPosted }]);
  if (stored.needsSettlement) await deps.queues?.enqueueSettlement([{ tenantId, documentId: stored.documentId }]);
  return { id: stored.documentId };
}

// The schemas document the bodies on the OpenAPI page; the bodies are read leniently
// (document-reading.ts), never refused by them.
// A plain JSON Schema copy of the TypeBox schema (TypeBox's own symbols dropped), which is
// what the OpenAPI document holds.
const jsonSchema = (schema: typeof RetailDemand | typeof RetailSalesReturn) => JSON.parse(JSON.stringify(schema));
const detail = (summary: string, description: string, schema: typeof RetailDemand | typeof RetailSalesReturn) => ({
  tags: ["МойСклад: чеки"],
  summary,
  description,
  security: moyskladSecurity,
  requestBody: { required: true, content: { "application/json": { schema: jsonSchema(schema) } } },
});

export const documentsController = (deps: AppDeps) => {
  // Concurrent sales and returns share a commit; each is answered once its group committed.
  const intake = new GroupCommit(deps.sql, { maxGroup: deps.config.intakeGroupMax });
  return new Elysia()
    .use(moyskladAuth(deps.tenants))
    .post(
      "/retaildemand",
      async ({ body, tenant, set, request }) => {
        const sale = read(request, tenant, body, readSale);
        const ref = sale.agent ? customerRef(sale.agent) : null;
        const stored = await acceptSale(intake, tenant, {
          externalKey: sale.externalKey,
          name: sale.name,
          moment: sale.moment,
          retailStoreId: sale.retailStoreId,
          customer: ref && hasRef(ref) ? ref : null,
          sums: sale.sums,
          moneyLines: sale.moneyLines,
          paidKopecks: sale.paidKopecks,
          pointsSpentReported: sale.pointsSpent,
          pointsEarnReported: sale.pointsEarnReported,
          anomalies: sale.anomalies,
          body,
        });
        set.status = 201;
        return accepted(deps, tenant.id, stored);
      },
      {
        response: { 201: DocumentAccepted, 400: ErrorBody, 401: ErrorBody },
        detail: detail(
          "Продажа завершена",
          "Сохраняет продажу всегда, когда в ней есть позиции или баллы (повторная доставка того же чека ничего не меняет), и сразу списывает потраченные баллы — в пределах баланса; остальное ждёт решения оператора. Что не сходится, отмечается для оператора (documents?attention=true).",
          RetailDemand,
        ),
      },
    )
    .post(
      "/retailsalesreturn",
      async ({ body, tenant, set, request }) => {
        const ret = read(request, tenant, body, readReturn);
        const stored = await acceptReturn(intake, tenant, {
          externalKey: ret.externalKey,
          name: ret.name,
          moment: ret.moment,
          retailStoreId: ret.retailStoreId,
          saleKey: saleKeyOf(ret.saleMeta),
          sums: ret.sums,
          anomalies: ret.anomalies,
          body,
        });
        set.status = 201;
        return accepted(deps, tenant.id, stored);
      },
      {
        response: { 201: DocumentAccepted, 400: ErrorBody, 401: ErrorBody },
        detail: detail(
          "Возврат",
          "Сохраняет возврат всегда, когда в нём есть позиции; по связанной продаже обработчик вернёт потраченные и заберёт начисленные баллы пропорционально возвращённым деньгам — не больше, чем двигала продажа.",
          RetailSalesReturn,
        ),
      },
    );
};
