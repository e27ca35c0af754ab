// The merchant's pages — the settings page МойСклад shows in its iframe, and the cabinet —
// share one top bar, so moving between them is moving between parts of one app. Inside the
// iframe every address carries the session (third-party cookies may be blocked there, see
// session.ts); operators, who come in with HTTP Basic, get plain addresses and no settings
// link (the settings page belongs to a МойСклад account, not to an operator).
import type { NavItem } from "../pages/layout.tsx";
import { SESSION_FIELD } from "./session.ts";

export const SETTINGS_PATH = "/moysklad/settings";

export type CabinetSection = "overview" | "customers" | "documents" | "certificates" | "promotions" | "import";

export const cabinetBase = (slug: string) => `/cabinet/${encodeURIComponent(slug)}`;

/** `path` with `params` (empty ones left out) and, when there is one, the session in its query. */
export function withSession(path: string, session: string | null, params: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  if (session) q.set(SESSION_FIELD, session);
  const query = q.toString();
  return query ? `${path}?${query}` : path;
}

const SECTIONS: { key: CabinetSection; path: string; label: string }[] = [
  { key: "overview", path: "", label: "Обзор" },
  { key: "customers", path: "/customers", label: "Покупатели" },
  { key: "documents", path: "/documents", label: "Документы" },
  { key: "certificates", path: "/certificates", label: "Сертификаты" },
  { key: "promotions", path: "/promotions", label: "Акции" },
  { key: "import", path: "/import", label: "Импорт и экспорт" },
];

/** The top bar: the cabinet's sections, then the program's settings for a МойСклад session. */
export function merchantNav(slug: string, session: string | null, current: CabinetSection | "settings"): NavItem[] {
  const items = SECTIONS.map((s) => ({ href: withSession(cabinetBase(slug) + s.path, session), label: s.label, current: s.key === current }));
  if (session) items.push({ href: withSession(SETTINGS_PATH, session), label: "Настройки программы", current: current === "settings" });
  return items;
}
