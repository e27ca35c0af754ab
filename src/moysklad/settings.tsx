// The page МойСклад shows inside itself (main iframe): the merchant's program, the goods
// excluded by product group, and the one-click connection to Касса МойСклад. Also the app
// descriptor for the developer cabinet. Thin: rules in install.ts, the form in program-form.tsx.
import { fileURLToPath } from "node:url";
import Html from "@kitajs/html";
import { Elysia } from "elysia";
import type { MoyskladConfig } from "../config.ts";
import { plural } from "../loyalty/messages.ts";
import { DEFAULT_PROGRAM_SETTINGS, type ProgramSettings } from "../loyalty/program.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { log } from "../log.ts";
import { cabinetBase, merchantNav, SETTINGS_PATH, withSession } from "../merchant/nav.ts";
import { type Merchant, merchantGuard, MerchantSessions, SESSION_FIELD, SessionError } from "../merchant/session.ts";
import { ProgramFieldsForm, ProgramFormError, readProgramForm } from "../merchant/program-form.tsx";
import { serveAsset } from "../pages/assets.ts";
import { htmlResponse, Notice, Page } from "../pages/layout.tsx";
import { MoyskladClient, MoyskladError } from "./api-client.ts";
import { activate, findInstall, type FolderView, installOfTenant, listFolders, refreshCatalog, setExcludedFolders } from "./install.ts";

serveAsset("moysklad-iframe.js", () => fileURLToPath(new URL("./static/iframe-height.js", import.meta.url)), "text/javascript; charset=utf-8");

type NoticeItem = { kind: "ok" | "error" | "warn"; text: string };

/** What went wrong, in words for the merchant (never a stack trace). */
function wordsOf(e: unknown): string {
  if (e instanceof MoyskladError) return `Ответ МойСклад: ${e.words}.`;
  if (e instanceof ProgramFormError) return e.message;
  if (e instanceof ApiError) return e.items.map((i) => i.error_message).join(" ");
  if (e instanceof SessionError) return e.message;
  log.error("settings page failed", { err: (e as Error)?.message });
  return "Не удалось выполнить действие. Попробуйте ещё раз через минуту.";
}

function ErrorPage(props: { text: string }): JSX.Element {
  return (
    <Page title="Программа лояльности" brand="Программа лояльности" scripts={["moysklad-iframe.js"]}>
      <Notice kind="error" text={props.text} />
    </Page>
  );
}

function FolderPicker(props: { folders: FolderView[]; readOnly: boolean }): JSX.Element {
  if (props.folders.length === 0) return <p class="muted">Групп товаров пока нет: создайте их в МойСклад («Товары и услуги») и нажмите «Обновить группы из МойСклад».</p>;
  return (
    <div class="folders">
      {props.folders.map((f) => (
        <div class="field check">
          <input type="checkbox" id={`g-${f.id}`} name="folder" value={f.id} checked={f.excluded} disabled={props.readOnly} />
          <label for={`g-${f.id}`}>
            <span safe>{f.pathName ? `${f.pathName} / ${f.name}` : f.name}</span>{" "}
            <span class="muted" safe>
              {`(${f.goods} ${goodsWord(f.goods)})` + (f.excludedWith && !f.excluded ? ` — уже без баллов вместе с группой «${f.excludedWith}»` : "")}
            </span>
          </label>
        </div>
      ))}
    </div>
  );
}

const goodsWord = (n: number) => plural(n, ["товар", "товара", "товаров"]);

const moscow = (d: Date) => d.toLocaleString("ru-RU", { timeZone: "Europe/Moscow", dateStyle: "short", timeStyle: "short" });

async function settingsPage(
  deps: AppDeps,
  m: Merchant,
  notices: NoticeItem[],
  status = 200,
  refused?: { typed: Record<string, unknown>; invalid?: keyof ProgramSettings },
): Promise<Response> {
  const install = await installOfTenant(deps.sql, m.tenant.id);
  const tenant = await deps.tenants.requireBySlug(m.tenant.slug);
  const defaults = DEFAULT_PROGRAM_SETTINGS;
  const folders = await listFolders(deps.sql, m.tenant.id);
  const connected = install?.status === "Activated" && install.loyalty_registered_at !== null;
  const readOnly = !m.canEdit;
  const page = (
    <Page
      title="Программа лояльности — настройки"
      brand={`Программа лояльности · ${m.tenant.name}`}
      nav={merchantNav(m.tenant.slug, m.token, "settings")}
      scripts={["moysklad-iframe.js"]}
    >
      <h1>Настройки программы лояльности</h1>
      <div id="notices">
        {notices.map((n) => (
          <Notice kind={n.kind} text={n.text} />
        ))}
      </div>
      <div class="card" id="connection">
        {connected ? (
          <p>
            <span class="badge ok">Подключено</span> Касса МойСклад начисляет и списывает баллы через эту программу.
          </p>
        ) : (
          <p>
            <span class="badge bad">Не подключено</span> Проверьте настройки ниже и нажмите «Сохранить и подключить» внизу страницы — программа подключится к Кассе МойСклад.
          </p>
        )}
        {m.tenant.state === "suspended" ? <Notice kind="warn" text="Подписка на приложение приостановлена: касса не начисляет баллы до её оплаты." /> : ""}
        {readOnly ? <p class="muted">Вы можете только смотреть настройки: менять их может администратор аккаунта МойСклад.</p> : ""}
      </div>
      <div class="card" id="cabinet">
        <p>
          <strong>Кабинет программы</strong> — покупатели и их баллы, продажи, сертификаты, акции, отчёт «Обзор», загрузка покупателей из прежней программы и выгрузка.
        </p>
        <p>
          <a class="button" href={withSession(cabinetBase(m.tenant.slug), m.token)}>Открыть кабинет</a>
        </p>
      </div>
      <form method="post" action={SETTINGS_PATH}>
        <input type="hidden" name={SESSION_FIELD} value={m.token} />
        <ProgramFieldsForm values={tenant.program.settings} defaults={defaults} readOnly={readOnly} typed={refused?.typed} invalid={refused?.invalid} />
        <fieldset class="card">
          <legend>Товары без начисления баллов</legend>
          <p class="hint">За товары из отмеченных групп (и их подгрупп) баллы не начисляются. Группы берутся из вашего каталога МойСклад.</p>
          <FolderPicker folders={folders} readOnly={readOnly} />
          <p class="hint" safe>
            {(install?.catalog_refreshed_at
              ? `Группы обновлены ${moscow(install.catalog_refreshed_at)} (МСК); обновляются каждый день.`
              : "Группы ещё не загружены из МойСклад.") + (install?.catalog_error ? ` Последняя попытка не удалась: ${install.catalog_error}.` : "")}
          </p>
          {readOnly ? "" : (
            <button type="submit" formaction={`${SETTINGS_PATH}/catalog`} name="refresh" value="1">
              Обновить группы из МойСклад
            </button>
          )}
        </fieldset>
        {/* The page is long: the save bar stays at the bottom of the window while the
            merchant scrolls (sticky within the form, so at the end it sits after the last
            field instead of over it). Viewers have nothing to save and get no bar. */}
        {readOnly ? "" : (
          <div class="save-bar" id="save-bar">
            <button type="submit" class="primary">
              {connected ? "Сохранить" : "Сохранить и подключить"}
            </button>
            <span class="hint">Изменения вступят в силу после сохранения.</span>
          </div>
        )}
      </form>
    </Page>
  );
  return htmlResponse(page, status);
}

function folderIds(body: unknown): string[] {
  const raw = (body as Record<string, unknown> | undefined)?.folder;
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return list.filter((x): x is string => typeof x === "string" && /^[0-9a-f-]{36}$/i.test(x)).slice(0, 10_000);
}

/**
 * The app descriptor (schema v2). Read access to «Товары и услуги» (`good`: goods, services,
 * bundles, variants and their groups) is all the excluded-goods picker needs.
 */
export const descriptorXml = (cfg: MoyskladConfig) => `<?xml version="1.0" encoding="UTF-8"?>
<ServerApplication xmlns="https://apps-api.moysklad.ru/xml/ns/appstore/app/v2"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="https://apps-api.moysklad.ru/xml/ns/appstore/app/v2 https://apps-api.moysklad.ru/xml/ns/appstore/app/v2/application-v2.xsd">
    <iframes>
        <iframe type="main" sourceUrl="${Html.escapeHtml(cfg.publicUrl + SETTINGS_PATH)}"/>
    </iframes>
    <vendorApi>
        <endpointBase>${Html.escapeHtml(cfg.publicUrl)}</endpointBase>
    </vendorApi>
    <access>
        <resource>https://api.moysklad.ru/api/remap/1.2</resource>
        <scope>custom</scope>
        <permissions>
            <good><view/></good>
        </permissions>
    </access>
    <loyaltyApi/>
</ServerApplication>
`;

export const settingsController = (deps: AppDeps, cfg: MoyskladConfig) => {
  const sessions = new MerchantSessions(cfg.secretsKey);
  const client = new MoyskladClient(cfg);
  const guarded = new Elysia()
    .use(merchantGuard(sessions, deps.sql, (words) => htmlResponse(<ErrorPage text={words} />, 401)))
    .post(SETTINGS_PATH, async ({ merchant, body }) => {
      if (!merchant.canEdit) return settingsPage(deps, merchant, [{ kind: "error", text: "Менять настройки может только администратор аккаунта МойСклад." }], 403);
      const notices: NoticeItem[] = [];
      try {
        const patch = readProgramForm(body as Record<string, unknown>);
        await deps.tenants.updateProgram(merchant.tenant.slug, patch);
        await setExcludedFolders(deps.sql, deps.tenants, merchant.tenant.id, folderIds(body));
        notices.push({ kind: "ok", text: "Настройки сохранены." });
      } catch (e) {
        const typed = (body ?? {}) as Record<string, unknown>;
        return settingsPage(deps, merchant, [{ kind: "error", text: `Не сохранено. ${wordsOf(e)}` }], 400, { typed, invalid: e instanceof ProgramFormError ? e.field.key : undefined });
      }
      if (merchant.tenant.state === "active") {
        try {
          const done = await activate(deps.sql, cfg, client, deps.tenants, merchant.tenant.id);
          if (done === "activated") notices.push({ kind: "ok", text: "Программа подключена к Кассе МойСклад: касса будет начислять и списывать баллы." });
        } catch (e) {
          notices.push({ kind: "error", text: `Не удалось подключить программу к Кассе МойСклад. ${wordsOf(e)} Нажмите «Сохранить и подключить» ещё раз позже.` });
        }
      }
      return settingsPage(deps, merchant, notices);
    })
    .post(`${SETTINGS_PATH}/catalog`, async ({ merchant }) => {
      if (!merchant.canEdit) return settingsPage(deps, merchant, [{ kind: "error", text: "Обновлять группы может только администратор аккаунта МойСклад." }], 403);
      try {
        const r = await refreshCatalog(deps.sql, cfg, client, deps.tenants, merchant.tenant.id);
        return settingsPage(deps, merchant, [{ kind: "ok", text: `Группы обновлены из МойСклад: ${r.folders} ${plural(r.folders, ["группа", "группы", "групп"])}, ${r.goods} ${goodsWord(r.goods)}.` }]);
      } catch (e) {
        return settingsPage(deps, merchant, [{ kind: "error", text: `Группы не обновлены. ${wordsOf(e)}` }], 502);
      }
    });

  return new Elysia({ detail: { hide: true } })
    .get("/moysklad/descriptor.xml", () => new Response(descriptorXml(cfg), { headers: { "content-type": "application/xml; charset=utf-8" } }))
    .get(SETTINGS_PATH, async ({ query }) => {
      const q = query as Record<string, string | undefined>;
      // Back from the cabinet: the session МойСклад's contextKey started is enough (the key
      // itself is not kept in our pages).
      if (!q.contextKey && q[SESSION_FIELD] !== undefined) {
        try {
          return await settingsPage(deps, await sessions.resolve(deps.sql, q[SESSION_FIELD]), []);
        } catch (e) {
          if (e instanceof SessionError) return htmlResponse(<ErrorPage text={e.message} />, 401);
          throw e;
        }
      }
      if (!q.contextKey || q.contextKey.length > 2000) return htmlResponse(<ErrorPage text="Откройте эту страницу из МойСклад: «Приложения» → «Программа лояльности»." />, 400);
      if ((q.appId && q.appId.toLowerCase() !== cfg.appId) || (q.appUid && q.appUid !== cfg.appUid)) {
        return htmlResponse(<ErrorPage text="Эта страница открыта для другого приложения МойСклад." />, 400);
      }
      let employee;
      try {
        employee = await client.employeeByContextKey(q.contextKey);
      } catch (e) {
        const expired = e instanceof MoyskladError && (e.status === 404 || e.status === 403);
        return htmlResponse(<ErrorPage text={expired ? "Ссылка устарела. Откройте приложение в МойСклад заново." : `Не удалось узнать пользователя МойСклад. ${wordsOf(e)}`} />, expired ? 401 : 502);
      }
      // The account comes from МойСклад's answer, never from the URL.
      const install = typeof employee?.accountId === "string" ? await findInstall(deps.sql, cfg.appId, employee.accountId.toLowerCase()) : null;
      if (!install || install.state === "uninstalled") return htmlResponse(<ErrorPage text="Приложение не установлено на этот аккаунт МойСклад." />, 403);
      const role = employee.permissions?.admin?.view === "ALL" ? "admin" : "viewer";
      const token = await sessions.issue({ tenantId: install.tenant_id, accountId: install.account_id, userId: String(employee.id ?? ""), role, name: employee.shortFio || employee.fullName });
      const merchant = await sessions.resolve(deps.sql, token);
      const notices: NoticeItem[] = [];
      if (!install.catalog_refreshed_at && install.state === "active") {
        try {
          await refreshCatalog(deps.sql, cfg, client, deps.tenants, install.tenant_id);
        } catch (e) {
          notices.push({ kind: "warn", text: `Группы товаров не загружены. ${wordsOf(e)}` });
        }
      }
      return settingsPage(deps, merchant, notices);
    })
    .use(guarded);
};

