// Static files of our pages: our stylesheet and the few npm packages the pages use, served
// from node_modules by our own server (no CDN, no outside fonts). Each file is read once,
// on first request, and kept in memory; names carry no version so pages stay simple, and
// the cache lifetime is short enough for a deploy to reach browsers within the hour.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Elysia } from "elysia";
import { errors } from "../errors.ts";

const require = createRequire(import.meta.url);

const own = (name: string) => fileURLToPath(new URL(`./static/${name}`, import.meta.url));

/** URL name → file on disk and its content type. Add a package's file here to serve it. */
const FILES: Record<string, { path: () => string; type: string }> = {
  "app.css": { path: () => own("app.css"), type: "text/css; charset=utf-8" },
  "htmx.min.js": { path: () => require.resolve("htmx.org/dist/htmx.min.js"), type: "text/javascript; charset=utf-8" },
};

/** Registers one more served file (feature modules add theirs: a chart library, a service worker…). */
export function serveAsset(name: string, path: () => string, type: string): void {
  FILES[name] = { path, type };
}

const loaded = new Map<string, Promise<ArrayBuffer>>();

export const ASSETS_PREFIX = "/assets";
export const assetUrl = (name: string) => `${ASSETS_PREFIX}/${name}`;

export const assetsController = new Elysia({ prefix: ASSETS_PREFIX }).get(
  "/:name",
  async ({ params, set }) => {
    const file = FILES[params.name];
    if (!file) throw errors.notFound("Такого файла нет.");
    let body = loaded.get(params.name);
    if (!body) {
      body = readFile(file.path()).then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
      loaded.set(params.name, body);
      body.catch(() => loaded.delete(params.name));
    }
    set.headers["content-type"] = file.type;
    set.headers["cache-control"] = "public, max-age=3600";
    set.headers["x-content-type-options"] = "nosniff";
    return new Response(await body, { headers: set.headers as Record<string, string> });
  },
  { detail: { hide: true } },
);
