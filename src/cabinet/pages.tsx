// The merchant's cabinet: server-rendered pages under /cabinet/:slug. Each page reads and
// acts through the same use-cases as the admin API (src/cabinet/*.ts, src/loyalty/*.ts);
// this file only turns requests into calls and results into HTML.
import { fileURLToPath } from "node:url";
import { createPromotion, endPromotion, listPromotions, type Promotion, type PromotionInput } from "../loyalty/promotions.ts";
import { adjustPoints } from "../loyalty/adjustments.ts";
import { createRequire } from "node:module";
import Html from "@kitajs/html";
import { Elysia } from "elysia";
import { cardUrl } from "../card/card.ts";
import type { AppDeps } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { searchCustomers } from "../loyalty/customers.ts";
import {
  blockGiftCard,
  findGiftCard,
  giftCardEntries,
  giftCardStatus,
  GIFT_CARD_STATUSES,
  type GiftCardStatus,
  issueGiftCard,
  listGiftCards,
} from "../loyalty/giftcards.ts";
import { listLedger } from "../loyalty/ledger.ts";
import { prettyPhone } from "../loyalty/phone.ts";
import { tierView } from "../loyalty/tiers.ts";
import { serveAsset, assetUrl } from "../pages/assets.ts";
import { htmlResponse, Notice, Page } from "../pages/layout.tsx";
import { calendarDate, zonedToEpochMs } from "../loyalty/moment.ts";
import { type CabinetSection, cabinetBase, merchantNav, withSession } from "../merchant/nav.ts";
import { MerchantSessions, SESSION_FIELD, tokenFrom } from "../merchant/session.ts";
import { cabinetViewer, CABINET_REALM, isViewer, type Viewer } from "./access.ts";
import {
  customerDocuments,
  customerMessages,
  erasePersonalData,
  getCustomerCard,
  ledgerKindText,
  newCardLink,
  pendingPoints,
  recentCustomers,
  updateProfile,
  withLastPurchase,
  type CustomerListRow,
} from "./customers.ts";
import {
  attentionReasons,
  type CabinetDocument,
  DOCUMENT_FILTERS,
  DOCUMENT_STATE_TEXT,
  type DocumentFilter,
  getDocument,
  heldWords,
  listDocuments,
} from "./documents.ts";
import { decideHold, type HoldDecision, holdStage } from "../loyalty/holds.ts";
import { csvResponse, customersCsv, ledgerCsv } from "./export.ts";
import { getImport, importErrors, importErrorsCsv, IMPORT_MAX_BYTES, type ImportRow, recentImports, startImport } from "./import.ts";
import { overviewStats, resolvePeriod, type Stats } from "./stats.ts";

const require = createRequire(import.meta.url);
serveAsset("uPlot.iife.min.js", () => require.resolve("uplot/dist/uPlot.iife.min.js"), "text/javascript; charset=utf-8");
serveAsset("uPlot.min.css", () => require.resolve("uplot/dist/uPlot.min.css"), "text/css; charset=utf-8");
serveAsset("cabinet.css", () => fileURLToPath(new URL("./static/cabinet.css", import.meta.url)), "text/css; charset=utf-8");
serveAsset("cabinet-overview.js", () => fileURLToPath(new URL("./static/overview.js", import.meta.url)), "text/javascript; charset=utf-8");

// ---------------------------------------------------------------------------------
// Formatting for people.

// Dates and times as the merchant's clocks show them (the program's time zone).
const dateTime = (d: Date | null, zone: string) => (d ? d.toLocaleString("ru-RU", { timeZone: zone, day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit" }) : "—");
const dateOnly = (d: Date | null, zone: string) => (d ? d.toLocaleDateString("ru-RU", { timeZone: zone }) : "—");
const roubles = (r: number) => r.toLocaleString("ru-RU", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + " ₽";
const rub = (kopecks: number) => roubles(kopecks / 100);
const num = (n: number) => n.toLocaleString("ru-RU");
const signed = (n: number) => (n > 0 ? "+" : n < 0 ? "−" : "") + num(Math.abs(n));
const phoneText = (p: string | null) => (p ? prettyPhone(p) : "—");
const birthdayText = (b: string | null) => (b ? b.split("-").reverse().join(".") : "—");

const GIFT_STATUS_TEXT: Record<GiftCardStatus, string> = {
  CAN_BE_USED: "Действует",
  PARTIALLY_REDEEMED: "Частично погашен",
  REDEEMED: "Погашен",
  EXPIRED: "Истёк срок",
  INVALID: "Заблокирован",
};

// ---------------------------------------------------------------------------------
// The frame.

function cabinetPage(v: Viewer, section: CabinetSection, title: string, body: JSX.Element | string, opts: { scripts?: string[]; status?: number } = {}) {
  return htmlResponse(
    Page({
      title: `${title} — ${v.shopName}`,
      // As on the settings page, so the two read as one app.
      brand: `Программа лояльности · ${v.shopName}`,
      nav: merchantNav(v.slug, v.session, section),
      // Inside МойСклад the frame grows to the page's height (as on the settings page).
      scripts: [...(v.session ? ["moysklad-iframe.js"] : []), ...(opts.scripts ?? [])],
      children: (
        <>
          <link rel="stylesheet" href={assetUrl("cabinet.css")} />
          {v.canEdit ? "" : <Notice kind="warn" text="Вы можете только смотреть: менять данные может администратор аккаунта МойСклад." />}
          {body}
        </>
      ),
    }),
    opts.status,
  );
}

const base = (v: Viewer) => cabinetBase(v.slug);
/** An address in this cabinet for links, htmx and redirects: it carries the viewer's session, if any. */
const link = (v: Viewer, path: string, params: Record<string, string | undefined> = {}) => withSession(base(v) + path, v.session, params);
/** Inside every form of the cabinet: a form's fields are all it sends (GET forms drop the action's query). */
const SessionField = (p: { v: Viewer }) => (p.v.session ? <input type="hidden" name={SESSION_FIELD} value={p.v.session} /> : "");
const seeOther = (location: string) => new Response(null, { status: 303, headers: { location, "cache-control": "no-store" } });

/** The message an ApiError carries for a person; anything else is not ours to show. */
function problem(e: unknown): string {
  if (e instanceof ApiError) return e.items.map((i) => i.error_message).join(" ");
  throw e;
}

const str = (v: unknown) => (typeof v === "string" ? v : "");

// Notices after a redirect: codes, never text from the URL.
const DONE: Record<string, string> = {
  adjusted: "Баллы изменены.",
  profile: "Данные покупателя сохранены.",
  erased: "Персональные данные покупателя удалены. Баланс и журнал баллов сохранены обезличенно.",
  issued: "Сертификат выпущен.",
  blocked: "Сертификат заблокирован.",
  promoted: "Акция создана.",
  ended: "Акция завершена.",
  "hold-approved": "Решение принято: баллы проведены.",
  "hold-rejected": "Решение принято: баллы не проведены.",
};
const doneNotice = (q: Record<string, string | undefined>) => (q.done && DONE[q.done] ? <Notice kind="ok" text={DONE[q.done]!} /> : "");

// ---------------------------------------------------------------------------------
// Обзор

function StatCard(p: { label: string; value: string; hint?: string }) {
  return (
    <div class="card stat">
      <div class="value" safe>{p.value}</div>
      <div class="label" safe>{p.label}</div>
      {p.hint ? <p class="hint" safe>{p.hint}</p> : ""}
    </div>
  );
}

function overviewBody(v: Viewer, s: Stats, error?: string) {
  const t = s.totals;
  // Inside <script type="application/json">: "<" escaped so no text can close the element.
  const safeJson = JSON.stringify({ days: s.days }).replace(/</g, "\\u003c");
  return (
    <>
      <link rel="stylesheet" href={assetUrl("uPlot.min.css")} />
      <h1>Обзор</h1>
      {error ? <Notice kind="error" text={error} /> : ""}
      <form method="get" action={base(v)} class="card period">
        <SessionField v={v} />
        <label for="from">Период</label>
        <input type="date" id="from" name="from" value={s.period.from} /> — <input type="date" id="to" name="to" value={s.period.to} aria-label="по" />{" "}
        <button type="submit">Показать</button>
        <p class="hint" safe>{`Дни — по часовому поясу магазина (${v.timeZone}), включая оба дня.`}</p>
      </form>
      <div class="grid totals">
        <StatCard label={`продаж через программу из ${num(t.receipts)}`} value={num(t.memberReceipts)} hint={`на ${rub(t.memberKopecks)} из ${rub(t.allKopecks)}`} />
        <StatCard label="чеков с известным покупателем" value={`${t.memberShare.toLocaleString("ru-RU")} %`} />
        <StatCard label="средний чек участника" value={rub(t.memberAverageKopecks)} />
        <StatCard label="баллов начислено" value={num(t.pointsEarned)} hint={`списано ${num(t.pointsSpent)}, сгорело ${num(t.pointsBurned)}`} />
        <StatCard label="новых покупателей" value={num(t.newCustomers)} hint="первая покупка в этом периоде" />
        <StatCard label="вернувшихся покупателей" value={num(t.returningCustomers)} hint="купили снова" />
      </div>
      <div class="charts">
        <div class="card"><h2>Продажи по дням, ₽</h2><div id="chart-sales" class="chart"></div></div>
        <div class="card"><h2>Доля чеков с покупателем</h2><div id="chart-share" class="chart"></div></div>
        <div class="card"><h2>Баллы</h2><div id="chart-points" class="chart"></div></div>
        <div class="card"><h2>Покупатели</h2><div id="chart-customers" class="chart"></div></div>
      </div>
      <script type="application/json" id="stats-data">{safeJson}</script>
      <h2>Лучшие покупатели периода</h2>
      {s.top.length === 0 ? (
        <p class="muted">За этот период покупок участников нет.</p>
      ) : (
        <table id="top">
          <thead><tr><th>Покупатель</th><th>Телефон</th><th class="num">Покупок</th><th class="num">На сумму</th><th class="num">Баланс</th></tr></thead>
          <tbody>
            {s.top.map((c) => (
              <tr>
                <td><a href={link(v, `/customers/${c.id}`)} safe>{c.erased ? "Данные удалены" : c.name || "Без имени"}</a></td>
                <td safe>{phoneText(c.phone)}</td>
                <td class="num" safe>{num(c.receipts)}</td>
                <td class="num" safe>{rub(c.kopecks)}</td>
                <td class="num" safe>{num(c.balance)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

// ---------------------------------------------------------------------------------
// Покупатели

type TierView = Awaited<ReturnType<typeof tierView>>;

/** The customer's level as the admin API computes it, in words. */
function LevelCard(p: { tier: TierView; hasTiers: boolean; windowDays: number | null }) {
  const { tier } = p;
  const rate = `${tier.earnPercent.toLocaleString("ru-RU")} % от покупки баллами`;
  const next =
    tier.nextTier !== null && tier.toNextTier !== null ? `До уровня «${tier.nextTier}» осталось купить на ${roubles(tier.toNextTier)}.` : "Это высший уровень программы.";
  return (
    <div class="card" id="level">
      <h2 safe>{`Уровень: ${tier.name}`}</h2>
      <p safe>{`Начисляется ${rate}.`}</p>
      {!p.hasTiers ? (
        <p class="hint">Уровни в программе не настроены: у всех покупателей одна ставка.</p>
      ) : (
        <>
          <p id="next-level" safe>{next}</p>
          <p class="hint" safe>
            {`Уровень считается по покупкам ${p.windowDays === null ? "за всё время" : `за последние ${num(p.windowDays)} дн.`} и меняется, когда проводится продажа.`}
          </p>
        </>
      )}
    </div>
  );
}

/** After a new card link: the old one is dead, the new one was not sent — here it is to pass on. */
function CardLinkIssued(p: { url: string }) {
  return (
    <div class="notice ok" role="status" id="card-link-issued">
      <p><strong>Выдана новая ссылка на карту покупателя.</strong> Старая ссылка и старый QR-код больше не открывают карту и не находятся на кассе.</p>
      <p>По SMS новая ссылка не отправлялась. Передайте её покупателю:</p>
      {/* Text, not a link: a link of the cabinet would carry the merchant's session. */}
      <input type="text" readonly id="card-link" value={p.url} aria-label="Новая ссылка на карту" />
    </div>
  );
}

function customerRows(v: Viewer, rows: CustomerListRow[], q: string) {
  return (
    <div id="results">
      {q || rows.length === 0 ? "" : <p class="muted">Новые покупатели:</p>}
      {rows.length === 0 ? (
        <p class="muted">{Html.escapeHtml(q ? `По запросу «${q}» никого не нашлось.` : "Покупателей пока нет.")}</p>
      ) : (
        <table>
          <thead><tr><th>Имя</th><th>Телефон</th><th>Карта</th><th class="num">Баланс</th><th class="num">Ожидают</th><th>Последняя покупка</th></tr></thead>
          <tbody>
            {rows.map((c) => (
              <tr>
                <td><a href={link(v, `/customers/${c.id}`)} safe>{c.name || "Без имени"}</a></td>
                <td safe>{phoneText(c.phone)}</td>
                <td safe>{c.card_number ?? "—"}</td>
                <td class="num" safe>{num(c.balance)}</td>
                <td class="num">{Html.escapeHtml(c.pending_balance ? num(c.pending_balance) : "—")}</td>
                <td safe>{dateOnly(c.last_purchase_at, v.timeZone)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

async function customerPage(deps: AppDeps, v: Viewer, id: string, q: Record<string, string | undefined>, error?: string, status = 200) {
  const c = await getCustomerCard(deps.sql, v.tenantId, id);
  if (!c) return cabinetPage(v, "customers", "Покупатель не найден", <Notice kind="error" text="Такого покупателя нет." />, { status: 404 });
  const { program } = await deps.tenants.requireBySlug(v.slug);
  const [tier, ledger, pending, docs, messages] = await Promise.all([
    tierView(deps.sql, v.tenantId, c.id, c.tier, program),
    listLedger(deps.sql, v.tenantId, c.id, { limit: 100 }),
    pendingPoints(deps.sql, v.tenantId, c.id),
    customerDocuments(deps.sql, v.tenantId, c.id),
    customerMessages(deps.sql, v.tenantId, c.id),
  ]);
  const url = `${base(v)}/customers/${c.id}`;
  const title = c.erased_at ? "Данные удалены" : c.name || "Покупатель без имени";
  const body = (
    <>
      <p><a href={link(v, "/customers")}>← Все покупатели</a></p>
      <h1 safe>{title}</h1>
      {c.erased_at ? "" : doneNotice(q)}
      {!c.erased_at && v.canEdit && q.done === "card-link" && c.qr_token ? <CardLinkIssued url={cardUrl(deps.config.publicUrl, c.qr_token)} /> : ""}
      {error ? <Notice kind="error" text={error} /> : ""}
      {c.erased_at ? <Notice kind="warn" text={`Персональные данные удалены ${dateTime(c.erased_at, v.timeZone)} по просьбе покупателя. Баланс и журнал сохранены обезличенно.`} /> : ""}
      <div class="grid totals">
        <div class="card stat"><div class="value" id="balance" safe>{num(c.balance)}</div><div class="label">баллов доступно</div></div>
        <div class="card stat"><div class="value" safe>{num(c.pending_balance)}</div><div class="label">ожидают начисления</div></div>
        <div class="card stat"><div class="value" safe>{num(c.purchases_count)}</div><div class="label" safe>{`покупок на ${rub(c.purchases_kopecks)}`}</div></div>
        <div class="card stat"><div class="value" safe>{dateOnly(c.last_purchase_at, v.timeZone)}</div><div class="label">последняя покупка</div></div>
      </div>
      <LevelCard tier={tier} hasTiers={program.settings.tiers.length > 0} windowDays={program.settings.tierWindowDays} />
      {c.erased_at || !v.canEdit ? (
        ""
      ) : (
        <div class="charts">
          <form class="card" method="post" action={`${url}/adjust`}>
            <h2>Изменить баллы</h2>
            <SessionField v={v} />
            <input type="hidden" name="key" value={crypto.randomUUID()} />
            <div class="field"><label for="points">Баллы</label><input type="number" id="points" name="points" step="1" required placeholder="например, 100 или −50" /></div>
            <div class="field"><label for="reason">Причина</label><input type="text" id="reason" name="reason" required maxlength="500" placeholder="за что или почему" /></div>
            <button type="submit" class="primary">Провести</button>
            <p class="hint">Отрицательное число списывает. Ниже нуля баланс вручную не опускается.</p>
          </form>
          <form class="card" method="post" action={`${url}/profile`}>
            <h2>Данные покупателя</h2>
            <SessionField v={v} />
            <div class="field"><label for="phone">Телефон</label><input type="tel" id="phone" name="phone" value={c.phone ? prettyPhone(c.phone) : ""} /></div>
            <div class="field"><label for="name">Имя</label><input type="text" id="name" name="name" value={c.name ?? ""} maxlength="200" /></div>
            <div class="field"><label for="birthDate">Дата рождения</label><input type="date" id="birthDate" name="birthDate" value={c.birth_date ?? ""} /></div>
            <p class="hint" safe>{`Карта: ${c.card_number ?? "нет"}`}</p>
            <button type="submit">Сохранить</button>
          </form>
          <form class="card" method="post" action={`${url}/card-link`}>
            <h2>Ссылка на карту покупателя</h2>
            <SessionField v={v} />
            <p>Если покупатель потерял телефон или его ссылку увидел кто-то чужой, выдайте новую: старая ссылка и старый QR-код перестанут открывать карту и находиться на кассе. Баллы и история останутся.</p>
            <p class="hint">SMS с новой ссылкой не отправляется: она появится здесь, передайте её покупателю.</p>
            <button type="submit">Выдать новую ссылку</button>
          </form>
        </div>
      )}
      <h2>Журнал баллов</h2>
      {ledger.length === 0 ? (
        <p class="muted">Записей пока нет.</p>
      ) : (
        <table id="ledger">
          <thead><tr><th>Когда</th><th>Что</th><th class="num">Баллы</th><th>Подробности</th></tr></thead>
          <tbody>
            {ledger.map((e) => (
              <tr>
                <td safe>{dateTime(e.created_at, v.timeZone)}</td>
                <td safe>{ledgerKindText(e.kind) + (e.released_at === null ? ` (станут доступны ${dateOnly(e.available_at, v.timeZone)})` : "")}</td>
                <td class="num" safe>{signed(e.points)}</td>
                <td safe>{e.reason ?? (e.document_id ? "по чеку" : "")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {pending.length > 0 ? (
        <>
          <h2>Ожидают начисления</h2>
          <ul>
            {pending.map((p) => (
              <li safe>{`${num(p.points)} баллов станут доступны ${dateTime(p.available_at, v.timeZone)}`}</li>
            ))}
          </ul>
        </>
      ) : (
        ""
      )}
      <p class="hint">Сгорание баллов в программе не настроено: сгорающих баллов нет.</p>
      <h2>Покупки и возвраты</h2>
      {docs.length === 0 ? (
        <p class="muted">Покупок пока нет.</p>
      ) : (
        <table>
          <thead><tr><th>Когда</th><th>Документ</th><th class="num">Сумма</th><th class="num">Списано</th><th class="num">Начислено</th><th>Состояние</th></tr></thead>
          <tbody>
            {docs.map((d) => (
              <tr>
                <td safe>{dateTime(d.moment, v.timeZone)}</td>
                <td safe>{`${d.kind === "sale" ? "Продажа" : "Возврат"} ${d.name ?? ""}`}</td>
                <td class="num" safe>{rub(d.total_kopecks)}</td>
                <td class="num" safe>{num(d.points_spent)}</td>
                <td class="num" safe>{num(d.points_earned)}</td>
                <td safe>{DOCUMENT_STATE_TEXT[d.state] ?? d.state}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Сообщения</h2>
      {messages.length === 0 ? (
        <p class="muted">Сообщений не отправлялось.</p>
      ) : (
        <table>
          <thead><tr><th>Когда</th><th>Канал</th><th>Текст</th><th>Итог</th></tr></thead>
          <tbody>
            {messages.map((m) => (
              <tr>
                <td safe>{dateTime(m.created_at, v.timeZone)}</td>
                <td safe>{({ sms: "SMS", push: "Push", log: "—" } as Record<string, string>)[m.channel] ?? m.channel}</td>
                <td safe>{m.purpose === "code" ? "Код подтверждения" : m.purpose === "card" ? "Ссылка на карту покупателя" : m.text ?? ""}</td>
                <td safe>{m.channel === "log" ? "не отправлено: SMS и push не настроены" : m.status === "sent" ? "отправлено" : `ошибка: ${m.error ?? ""}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {c.erased_at || !v.canEdit ? (
        ""
      ) : (
        <form class="card danger-zone" method="post" action={`${url}/erase`}>
          <h2>Удалить персональные данные</h2>
          <SessionField v={v} />
          <p>По просьбе покупателя (152-ФЗ): имя, телефон, карта, дата рождения, подписки и данные в чеках будут удалены безвозвратно. Баланс и журнал баллов останутся обезличенными; найти покупателя будет нельзя.</p>
          <div class="check"><input type="checkbox" id="confirm" name="confirm" value="yes" required /><label for="confirm">Покупатель попросил удалить его данные</label></div>
          <p><button type="submit" class="danger">Удалить данные</button></p>
        </form>
      )}
    </>
  );
  return cabinetPage(v, "customers", title, body, { status });
}

// ---------------------------------------------------------------------------------
// Документ: баллы, ждущие решения

const DECISION_TEXT: Record<HoldDecision, string> = { approved: "проведено", rejected: "отклонено" };

/** "Проведено 12.03.2025, 10:15 — Иванов И. И. (МойСклад). Примечание: …" */
function decisionWords(v: Viewer, d: Pick<CabinetDocument, "hold_decision" | "hold_decided_at" | "hold_decided_by" | "hold_note">): string {
  if (!d.hold_decision) return "";
  const what = d.hold_decision === "approved" ? "Проведено" : "Отклонено";
  const who = d.hold_decided_by ? ` — ${d.hold_decided_by}` : "";
  const note = d.hold_note ? ` Примечание: «${d.hold_note}».` : "";
  return `${what} ${dateTime(d.hold_decided_at, v.timeZone)}${who}.${note}`;
}

/** Under a document's state in lists: what is held and where its decision stands, in one line. */
function HoldLine(p: { v: Viewer; d: CabinetDocument }) {
  const { v, d } = p;
  const stage = holdStage(d);
  if (stage === "none") return "";
  const href = link(v, `/documents/${d.id}`);
  if (stage === "open") {
    return (
      <p class="hold-line">
        <span class="badge bad" safe>{`Ждёт решения: ${heldWords(d)}`}</span>{" "}
        <a href={href}>{v.canEdit ? "Решить" : "Подробнее"}</a>
      </p>
    );
  }
  if (stage === "not-settled") return <p class="hint" safe>{`Ждёт проведения, затем решения: ${heldWords(d)}.`}</p>;
  return (
    <p class="hint">
      <span safe>{`Решение по баллам: ${DECISION_TEXT[stage]}`}</span> <a href={href}>подробнее</a>
    </p>
  );
}

type HoldConfirm = { decision: HoldDecision; note: string };

async function documentPage(
  deps: AppDeps,
  v: Viewer,
  id: string,
  q: Record<string, string | undefined>,
  opts: { error?: string; status?: number; confirm?: HoldConfirm } = {},
) {
  const d = await getDocument(deps.sql, v.tenantId, id);
  if (!d) return cabinetPage(v, "documents", "Документ не найден", <Notice kind="error" text="Такого документа нет." />, { status: 404 });
  const stage = holdStage(d);
  const title = `${d.kind === "sale" ? "Продажа" : "Возврат"} ${d.name ?? ""}`.trim();
  const url = `${base(v)}/documents/${d.id}`;
  const customer = d.customer_erased ? "Данные удалены" : d.customer_name || "Без имени";
  const held = heldWords(d);
  const body = (
    <>
      <p><a href={link(v, "/documents", { filter: "attention" })}>← Документы, требующие внимания</a></p>
      <h1 safe>{title}</h1>
      {doneNotice(q)}
      {opts.error ? <Notice kind="error" text={opts.error} /> : ""}
      <div class="grid totals">
        <div class="card stat"><div class="value" safe>{dateTime(d.moment, v.timeZone)}</div><div class="label">когда</div></div>
        <div class="card stat"><div class="value" safe>{rub(d.total_kopecks)}</div><div class="label">сумма</div></div>
        <div class="card stat"><div class="value">{Html.escapeHtml(d.customer_id ? num(d.points_spent) : "—")}</div><div class="label">баллов списано</div></div>
        <div class="card stat"><div class="value">{Html.escapeHtml(d.customer_id ? num(d.points_earned) : "—")}</div><div class="label">баллов начислено</div></div>
      </div>
      <p>
        <span safe>{`Состояние: ${DOCUMENT_STATE_TEXT[d.state] ?? d.state}. Покупатель: `}</span>
        {d.customer_id ? <a href={link(v, `/customers/${d.customer_id}`)} safe>{customer}</a> : <span class="muted">{Html.escapeHtml(d.match_status === "unmatched" ? "не найден" : "без покупателя")}</span>}
        {d.customer_id && d.customer_balance !== null ? <span safe>{` (баланс сейчас ${num(d.customer_balance)})`}</span> : ""}
      </p>
      {stage === "none" ? (
        attentionReasons(d).map((r) => <p class="hint" safe>{r}</p>)
      ) : (
        <div class={stage === "open" ? "card hold open" : "card hold"} id="hold">
          <h2>{stage === "approved" || stage === "rejected" ? "Баллы, ждавшие решения" : "Баллы, ждущие решения"}</h2>
          <p safe>{stage === "approved" || stage === "rejected" ? `Ждали решения: ${held}.` : `По этому чеку не проведено: ${held}.`}</p>
          {d.flag_reason ? <p safe>{`Почему: ${d.flag_reason}`}</p> : ""}
          {stage === "not-settled" ? (
            <Notice kind="warn" text="Продажа ещё не проведена: решение можно будет принять после проведения (обычно через несколько секунд). Обновите страницу немного позже." />
          ) : stage === "approved" || stage === "rejected" ? (
            <Notice kind={stage === "approved" ? "ok" : "warn"} text={`Решение принято. ${decisionWords(v, d)}`} />
          ) : !v.canEdit ? (
            <p class="muted">Решение ещё не принято. Принять его может администратор аккаунта МойСклад.</p>
          ) : opts.confirm ? (
            <form method="post" action={`${url}/hold`} id="hold-confirm">
              <SessionField v={v} />
              <input type="hidden" name="decision" value={opts.confirm.decision === "approved" ? "approve" : "reject"} />
              <input type="hidden" name="note" value={opts.confirm.note} />
              <input type="hidden" name="confirm" value="yes" />
              <p>
                <strong safe>
                  {opts.confirm.decision === "approved"
                    ? `Провести ${held} покупателю «${customer}»? Баллы попадут в его журнал сразу.`
                    : `Отклонить ${held} покупателю «${customer}»? Баллы не будут проведены.`}
                </strong>
              </p>
              {opts.confirm.note ? <p safe>{`Примечание: «${opts.confirm.note}».`}</p> : <p class="hint">Без примечания.</p>}
              <p class="hint">Решение принимается один раз: изменить его потом нельзя.</p>
              <p>
                <button type="submit" class={opts.confirm.decision === "approved" ? "primary" : "danger"}>
                  {opts.confirm.decision === "approved" ? "Да, провести" : "Да, отклонить"}
                </button>{" "}
                <a class="button" href={link(v, `/documents/${d.id}`)}>Отмена</a>
              </p>
            </form>
          ) : (
            <form method="post" action={`${url}/hold`} id="hold-decide">
              <SessionField v={v} />
              <div class="field">
                <label for="note">Примечание (необязательно)</label>
                <input type="text" id="note" name="note" maxlength="500" placeholder="например, кассир подтвердил" />
              </div>
              <p>
                <button type="submit" class="primary" name="decision" value="approve">Провести</button>{" "}
                <button type="submit" class="danger" name="decision" value="reject">Отклонить</button>
              </p>
              <p class="hint">«Провести» — записать баллы покупателю, «Отклонить» — оставить как есть. Перед записью страница попросит подтвердить.</p>
            </form>
          )}
        </div>
      )}
    </>
  );
  return cabinetPage(v, "documents", title, body, { status: opts.status });
}

// ---------------------------------------------------------------------------------
// Сертификаты

async function certificatesPage(deps: AppDeps, v: Viewer, q: Record<string, string | undefined>, error?: string, status = 200) {
  const filter = GIFT_CARD_STATUSES.includes(q.status as GiftCardStatus) ? (q.status as GiftCardStatus) : null;
  const cards = await listGiftCards(deps.sql, v.tenantId, { status: filter, limit: 200 });
  const now = new Date();
  const body = (
    <>
      <h1>Сертификаты</h1>
      {doneNotice(q)}
      {error ? <Notice kind="error" text={error} /> : ""}
      {v.canEdit ? (
        <form class="card" method="post" action={`${base(v)}/certificates`}>
          <h2>Выпустить сертификат</h2>
          <SessionField v={v} />
          <div class="field"><label for="name">Номер</label><input type="text" id="name" name="name" required maxlength="128" value={q.name ?? ""} /></div>
          <div class="field"><label for="amount">Номинал, ₽</label><input type="number" id="amount" name="amount" required min="0.01" step="0.01" value={q.amount ?? ""} /></div>
          <div class="field"><label for="expire">Действует до (необязательно)</label><input type="date" id="expire" name="expire" value={q.expire ?? ""} /></div>
          <button type="submit" class="primary">Выпустить</button>
        </form>
      ) : (
        ""
      )}
      <p class="filters">
        {[null, ...GIFT_CARD_STATUSES].map((s) => (
          <>
            <a href={link(v, "/certificates", { status: s ?? undefined })} aria-current={s === filter ? "page" : undefined}>{Html.escapeHtml(s ? GIFT_STATUS_TEXT[s] : "Все")}</a>{" "}
          </>
        ))}
      </p>
      {cards.length === 0 ? (
        <p class="muted">Сертификатов нет.</p>
      ) : (
        <table>
          <thead><tr><th>Номер</th><th>Статус</th><th class="num">Номинал</th><th class="num">Остаток</th><th>Действует до</th><th>Выпущен</th></tr></thead>
          <tbody>
            {cards.map((c) => (
              <tr>
                <td><a href={link(v, `/certificates/${encodeURIComponent(c.name)}`)} safe>{c.name}</a></td>
                <td safe>{GIFT_STATUS_TEXT[giftCardStatus(c, now)]}</td>
                <td class="num" safe>{rub(c.initial_balance)}</td>
                <td class="num" safe>{rub(c.balance)}</td>
                <td>{Html.escapeHtml(c.expire_at ? dateTime(c.expire_at, v.timeZone) : "бессрочно")}</td>
                <td safe>{dateTime(c.created_at, v.timeZone)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
  return cabinetPage(v, "certificates", "Сертификаты", body, { status });
}

const GIFT_ENTRY_TEXT: Record<string, string> = { issue: "Выпуск", redeem: "Оплата покупки", refund: "Возврат покупки" };

async function certificatePage(deps: AppDeps, v: Viewer, name: string, q: Record<string, string | undefined>) {
  const card = await findGiftCard(deps.sql, v.tenantId, name);
  if (!card) return cabinetPage(v, "certificates", "Сертификат не найден", <Notice kind="error" text={`Сертификата «${name}» нет.`} />, { status: 404 });
  const entries = await giftCardEntries(deps.sql, v.tenantId, card.id);
  const status = giftCardStatus(card, new Date());
  const body = (
    <>
      <p><a href={link(v, "/certificates")}>← Все сертификаты</a></p>
      <h1 safe>{`Сертификат ${card.name}`}</h1>
      {doneNotice(q)}
      <div class="grid totals">
        <div class="card stat"><div class="value" safe>{GIFT_STATUS_TEXT[status]}</div><div class="label">статус</div></div>
        <div class="card stat"><div class="value" safe>{rub(card.balance)}</div><div class="label" safe>{`остаток из ${rub(card.initial_balance)}`}</div></div>
        <div class="card stat"><div class="value">{Html.escapeHtml(card.expire_at ? dateOnly(card.expire_at, v.timeZone) : "бессрочно")}</div><div class="label">действует до</div></div>
      </div>
      {card.blocked_at ? <Notice kind="warn" text={`Заблокирован ${dateTime(card.blocked_at, v.timeZone)}${card.block_reason ? `: ${card.block_reason}` : ""}.`} /> : ""}
      <h2>История</h2>
      <table>
        <thead><tr><th>Когда</th><th>Что</th><th class="num">Сумма</th></tr></thead>
        <tbody>
          {entries.map((e) => (
            <tr>
              <td safe>{dateTime(e.created_at, v.timeZone)}</td>
              <td safe>{GIFT_ENTRY_TEXT[e.kind] ?? e.kind}</td>
              <td class="num" safe>{(e.kopecks > 0 ? "+" : "−") + rub(Math.abs(e.kopecks))}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {card.blocked_at || !v.canEdit ? (
        ""
      ) : (
        <form class="card danger-zone" method="post" action={`${base(v)}/certificates/${encodeURIComponent(card.name)}/block`}>
          <h2>Заблокировать</h2>
          <SessionField v={v} />
          <div class="field"><label for="reason">Причина</label><input type="text" id="reason" name="reason" maxlength="500" placeholder="утерян, выдан по ошибке…" /></div>
          <button type="submit" class="danger">Заблокировать</button>
          <p class="hint">Касса перестанет принимать сертификат. Отменить блокировку нельзя.</p>
        </form>
      )}
    </>
  );
  return cabinetPage(v, "certificates", `Сертификат ${card.name}`, body);
}

// ---------------------------------------------------------------------------------
// Импорт и экспорт

const IMPORT_STATE_TEXT: Record<string, string> = { queued: "в очереди", running: "идёт", done: "готово", failed: "файл не прочитан" };

async function importProgress(deps: AppDeps, v: Viewer, row: ImportRow) {
  const finished = row.state === "done" || row.state === "failed";
  const pct = row.total > 0 ? Math.floor((row.processed * 100) / row.total) : finished ? 100 : 0;
  const errs = row.failed > 0 ? await importErrors(deps.sql, v.tenantId, row.id, 20) : [];
  const url = `/import/${row.id}`;
  // While the job runs, the fragment asks for itself again every second; the last answer
  // carries no trigger, so the polling stops by itself.
  const poll = finished ? {} : { "hx-get": link(v, `${url}/progress`), "hx-trigger": "every 1s", "hx-swap": "outerHTML" };
  return (
    <div id="progress" class="card" {...poll}>
      <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow={String(pct)}>
        <div style={`width: ${pct}%`}></div>
      </div>
      <p>
        <strong id="percent" safe>{`${pct} %`}</strong>{" "}
        <span safe>{`— ${IMPORT_STATE_TEXT[row.state]}. Строк обработано ${num(row.processed)} из ${num(row.total)}.`}</span>
      </p>
      {row.state === "failed" ? <Notice kind="error" text={row.failure ?? "Файл не прочитан."} /> : ""}
      {finished && row.state === "done" ? (
        <Notice
          kind={row.failed > 0 ? "warn" : "ok"}
          text={`Новых покупателей: ${num(row.created)}. Перенесено балансов: ${num(row.credited)}. Строк с ошибками: ${num(row.failed)}.`}
        />
      ) : (
        ""
      )}
      {row.failed > 0 ? (
        <>
          <p>
            <a href={link(v, `${url}/errors.csv`)} download="">Скачать все ошибки (CSV)</a>
          </p>
          <table>
            <thead><tr><th class="num">Строка</th><th>Ошибка</th></tr></thead>
            <tbody>
              {errs.map((e) => (
                <tr><td class="num" safe>{String(e.line)}</td><td safe>{e.error}</td></tr>
              ))}
            </tbody>
          </table>
          {row.failed > errs.length ? <p class="hint" safe>{`Показаны первые ${errs.length} из ${num(row.failed)}.`}</p> : ""}
        </>
      ) : (
        ""
      )}
    </div>
  );
}

async function importPage(deps: AppDeps, v: Viewer, error?: string, status = 200) {
  const recent = await recentImports(deps.sql, v.tenantId);
  const body = (
    <>
      <h1>Импорт и экспорт</h1>
      {error ? <Notice kind="error" text={error} /> : ""}
      {v.canEdit ? (
        <form class="card" method="post" action={`${base(v)}/import`} enctype="multipart/form-data">
          <h2>Загрузить покупателей из прежней программы</h2>
          <SessionField v={v} />
          <p>
            Файл CSV: телефон, имя, карта, дата рождения, баланс баллов — в этом порядке или с заголовком
            (<code>телефон;имя;карта;дата рождения;баланс</code>). Подойдёт выгрузка Excel: UTF-8 или Windows-1251, разделитель «;» или «,».
          </p>
          <p class="hint">
            Покупатели находятся по телефону или карте; у найденных заполняются только пустые поля. Баланс переносится один раз на покупателя — повторная загрузка того же файла ничего не меняет.
          </p>
          <div class="field"><label for="file">Файл</label><input type="file" id="file" name="file" accept=".csv,text/csv" required /></div>
          <button type="submit" class="primary">Загрузить</button>
        </form>
      ) : (
        ""
      )}
      {recent.length > 0 ? (
        <>
          <h2>Загрузки</h2>
          <table>
            <thead><tr><th>Когда</th><th>Файл</th><th>Состояние</th><th class="num">Строк</th><th class="num">Ошибок</th></tr></thead>
            <tbody>
              {recent.map((r) => (
                <tr>
                  <td><a href={link(v, `/import/${r.id}`)} safe>{dateTime(r.created_at, v.timeZone)}</a></td>
                  <td safe>{r.file_name ?? "—"}</td>
                  <td safe>{IMPORT_STATE_TEXT[r.state]}</td>
                  <td class="num" safe>{num(r.total)}</td>
                  <td class="num" safe>{num(r.failed)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : (
        ""
      )}
      <div class="card">
        <h2>Выгрузить</h2>
        <p>CSV для Excel (UTF-8, разделитель «;»). Покупатели, удалившие свои данные, в выгрузку не попадают.</p>
        <p>
          <a class="button" href={link(v, "/export/customers.csv")} download="">Покупатели</a>{" "}
          <a class="button" href={link(v, "/export/ledger.csv")} download="">Журнал баллов</a>
        </p>
      </div>
    </>
  );
  return cabinetPage(v, "import", "Импорт и экспорт", body, { status });
}

// ---------------------------------------------------------------------------------
// Routes.

type Ctx = { request: Request; headers: Record<string, string | undefined>; params: Record<string, string>; query: Record<string, string | undefined>; body: unknown };

function refusalPage(status: number, message: string, opts: { challenge?: boolean; back?: string } = {}): Response {
  const page = Page({
    title: "Кабинет",
    children: (
      <>
        <Notice kind="error" text={message} />
        {opts.back ? <p><a href={opts.back}>← Вернуться в кабинет</a></p> : ""}
      </>
    ),
  }) as string;
  const headers: Record<string, string> = { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" };
  if (opts.challenge) headers["www-authenticate"] = `Basic realm="${CABINET_REALM}", charset="UTF-8"`;
  return new Response(page, { status, headers });
}

const WEEKDAY_NAMES = ["пн", "вт", "ср", "чт", "пт", "сб", "вс"];

function promotionEffect(p: Promotion): string {
  return p.earnPercent !== null ? `${p.earnPercent}% баллами` : `баллы ×${p.earnMultiplier}`;
}

function promotionState(p: Promotion, now: Date): string {
  if (p.endedAt && p.endedAt <= now) return "завершена";
  if (now < p.startsAt) return "запланирована";
  if (now >= p.endsAt) return "прошла";
  return "идёт";
}

/** Акции: the program's promotions (the same use cases as the admin API's /promotions). */
async function promotionsPage(deps: AppDeps, v: Viewer, q: Record<string, string | undefined>, error?: string, status = 200) {
  const tenant = await deps.tenants.requireBySlug(v.slug);
  const zone = tenant.program.settings.timezone;
  const rows = await listPromotions(deps.sql, v.tenantId);
  const now = new Date();
  const at = (d: Date) => new Intl.DateTimeFormat("ru-RU", { timeZone: zone, dateStyle: "short", timeStyle: "short" }).format(d);
  const body = (
    <>
      <h1>Акции</h1>
      {doneNotice(q)}
      {error ? <Notice kind="error" text={error} /> : ""}
      <p class="muted" safe>
        {`Акция повышает начисление баллов на время: по датам, дням недели, часам и товарам. На строку чека действует самая щедрая акция, акции не складываются. Время — по часовому поясу магазина (${zone}).`}
      </p>
      {v.canEdit ? (
        <form class="card" method="post" action={`${base(v)}/promotions`}>
          <h2>Новая акция</h2>
          <SessionField v={v} />
          <div class="field"><label for="name">Название (печатается на чеке)</label><input type="text" id="name" name="name" required maxlength="200" value={q.name ?? ""} /></div>
          <div class="field"><label for="startsAt">Начало</label><input type="datetime-local" id="startsAt" name="startsAt" required value={q.startsAt ?? ""} /></div>
          <div class="field"><label for="endsAt">Конец</label><input type="datetime-local" id="endsAt" name="endsAt" required value={q.endsAt ?? ""} /></div>
          <div class="field">
            <label>Дни недели (ни одного — каждый день)</label>
            {WEEKDAY_NAMES.map((d, i) => (
              <span class="check">
                <input type="checkbox" id={`wd${i + 1}`} name="weekdays" value={String(i + 1)} />
                <label for={`wd${i + 1}`} safe>{d}</label>{" "}
              </span>
            ))}
          </div>
          <div class="field"><label for="hoursFrom">Часы (пусто — весь день): с</label><input type="time" id="hoursFrom" name="hoursFrom" value={q.hoursFrom ?? ""} /></div>
          <div class="field"><label for="hoursTo">до</label><input type="time" id="hoursTo" name="hoursTo" value={q.hoursTo ?? ""} /></div>
          <div class="field">
            <label for="effect">Что даёт</label>
            <select id="effect" name="effect">
              <option value="percent" selected={q.effect !== "multiplier"}>процент баллами вместо обычного</option>
              <option value="multiplier" selected={q.effect === "multiplier"}>множитель к обычному проценту</option>
            </select>
          </div>
          <div class="field"><label for="value">Процент или множитель</label><input type="text" inputmode="decimal" id="value" name="value" required value={q.value ?? ""} /><p class="hint">Например, 10 (процентов) или 2 (вдвое больше баллов).</p></div>
          <div class="field"><label for="goods">Только эти товары (id из МойСклад, по одному в строке; пусто — все)</label><textarea id="goods" name="goods" rows="2" safe>{q.goods ?? ""}</textarea></div>
          <button class="primary" type="submit">Создать акцию</button>
        </form>
      ) : (
        ""
      )}
      <h2>Все акции</h2>
      {rows.length === 0 ? (
        <p class="muted">Акций пока нет.</p>
      ) : (
        <table>
          <thead>
            <tr><th>Название</th><th>Когда</th><th>Что даёт</th><th>Состояние</th><th></th></tr>
          </thead>
          <tbody>
            {rows.map((p) => {
              const state = promotionState(p, now);
              return (
                <tr>
                  <td safe>{p.name}</td>
                  <td safe>
                    {[
                      `${at(p.startsAt)} — ${at(p.endsAt)}`,
                      p.weekdays ? p.weekdays.map((d) => WEEKDAY_NAMES[d - 1]).join(", ") : "",
                      p.hours ? `${p.hours.from}–${p.hours.to}` : "",
                      p.assortmentIds ? `товаров: ${p.assortmentIds.length}` : "",
                    ]
                      .filter(Boolean)
                      .join("; ")}
                  </td>
                  <td safe>{promotionEffect(p)}</td>
                  <td safe>{state}</td>
                  <td>
                    {v.canEdit && (state === "идёт" || state === "запланирована") ? (
                      <form method="post" action={`${base(v)}/promotions/${p.id}/end`}>
                        <SessionField v={v} />
                        <button class="danger" type="submit">Завершить</button>
                      </form>
                    ) : (
                      ""
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </>
  );
  return cabinetPage(v, "promotions", "Акции", body, { status });
}

/** The form's fields as the promotions use case takes them; words for the merchant when they do not read. */
function promotionInput(f: Record<string, unknown>): PromotionInput | string {
  const value = Number(str(f.value).replace(/\s/g, "").replace(",", "."));
  if (!Number.isFinite(value) || value <= 0) return "Укажите процент или множитель числом, например 10 или 2.";
  const weekdays = (Array.isArray(f.weekdays) ? f.weekdays : f.weekdays === undefined ? [] : [f.weekdays]).map((d) => Number(d));
  const from = str(f.hoursFrom);
  const to = str(f.hoursTo);
  if (Boolean(from) !== Boolean(to)) return "Часы акции: укажите и начало, и конец (или оставьте оба пустыми).";
  const goods = str(f.goods)
    .split(/[\s,;]+/)
    .map((x) => x.trim())
    .filter(Boolean);
  const local = (x: string) => x.replace("T", " ");
  return {
    name: str(f.name).trim(),
    startsAt: local(str(f.startsAt)),
    endsAt: local(str(f.endsAt)),
    weekdays: weekdays.length ? weekdays : null,
    hours: from && to ? { from, to } : null,
    assortmentIds: goods.length ? goods : null,
    ...(str(f.effect) === "multiplier" ? { earnMultiplier: value, earnPercent: null } : { earnPercent: value, earnMultiplier: null }),
  };
}

export const cabinetPages = (deps: AppDeps) => {
  // МойСклад sessions exist only where the app is configured (their key is SECRETS_KEY).
  const sessions = deps.config.moysklad ? new MerchantSessions(deps.config.moysklad.secretsKey) : null;
  /** Every route: the viewer first, then the page; pages never answer JSON. */
  const page =
    (handler: (v: Viewer, ctx: Ctx) => Promise<Response> | Response) =>
    async (ctx: Ctx): Promise<Response> => {
      const v = await cabinetViewer(deps, sessions, ctx.request, ctx.params.slug ?? "", tokenFrom(ctx.headers, ctx.query, ctx.body));
      if (!isViewer(v)) return refusalPage(v.status, v.message, { challenge: v.challenge });
      if (ctx.request.method === "POST" && !v.canEdit) {
        return refusalPage(403, "Ничего не изменено: менять данные может только администратор аккаунта МойСклад.", { back: link(v, "") });
      }
      return handler(v, ctx);
    };
  const form = (ctx: Ctx) => (ctx.body && typeof ctx.body === "object" ? (ctx.body as Record<string, unknown>) : {});
  const hidden = { detail: { hide: true } };

  return new Elysia({ prefix: "/cabinet" })
    .get(
      "/:slug",
      page(async (v, { query }) => {
        let period;
        let error: string | undefined;
        try {
          period = resolvePeriod(query.from, query.to, v.timeZone);
        } catch (e) {
          error = problem(e);
          period = resolvePeriod(undefined, undefined, v.timeZone);
        }
        const stats = await overviewStats(deps.sql, v.tenantId, period, v.timeZone);
        return cabinetPage(v, "overview", "Обзор", overviewBody(v, stats, error), {
          scripts: ["uPlot.iife.min.js", "cabinet-overview.js"],
          status: error ? 400 : 200,
        });
      }),
      hidden,
    )
    .get(
      "/:slug/customers",
      page(async (v, { query, request }) => {
        const q = str(query.q).trim().slice(0, 200);
        const rows = q ? await withLastPurchase(deps.sql, v.tenantId, await searchCustomers(deps.sql, v.tenantId, q, 50)) : await recentCustomers(deps.sql, v.tenantId);
        // htmx asks for the results only while the merchant types.
        if (request.headers.get("hx-request")) return htmlResponse(customerRows(v, rows, q) as string);
        const body = (
          <>
            <h1>Покупатели</h1>
            <form method="get" action={`${base(v)}/customers`} class="card">
              <SessionField v={v} />
              <label for="q">Найти</label>
              <input
                type="search"
                id="q"
                name="q"
                value={q}
                placeholder="телефон в любой записи, имя или номер карты"
                autocomplete="off"
                hx-get={link(v, "/customers")}
                hx-trigger="input changed delay:300ms, search"
                hx-target="#results"
                hx-swap="outerHTML"
                hx-push-url="true"
              />{" "}
              <button type="submit">Найти</button>
            </form>
            {customerRows(v, rows, q)}
          </>
        );
        return cabinetPage(v, "customers", "Покупатели", body);
      }),
      hidden,
    )
    .get("/:slug/customers/:id", page((v, { params, query }) => customerPage(deps, v, params.id!, query)), hidden)
    .post(
      "/:slug/customers/:id/adjust",
      page(async (v, ctx) => {
        const f = form(ctx);
        const points = Number(str(f.points).replace(/[\s−]/g, (m) => (m === "−" ? "-" : "")));
        try {
          if (!Number.isSafeInteger(points)) throw new ApiError(400, [{ error: "", code: 40001, error_message: "Баллы — целое число, например 100 или −50." }]);
          const key = str(f.key).slice(0, 100) || crypto.randomUUID();
          await adjustPoints(deps.sql, v.tenantId, { customerId: ctx.params.id!, points, reason: str(f.reason), key: `adjustment:cabinet:${key}`, expiresAt: null });
        } catch (e) {
          return customerPage(deps, v, ctx.params.id!, {}, problem(e), 400);
        }
        return seeOther(link(v, `/customers/${ctx.params.id}`, { done: "adjusted" }));
      }),
      hidden,
    )
    .post(
      "/:slug/customers/:id/profile",
      page(async (v, ctx) => {
        const f = form(ctx);
        try {
          await updateProfile(deps.sql, v.tenantId, ctx.params.id!, { phone: str(f.phone), name: str(f.name), birthDate: str(f.birthDate) });
        } catch (e) {
          return customerPage(deps, v, ctx.params.id!, {}, problem(e), 400);
        }
        return seeOther(link(v, `/customers/${ctx.params.id}`, { done: "profile" }));
      }),
      hidden,
    )
    .post(
      "/:slug/customers/:id/card-link",
      page(async (v, ctx) => {
        try {
          await newCardLink(deps.sql, deps.queues, deps.config.publicUrl, v.tenantId, ctx.params.id!);
        } catch (e) {
          return customerPage(deps, v, ctx.params.id!, {}, problem(e), 400);
        }
        return seeOther(link(v, `/customers/${ctx.params.id}`, { done: "card-link" }));
      }),
      hidden,
    )
    .post(
      "/:slug/customers/:id/erase",
      page(async (v, ctx) => {
        if (str(form(ctx).confirm) !== "yes") return customerPage(deps, v, ctx.params.id!, {}, "Отметьте, что покупатель попросил удалить данные.", 400);
        if (!(await erasePersonalData(deps.sql, v.tenantId, ctx.params.id!))) return customerPage(deps, v, ctx.params.id!, {});
        return seeOther(link(v, `/customers/${ctx.params.id}`, { done: "erased" }));
      }),
      hidden,
    )
    .get(
      "/:slug/documents",
      page(async (v, { query }) => {
        const filter: DocumentFilter = DOCUMENT_FILTERS.includes(query.filter as DocumentFilter) ? (query.filter as DocumentFilter) : "all";
        const docs = await listDocuments(deps.sql, v.tenantId, filter);
        const labels: Record<DocumentFilter, string> = { all: "Все", attention: "Требуют внимания", received: "Не проведены", waiting: "Ждут продажу", settled: "Проведены", flagged: "Отмечены" };
        const body = (
          <>
            <h1>Продажи и возвраты</h1>
            <p class="filters">
              {DOCUMENT_FILTERS.map((f) => (
                <>
                  <a href={link(v, "/documents", { filter: f === "all" ? undefined : f })} aria-current={f === filter ? "page" : undefined} safe>{labels[f]}</a>{" "}
                </>
              ))}
            </p>
            {docs.length === 0 ? (
              <p class="muted">Документов нет.</p>
            ) : (
              <table id="documents">
                <thead><tr><th>Когда</th><th>Документ</th><th>Покупатель</th><th class="num">Сумма</th><th class="num">Списано</th><th class="num">Начислено</th><th>Состояние</th></tr></thead>
                <tbody>
                  {docs.map((d) => {
                    const reasons = attentionReasons(d);
                    return (
                      <tr>
                        <td safe>{dateTime(d.moment, v.timeZone)}</td>
                        <td><a href={link(v, `/documents/${d.id}`)} safe>{`${d.kind === "sale" ? "Продажа" : "Возврат"} ${d.name ?? ""}`}</a></td>
                        <td>
                          {d.customer_id ? (
                            <a href={link(v, `/customers/${d.customer_id}`)} safe>{d.customer_erased ? "Данные удалены" : d.customer_name || "Без имени"}</a>
                          ) : (
                            <span class="muted">{Html.escapeHtml(d.match_status === "unmatched" ? "не найден" : "без покупателя")}</span>
                          )}
                        </td>
                        <td class="num" safe>{rub(d.total_kopecks)}</td>
                        {/* Without a customer no points moved, whatever the receipt's figures say. */}
                        <td class="num">{Html.escapeHtml(d.customer_id ? num(d.points_spent) : "—")}</td>
                        <td class="num">{Html.escapeHtml(d.customer_id ? num(d.points_earned) : "—")}</td>
                        <td>
                          <span class={reasons.length ? "badge bad" : "badge"} safe>{DOCUMENT_STATE_TEXT[d.state] ?? d.state}</span>
                          {reasons.map((r) => (
                            <p class="hint" safe>{r}</p>
                          ))}
                          <HoldLine v={v} d={d} />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )}
          </>
        );
        return cabinetPage(v, "documents", "Документы", body);
      }),
      hidden,
    )
    .get("/:slug/documents/:id", page((v, { params, query }) => documentPage(deps, v, params.id!, query)), hidden)
    .post(
      "/:slug/documents/:id/hold",
      page(async (v, ctx) => {
        const f = form(ctx);
        const id = ctx.params.id!;
        const raw = str(f.decision);
        const note = str(f.note).trim().slice(0, 500);
        if (raw !== "approve" && raw !== "reject") return documentPage(deps, v, id, {}, { error: "Выберите «Провести» или «Отклонить».", status: 400 });
        const decision: HoldDecision = raw === "approve" ? "approved" : "rejected";
        const d = await getDocument(deps.sql, v.tenantId, id);
        if (!d) return documentPage(deps, v, id, {});
        // The first press only asks; the decision is taken on the confirmation's press.
        if (str(f.confirm) !== "yes" && holdStage(d) === "open") return documentPage(deps, v, id, {}, { confirm: { decision, note } });
        let outcome;
        try {
          outcome = await decideHold(deps.sql, v.tenantId, id, decision, note || null, v.who);
        } catch (e) {
          const words = problem(e);
          return documentPage(deps, v, id, {}, { error: `Ничего не изменено. ${words}`, status: e instanceof ApiError ? e.status : 400 });
        }
        // The same decision again (a second tab, a repeated press): said, not done twice.
        if (outcome.repeated) return documentPage(deps, v, id, {}, { error: "Ничего не изменено: решение по этим баллам уже было принято раньше.", status: 409 });
        return seeOther(link(v, `/documents/${id}`, { done: decision === "approved" ? "hold-approved" : "hold-rejected" }));
      }),
      hidden,
    )
    .get("/:slug/promotions", page((v, { query }) => promotionsPage(deps, v, query)), hidden)
    .post(
      "/:slug/promotions",
      page(async (v, ctx) => {
        const f = form(ctx);
        const back = Object.fromEntries(["name", "startsAt", "endsAt", "hoursFrom", "hoursTo", "effect", "value", "goods"].map((k) => [k, str(f[k])]));
        const input = promotionInput(f);
        if (typeof input === "string") return promotionsPage(deps, v, back, input, 400);
        try {
          const tenant = await deps.tenants.requireBySlug(v.slug);
          await createPromotion(deps.sql, v.tenantId, tenant.program.settings.timezone, input);
        } catch (e) {
          return promotionsPage(deps, v, back, problem(e), 400);
        }
        deps.tenants.invalidate(v.tenantId);
        return seeOther(link(v, "/promotions", { done: "promoted" }));
      }),
      hidden,
    )
    .post(
      "/:slug/promotions/:id/end",
      page(async (v, ctx) => {
        try {
          await endPromotion(deps.sql, v.tenantId, ctx.params.id!);
        } catch (e) {
          return promotionsPage(deps, v, {}, problem(e), 400);
        }
        deps.tenants.invalidate(v.tenantId);
        return seeOther(link(v, "/promotions", { done: "ended" }));
      }),
      hidden,
    )
    .get("/:slug/certificates", page((v, { query }) => certificatesPage(deps, v, query)), hidden)
    .post(
      "/:slug/certificates",
      page(async (v, ctx) => {
        const f = form(ctx);
        const name = str(f.name);
        const amount = str(f.amount).replace(/\s/g, "").replace(",", ".");
        const expire = str(f.expire);
        const back = { name, amount, expire };
        const m = /^(\d{1,10})(?:\.(\d{1,2}))?$/.exec(amount);
        if (!m) return certificatesPage(deps, v, back, "Номинал — сумма в рублях, например 1000 или 1500.50.", 400);
        const kopecks = Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
        let expireAt: Date | null = null;
        if (expire) {
          // The end of the chosen day on the merchant's clocks.
          const day = /^\d{4}-\d{2}-\d{2}$/.test(expire) ? calendarDate(expire) : null;
          if (!day) return certificatesPage(deps, v, back, "Срок действия — дата.", 400);
          const [y, m, d] = day.split("-").map(Number);
          expireAt = new Date(zonedToEpochMs(v.timeZone, y!, m!, d!, 23, 59, 59));
        }
        try {
          await issueGiftCard(deps.sql, v.tenantId, { name, initialBalance: kopecks, expireAt });
        } catch (e) {
          return certificatesPage(deps, v, back, problem(e), 400);
        }
        return seeOther(link(v, `/certificates/${encodeURIComponent(name.trim())}`, { done: "issued" }));
      }),
      hidden,
    )
    .get("/:slug/certificates/:name", page((v, { params, query }) => certificatePage(deps, v, decodeURIComponent(params.name!), query)), hidden)
    .post(
      "/:slug/certificates/:name/block",
      page(async (v, ctx) => {
        const name = decodeURIComponent(ctx.params.name!);
        await blockGiftCard(deps.sql, v.tenantId, name, str(form(ctx).reason).trim().slice(0, 500) || null);
        return seeOther(link(v, `/certificates/${encodeURIComponent(name)}`, { done: "blocked" }));
      }),
      hidden,
    )
    .get("/:slug/import", page((v) => importPage(deps, v)), hidden)
    .post(
      "/:slug/import",
      page(async (v, ctx) => {
        const file = form(ctx).file;
        if (!(file instanceof Blob) || file.size === 0) return importPage(deps, v, "Выберите файл CSV.", 400);
        if (file.size > IMPORT_MAX_BYTES) return importPage(deps, v, `Файл больше ${IMPORT_MAX_BYTES / 1024 / 1024} МБ: разделите его.`, 400);
        let row;
        try {
          row = await startImport(deps.sql, deps.queues, v.tenantId, new Uint8Array(await file.arrayBuffer()), file instanceof File ? file.name : null);
        } catch (e) {
          return importPage(deps, v, problem(e), 400);
        }
        return seeOther(link(v, `/import/${row.id}`));
      }),
      hidden,
    )
    .get(
      "/:slug/import/:id",
      page(async (v, { params }) => {
        const row = await getImport(deps.sql, v.tenantId, params.id!);
        if (!row) return cabinetPage(v, "import", "Загрузка не найдена", <Notice kind="error" text="Такой загрузки нет." />, { status: 404 });
        const safeProgress = await importProgress(deps, v, row);
        const body = (
          <>
            <p><a href={link(v, "/import")}>← Импорт и экспорт</a></p>
            <h1 safe>{`Загрузка ${row.file_name ?? ""}`}</h1>
            {safeProgress}
          </>
        );
        return cabinetPage(v, "import", "Загрузка", body);
      }),
      hidden,
    )
    .get(
      "/:slug/import/:id/progress",
      page(async (v, { params }) => {
        const row = await getImport(deps.sql, v.tenantId, params.id!);
        if (!row) return htmlResponse(Html.escapeHtml("Загрузка не найдена."), 404);
        return htmlResponse((await importProgress(deps, v, row)) as string);
      }),
      hidden,
    )
    .get(
      "/:slug/import/:id/errors.csv",
      page(async (v, { params }) => {
        const row = await getImport(deps.sql, v.tenantId, params.id!);
        if (!row) return refusalPage(404, "Такой загрузки нет.");
        return csvResponse(importErrorsCsv(deps.sql, v.tenantId, row.id), `errors-${row.id}.csv`);
      }),
      hidden,
    )
    .get("/:slug/export/customers.csv", page((v) => csvResponse(customersCsv(deps.sql, v.tenantId), `customers-${v.slug}.csv`)), hidden)
    .get("/:slug/export/ledger.csv", page((v) => csvResponse(ledgerCsv(deps.sql, v.tenantId), `ledger-${v.slug}.csv`)), hidden);
};
