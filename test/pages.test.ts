// The frame our pages share: static files served by us, HTML escaped, Russian.
import { afterAll, beforeAll, expect, test } from "./support/test.ts";
import { Notice, Page } from "../src/pages/layout.tsx";
import { type TestContext, testContext } from "./support/app.ts";
import { sameEscapes } from "./support/runtime.ts";

let ctx: TestContext;
beforeAll(async () => {
  ctx = await testContext();
});
afterAll(() => ctx?.close());

test("our stylesheet and htmx are served from our own server", async () => {
  const css = await ctx.fetch("/assets/app.css");
  expect(css.status).toBe(200);
  expect(css.headers.get("content-type")).toContain("text/css");
  expect(String(css.body)).toContain("--accent");
  const js = await ctx.fetch("/assets/htmx.min.js");
  expect(js.status).toBe(200);
  expect(js.headers.get("content-type")).toContain("javascript");
  expect(String(js.body)).toContain("htmx");
});

test("an unknown asset is 404 with the errors[] body, and paths cannot climb out", async () => {
  for (const p of ["/assets/nope.js", "/assets/..%2Fpackage.json", "/assets/%2e%2e%2fapp.ts"]) {
    const r = await ctx.fetch(p);
    expect({ p, status: r.status }).toEqual({ p, status: 404 });
    expect(r.body.errors[0].code).toBe(40403);
  }
});

test("the page frame escapes what it is given and loads only our files", async () => {
  const html = sameEscapes(
    await Page({ title: "<script>x</script>", brand: "Кофе & <Чай>", nav: [{ href: "/a", label: "<b>" }], children: Notice({ kind: "error", text: "<img src=x>" }) }),
  );
  expect(html.startsWith("<!doctype html>")).toBe(true);
  expect(html).toContain('<html lang="ru">');
  expect(html).toContain("&lt;script>x&lt;/script>");
  expect(html).toContain("Кофе &amp; &lt;Чай>");
  expect(html).toContain("&lt;img src=x>");
  expect(html).not.toContain("<img");
  for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) expect(m[1]!.startsWith("/")).toBe(true);
});
