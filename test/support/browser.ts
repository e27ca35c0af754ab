// Real pages in a real browser: Debian's chromium driven by playwright-core (never a
// downloaded browser). Every request to another host is cut off and recorded, so a test
// can assert that a page loads nothing from outside our server. Screenshots go to
// test-artifacts/screenshots/ (kept after the run, ignored by git) for a person to look at.
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, BrowserContext, BrowserContextOptions, Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = resolve(import.meta.dirname, "../../test-artifacts/screenshots");

/**
 * Whether browser tests can run here. Outside CI a missing chromium skips them with a line
 * in the output saying so; under CI it is a failure (CI installs chromium).
 */
export function browserAvailable(testFile: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) return true; // let the test fail with the reason
  console.warn(`[${testFile}] SKIPPED browser tests: ${CHROMIUM} is missing (apt-get install chromium to run them).`);
  return false;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: CI must install it (apt-get install chromium in .ci/run)`);
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export interface Watched {
  context: BrowserContext;
  page: Page;
  /** Requests to any host but `origin`: cut off, listed here. */
  offsite: string[];
  /** Our own responses ≥ 400 (other than `allowStatuses`), failed requests and page errors. */
  broken: string[];
  shot(name: string): Promise<string>;
}

/** A page that may only talk to `origin`. */
export async function watchedPage(
  browser: Browser,
  origin: string,
  opts: BrowserContextOptions & { allowStatuses?: number[] } = {},
): Promise<Watched> {
  const { allowStatuses = [], ...contextOptions } = opts;
  const context = await browser.newContext({ locale: "ru-RU", ...contextOptions });
  const offsite: string[] = [];
  const broken: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
    offsite.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("response", (r) => {
    if (r.url().startsWith(origin) && r.status() >= 400 && !allowStatuses.includes(r.status())) broken.push(`${r.status()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => {
    const why = r.failure()?.errorText ?? "";
    if (r.url().startsWith(origin) && why !== "net::ERR_ABORTED") broken.push(`${why} ${r.url()}`);
  });
  page.on("pageerror", (e) => broken.push(`page error: ${e.message}`));
  return {
    context,
    page,
    offsite,
    broken,
    async shot(name: string) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      const path = join(SCREENSHOTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
  };
}
