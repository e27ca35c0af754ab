// The admin API under the cabinet's pages: overview figures, customer imports, exports,
// profile corrections and erasure. Every page can be done without a browser.
import { Elysia, t } from "elysia";
import { adminAuth, adminSecurity } from "../admin/auth.ts";
import { AdminCustomer } from "../admin/models.ts";
import { adminCustomer } from "../admin/customers.ts";
import type { AppDeps } from "../deps.ts";
import { errors } from "../errors.ts";
import { ErrorBody } from "../errors.ts";
import { customerMessages, erasePersonalData, updateProfile } from "./customers.ts";
import { csvResponse, customersCsv, ledgerCsv } from "./export.ts";
import { getImport, importErrors, importErrorsCsv, type ImportRow, startImport } from "./import.ts";
import { CustomerMessage, ImportCreated, ImportQuery, ImportStatus, ProfilePatch, Stats, StatsQuery } from "./models.ts";
import { overviewStats, resolvePeriod } from "./stats.ts";

const detail = (summary: string, description?: string) => ({ tags: ["Кабинет"], summary, description, security: adminSecurity });
const errs = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody };
const ERRORS_SHOWN = 1000;
const csvDoc = { responses: { 200: { description: "CSV (UTF-8 с BOM, разделитель «;»), отдаётся потоком", content: { "text/csv": { schema: { type: "string" as const } } } } } };

export async function importStatus(deps: AppDeps, tenantId: string, row: ImportRow): Promise<typeof ImportStatus.static> {
  const rows = await importErrors(deps.sql, tenantId, row.id, ERRORS_SHOWN + 1);
  return {
    id: row.id,
    fileName: row.file_name,
    state: row.state,
    encoding: row.encoding,
    delimiter: row.delimiter,
    total: row.total,
    processed: row.processed,
    failed: row.failed,
    created: row.created,
    credited: row.credited,
    failure: row.failure,
    errors: rows.slice(0, ERRORS_SHOWN).map((e) => ({ row: e.line, error: e.error })),
    errorsTruncated: rows.length > ERRORS_SHOWN,
    createdAt: row.created_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
}

export const cabinetApiController = (deps: AppDeps) =>
  new Elysia({ prefix: "/admin/v1" })
    .use(adminAuth(deps.config.adminToken))
    .get(
      "/tenants/:slug/stats",
      async ({ params, query }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const zone = tenant.program.settings.timezone;
        return overviewStats(deps.sql, tenant.id, resolvePeriod(query.from, query.to, zone), zone);
      },
      {
        query: StatsQuery,
        response: { 200: Stats, ...errs },
        detail: detail(
          "Обзор: итоги и ряды по дням",
          "Продажи через программу, доля чеков с известным покупателем, баллы начислено/списано/сгорело, новые и вернувшиеся покупатели, средний чек участника, 10 лучших покупателей. Дни — по часовому поясу магазина (настройка программы timezone); без дат — последние 30 дней до сегодняшнего по времени магазина. Период — не больше 366 дней.",
        ),
      },
    )
    .post(
      "/tenants/:slug/imports",
      async ({ params, query, request, set }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const file = new Uint8Array(await request.arrayBuffer());
        const row = await startImport(deps.sql, deps.queues, tenant.id, file, query.fileName ?? null);
        set.status = 202;
        return { id: row.id };
      },
      {
        parse: "none",
        query: ImportQuery,
        response: { 202: ImportCreated, ...errs, 503: ErrorBody },
        detail: {
          ...detail(
            "Загрузить покупателей из прежней программы",
            "Тело — CSV (text/csv): телефон, имя, карта, дата рождения, баланс; UTF-8 или Windows-1251, разделитель «,» или «;», заголовок необязателен (phone,name,card,birthday,balance или телефон;имя;карта;дата рождения;баланс). Файл читается задачей в очереди; ход — GET …/imports/{id}. Начальные балансы — записи журнала вида import, по одной на покупателя: повторная загрузка ничего не меняет.",
          ),
          requestBody: { required: true, content: { "text/csv": { schema: { type: "string" } } } },
        },
      },
    )
    .get(
      "/tenants/:slug/imports/:id",
      async ({ params }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const row = await getImport(deps.sql, tenant.id, params.id);
        if (!row) throw errors.notFound("Загрузка не найдена.", "id");
        return importStatus(deps, tenant.id, row);
      },
      { response: { 200: ImportStatus, ...errs }, detail: detail("Ход загрузки и ошибки по строкам", `Первые ${ERRORS_SHOWN} ошибок; все — errors.csv.`) },
    )
    .get(
      "/tenants/:slug/imports/:id/errors.csv",
      async ({ params }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const row = await getImport(deps.sql, tenant.id, params.id);
        if (!row) throw errors.notFound("Загрузка не найдена.", "id");
        return csvResponse(importErrorsCsv(deps.sql, tenant.id, row.id), `errors-${row.id}.csv`);
      },
      { detail: { ...detail("Ошибки загрузки по строкам (CSV)"), ...csvDoc } },
    )
    .get(
      "/tenants/:slug/customers.csv",
      async ({ params }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        return csvResponse(customersCsv(deps.sql, tenant.id), `customers-${tenant.slug}.csv`);
      },
      { detail: { ...detail("Все покупатели (CSV)", "Кроме тех, чьи данные удалены по их просьбе."), ...csvDoc } },
    )
    .get(
      "/tenants/:slug/ledger.csv",
      async ({ params }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        return csvResponse(ledgerCsv(deps.sql, tenant.id), `ledger-${tenant.slug}.csv`);
      },
      { detail: { ...detail("Журнал баллов целиком (CSV)", "Покупатель — по id, без персональных данных."), ...csvDoc } },
    )
    .patch(
      "/tenants/:slug/customers/:id",
      async ({ params, body }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        return adminCustomer(await updateProfile(deps.sql, tenant.id, params.id, body));
      },
      { body: ProfilePatch, response: { 200: AdminCustomer, ...errs, 409: ErrorBody }, detail: detail("Исправить телефон, имя, дату рождения") },
    )
    .get(
      "/tenants/:slug/customers/:id/messages",
      async ({ params }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        const rows = await customerMessages(deps.sql, tenant.id, params.id);
        return { rows: rows.map((m) => ({ channel: m.channel, status: m.status, purpose: m.purpose, text: m.text, error: m.error, createdAt: m.created_at.toISOString() })) };
      },
      {
        params: t.Object({ slug: t.String(), id: t.String({ format: "uuid" }) }),
        response: { 200: t.Object({ rows: t.Array(CustomerMessage) }), ...errs },
        detail: detail("Сообщения покупателю", "Новые первыми, до 50."),
      },
    )
    .delete(
      "/tenants/:slug/customers/:id/personal-data",
      async ({ params }) => {
        const tenant = await deps.tenants.requireBySlug(params.slug);
        if (!(await erasePersonalData(deps.sql, tenant.id, params.id))) throw errors.customerNotFound("id");
        // A Response of our own: from `set.status = 204` Elysia builds one with an empty-string
        // body, which Deno refuses for 204 (a 500 after the erasure was done).
        return new Response(null, { status: 204 });
      },
      {
        response: { 204: t.Null(), ...errs },
        detail: detail(
          "Удалить персональные данные покупателя (152-ФЗ)",
          "Имя, телефон, карта, QR, e-mail, дата рождения, связь с МойСклад, подписки и данные покупателя в чеках удаляются; баланс и журнал остаются обезличенными. Покупателя больше нельзя найти, в выгрузку он не попадает.",
        ),
      },
    );
