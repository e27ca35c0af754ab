// The frame every page of ours shares: Russian, our stylesheet, htmx for the few parts
// that update in place, nothing from other hosts.
//
// Why server-rendered JSX (@kitajs/html through @elysiajs/html) and htmx rather than an
// SPA: the pages are forms and tables over data the server already holds; rendering them
// where the data is means one request per page, no build step, no client state to keep in
// step with the API, and it runs the same on Bun and Deno. JSX gives type-checked
// templates; htmx adds in-place updates (progress bars, search as you type) with attributes.
//
// Escaping: @kitajs/html does not escape children by default. Every interpolated string
// goes through `safe` (attribute) or `Html.escapeHtml`; `npm run typecheck` runs xss-scan,
// which fails on an unescaped value.
import { assetUrl } from "./assets.ts";

export interface NavItem {
  href: string;
  label: string;
  current?: boolean;
}

export interface PageProps {
  title: string;
  /** Shown at the left of the top bar (shop name, product name). */
  brand?: string;
  nav?: NavItem[];
  /** `narrow` for phone-first pages (the customer's card, self-registration). */
  width?: "wide" | "narrow";
  /** Extra scripts served from /assets (names as registered with serveAsset). */
  scripts?: string[];
  children?: JSX.Element | JSX.Element[] | string;
}

export function Page(props: PageProps): JSX.Element {
  return (
    <>
      {"<!doctype html>"}
      <html lang="ru">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title safe>{props.title}</title>
          <link rel="stylesheet" href={assetUrl("app.css")} />
          <script src={assetUrl("htmx.min.js")} defer></script>
          {(props.scripts ?? []).map((s) => (
            <script src={assetUrl(s)} defer></script>
          ))}
        </head>
        <body>
          {props.brand || props.nav ? (
            <header class="top">
              {props.brand ? (
                <span class="brand" safe>
                  {props.brand}
                </span>
              ) : (
                ""
              )}
              {props.nav ? (
                <nav>
                  {props.nav.map((n) => (
                    <a href={n.href} aria-current={n.current ? "page" : undefined} safe>
                      {n.label}
                    </a>
                  ))}
                </nav>
              ) : (
                ""
              )}
            </header>
          ) : (
            ""
          )}
          <main class={props.width === "narrow" ? "narrow" : undefined}>{props.children as "safe"}</main>
        </body>
      </html>
    </>
  );
}

/** A message box at the top of a page: what just happened, in words. */
export function Notice(props: { kind: "ok" | "error" | "warn"; text: string }): JSX.Element {
  return (
    <div class={`notice ${props.kind}`} role={props.kind === "error" ? "alert" : "status"} safe>
      {props.text}
    </div>
  );
}

/** An HTML response: pages answer text/html, never JSON, errors included. */
export function htmlResponse(body: string | Promise<string>, status = 200): Response | Promise<Response> {
  const make = (b: string) =>
    new Response(b, {
      status,
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
      },
    });
  return typeof body === "string" ? make(body) : body.then(make);
}
