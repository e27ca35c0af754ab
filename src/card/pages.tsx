// The customer's pages: the card and self-registration. Phone first (360 px), Russian,
// everything from our server. Every value goes through `safe`; the QR code's SVG is our
// own markup from the qrcode library (it holds only rects and paths of the payload).
import { pointsWord } from "../loyalty/messages.ts";
import { Notice, Page } from "../pages/layout.tsx";
import type { CardView } from "./card.ts";

export interface CardPageOptions {
  /** Web Push is configured: show the subscribe button. */
  push: boolean;
  /** Wallet buttons, when configured for the deployment. */
  appleWallet: boolean;
  googleWallet: boolean;
  safeQrSvg: string;
}

function points(n: number): string {
  return new Intl.NumberFormat("ru-RU").format(n);
}

/** «1 балл», «2 балла», «1 500 баллов»: the words agree with the number. */
function pointsPhrase(n: number): string {
  return `${points(n)} ${pointsWord(n)}`;
}

/** What the program gives for an invitation: the friend (referred) and the inviter (referrer). */
export interface ReferralPoints {
  referredPoints: number;
  referrerPoints: number;
}

/** The card's invitation line, naming only whoever gets points. */
export function inviteText(r: ReferralPoints): string {
  if (r.referredPoints > 0 && r.referrerPoints > 0) {
    return `Друг получит ${pointsPhrase(r.referredPoints)}, а вы — ${pointsPhrase(r.referrerPoints)}, когда он сделает первую покупку.`;
  }
  if (r.referredPoints > 0) return `Друг получит ${pointsPhrase(r.referredPoints)}, когда сделает первую покупку.`;
  if (r.referrerPoints > 0) return `Вы получите ${pointsPhrase(r.referrerPoints)}, когда друг сделает первую покупку.`;
  return "Отправьте другу ссылку: по ней он получит свою карту.";
}

/** The join page's note to an invited customer; null when nobody gets points. */
export function invitedText(r: ReferralPoints): string | null {
  const lead = "Вас пригласил друг: ";
  if (r.referredPoints > 0 && r.referrerPoints > 0) {
    return `${lead}после первой покупки вы получите ${pointsPhrase(r.referredPoints)}, а он — ${pointsPhrase(r.referrerPoints)}.`;
  }
  if (r.referredPoints > 0) return `${lead}после первой покупки вы получите ${pointsPhrase(r.referredPoints)}.`;
  if (r.referrerPoints > 0) return `${lead}после вашей первой покупки он получит ${pointsPhrase(r.referrerPoints)}.`;
  return null;
}

export function CardPage(props: { view: CardView; opts: CardPageOptions }): JSX.Element {
  const v = props.view;
  const o = props.opts;
  const safeQrSvg = o.safeQrSvg;
  const tokenPath = `/card/${encodeURIComponent(v.token)}`;
  return (
    <Page title={`Карта — ${v.shop}`} brand={v.shop} width="narrow" scripts={["card.js"]}>
      <section class="card loyalty-card" data-slug={v.slug} data-token={v.token}>
        <h1 safe>{v.firstName ? `${v.firstName}, ваша карта` : String("Ваша карта")}</h1>
        <div class="qr" role="img" aria-label="QR-код карты: покажите его кассиру">
          {safeQrSvg}
        </div>
        <p class="hint center">Покажите QR-код кассиру</p>
        {v.cardNumber ? (
          <p class="center">
            Номер карты: <strong safe>{v.cardNumber}</strong>
          </p>
        ) : (
          ""
        )}
        <div class="balances">
          <div class="stat">
            <div class="value" id="balance" safe>
              {points(v.balance)}
            </div>
            <div class="label">баллов можно потратить</div>
          </div>
          {v.pending > 0 ? (
            <div class="stat">
              <div class="value" id="pending" safe>
                {points(v.pending)}
              </div>
              <div class="label">баллов скоро станут доступны</div>
            </div>
          ) : (
            ""
          )}
        </div>
        {v.level ? (
          <p id="level">
            Уровень: <strong safe>{v.level.name}</strong>
            {v.level.toNext ? (
              <span safe>{` — до уровня «${v.level.toNext.name}» осталось ${points(v.level.toNext.rubles)} ₽`}</span>
            ) : (
              ""
            )}
          </p>
        ) : (
          ""
        )}
        {v.nextBurn ? (
          <p id="next-burn" safe>
            {`${new Intl.DateTimeFormat("ru-RU", { day: "numeric", month: "long", timeZone: v.timeZone ?? "Europe/Moscow" }).format(v.nextBurn.at)} сгорит ${pointsPhrase(v.nextBurn.points)}`}
          </p>
        ) : (
          ""
        )}
      </section>

      {o.appleWallet || o.googleWallet ? (
        <section class="card wallet">
          {o.appleWallet ? (
            <a class="button" href={`${tokenPath}/wallet.pkpass`}>
              Добавить в Apple Wallet
            </a>
          ) : (
            ""
          )}
          {o.googleWallet ? (
            <a class="button" href={`${tokenPath}/wallet/google`}>
              Сохранить в Google Кошелёк
            </a>
          ) : (
            ""
          )}
        </section>
      ) : (
        ""
      )}

      {o.push ? (
        <section class="card">
          <button type="button" class="primary" id="push-button" hidden>
            Получать уведомления о баллах
          </button>
          <p id="push-status" class="hint" role="status"></p>
        </section>
      ) : (
        ""
      )}

      <section class="card">
        <h2>Пригласите друга</h2>
        <p class="hint">
          <span safe>{inviteText(v.referral)}</span>
        </p>
        <input type="text" id="invite-link" readonly value={v.inviteUrl} aria-label="Ссылка для друга" />
        <button type="button" id="copy-invite" data-copy="invite-link">
          Скопировать ссылку
        </button>
      </section>

      <section class="card">
        <h2>История</h2>
        {v.history.length === 0 ? (
          <p class="muted">Пока нет начислений и списаний.</p>
        ) : (
          <ul class="history">
            {v.history.map((h) => (
              <li class={h.points > 0 ? "plus" : "minus"} safe>
                {h.text}
              </li>
            ))}
          </ul>
        )}
      </section>
    </Page>
  );
}

export function CardNotFoundPage(): JSX.Element {
  return (
    <Page title="Карта не найдена" width="narrow">
      <h1>Карта не найдена</h1>
      <p>Проверьте ссылку. Если магазин выдал вам новую карту, откройте ссылку из последнего SMS.</p>
    </Page>
  );
}

export function ShopNotFoundPage(): JSX.Element {
  return (
    <Page title="Магазин не найден" width="narrow">
      <h1>Магазин не найден</h1>
      <p>Проверьте адрес: его можно взять с плаката или QR-кода в магазине.</p>
    </Page>
  );
}

interface JoinFrame {
  shop: string;
  slug: string;
  referral: string | null;
  error?: string | null;
}

function joinAction(slug: string, step: string): string {
  return `/join/${encodeURIComponent(slug)}/${step}`;
}

function RefField(props: { referral: string | null }): JSX.Element {
  return props.referral ? <input type="hidden" name="ref" value={props.referral} /> : "";
}

export function JoinPhonePage(props: JoinFrame & { phone?: string; invited: string | null }): JSX.Element {
  return (
    <Page title={`Карта ${props.shop}`} brand={props.shop} width="narrow">
      <h1>Получите карту покупателя</h1>
      {props.invited ? <Notice kind="ok" text={props.invited} /> : ""}
      {props.error ? <Notice kind="error" text={props.error} /> : ""}
      <form method="post" action={joinAction(props.slug, "code")} class="card">
        <div class="field">
          <label for="phone">Телефон</label>
          <input type="tel" id="phone" name="phone" autocomplete="tel" inputmode="tel" placeholder="+7 900 000-00-00" required value={props.phone ?? ""} />
          <p class="hint">Пришлём код в SMS.</p>
        </div>
        <RefField referral={props.referral} />
        <button type="submit" class="primary">
          Получить код
        </button>
      </form>
    </Page>
  );
}

export function JoinCodePage(props: JoinFrame & { phone: string; prettyPhone: string }): JSX.Element {
  return (
    <Page title={`Карта ${props.shop}`} brand={props.shop} width="narrow">
      <h1>Введите код из SMS</h1>
      {props.error ? <Notice kind="error" text={props.error} /> : <Notice kind="ok" text={`Код отправлен на номер ${props.prettyPhone}.`} />}
      <form method="post" action={joinAction(props.slug, "confirm")} class="card">
        <div class="field">
          <label for="code">Код</label>
          <input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="12" required />
        </div>
        <input type="hidden" name="phone" value={props.phone} />
        <RefField referral={props.referral} />
        <button type="submit" class="primary">
          Подтвердить
        </button>
      </form>
      <p>
        <a href={`/join/${encodeURIComponent(props.slug)}${props.referral ? `?ref=${encodeURIComponent(props.referral)}` : ""}`}>Другой номер или новый код</a>
      </p>
    </Page>
  );
}

export function JoinDetailsPage(
  props: JoinFrame & { session: string; consentText: string; values?: { name?: string; birthDate?: string; advertising?: boolean } },
): JSX.Element {
  const values = props.values ?? {};
  return (
    <Page title={`Карта ${props.shop}`} brand={props.shop} width="narrow">
      <h1>Почти готово</h1>
      {props.error ? <Notice kind="error" text={props.error} /> : ""}
      <form method="post" action={joinAction(props.slug, "details")} class="card">
        <div class="field">
          <label for="name">Имя</label>
          <input type="text" id="name" name="name" autocomplete="given-name" maxlength="100" required value={values.name ?? ""} />
        </div>
        <div class="field">
          <label for="birthDate">Дата рождения (необязательно)</label>
          <input type="date" id="birthDate" name="birthDate" value={values.birthDate ?? ""} />
        </div>
        <div class="field check">
          <input type="checkbox" id="personalData" name="personalData" value="yes" required />
          <label for="personalData">Согласен(на) на обработку персональных данных</label>
          <p class="hint consent" safe>
            {props.consentText}
          </p>
        </div>
        <div class="field check">
          <input type="checkbox" id="advertising" name="advertising" value="yes" checked={values.advertising === true} />
          <label for="advertising">Согласен(на) получать рекламные сообщения (необязательно)</label>
        </div>
        <input type="hidden" name="session" value={props.session} />
        <button type="submit" class="primary">
          Получить карту
        </button>
      </form>
    </Page>
  );
}
