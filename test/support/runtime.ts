// What tests need from the runtime, on Bun and Deno alike.
import { serve } from "../../src/runtime/serve.ts";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A loopback HTTP server around a fetch handler (fakes of outside services). */
export function serveLoopback(fetch: (request: Request) => Response | Promise<Response>) {
  const server = serve({ port: 0, hostname: "127.0.0.1", maxBodyBytes: 64 * 1024 * 1024, fetch: (request) => fetch(request) });
  return { port: server.port, url: `http://127.0.0.1:${server.port}`, stop: (force = true) => server.stop(force) };
}

/**
 * HTML as @kitajs/html escapes it on every runtime: under Bun it uses Bun.escapeHTML
 * (`>` → `&gt;`, `"` → `&quot;`), elsewhere its own escaper (leaves `>`, `"` → `&#34;`).
 * Both are safe; assertions compare this form.
 */
export function sameEscapes(html: string): string {
  return html.replaceAll("&gt;", ">").replaceAll("&quot;", "&#34;").replaceAll("&#x27;", "&#39;");
}
