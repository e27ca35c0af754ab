// A sale or return the POS sends may be a completed receipt the till will not send again:
// when its body is refused — too large, not JSON, nested too deeply, unreadable, nothing
// usable in it — the server's log says so in one line (path, reason, status, content type,
// declared length, the tenant when already known), never with the body's content, and a
// flood of one cause cannot fill the log. Checked on the real server process's output.
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { MS } from "./support/app.ts";
import { startApiServer, type ApiServer } from "./support/api-server.ts";
import type { Spawned } from "./support/process.ts";
import { waitFor } from "./support/sales.ts";

const ADMIN = "refused-bodies-admin-token-0123";
const PHONE = "+79161234567";
const NAME = "Иванов Иван";
// The throttle's interval (src/refused-bodies.ts): lines of one cause are at least this far apart.
const INTERVAL_MS = 10_000;

let api: Spawned;
let base: string;

interface Shop {
  id: string;
  slug: string;
  apiToken: string;
}
const shops: Shop[] = [];

async function newShop(n: number): Promise<Shop> {
  const slug = `refused-${n}-${process.pid}`;
  const r = await fetch(`${base}/admin/v1/tenants`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ slug, name: `Магазин ${n}` }),
  });
  const body = (await r.json()) as any;
  expect(r.status).toBe(201);
  const shop = { id: body.id, slug, apiToken: body.apiToken };
  // One good call: the server now knows this key (as it does for any till that has spoken).
  const c = await fetch(`${base}${MS}/counterparty?search=x`, { headers: { "lognex-discount-api-auth-token": shop.apiToken } });
  expect(c.status).toBe(200);
  return shop;
}

async function post(path: string, headers: Record<string, string>, body: BodyInit, shop?: Shop): Promise<{ status: number; body: any }> {
  const h: Record<string, string> = { ...headers };
  if (shop) h["lognex-discount-api-auth-token"] = shop.apiToken;
  const r = await fetch(`${base}${MS}${path}`, { method: "POST", headers: h, body, duplex: "half" } as RequestInit);
  const text = await r.text();
  return { status: r.status, body: JSON.parse(text) };
}

/** The server's structured lines so far. */
function logLines(): Record<string, any>[] {
  return api
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
}
const refusals = () => logLines().filter((l) => l.msg === "POS body refused");

/** Waits for the refusal line that has these fields (the child's output arrives on its own time). */
const refusalLine = (fields: Record<string, unknown>) =>
  waitFor(`a refusal line ${JSON.stringify(fields)}`, async () =>
    refusals().find((l) => Object.entries(fields).every(([k, v]) => JSON.stringify(l[k]) === JSON.stringify(v))),
  );

const personal = JSON.stringify({ agent: { phone: PHONE, name: NAME }, positions: [{ assortment: { meta: { id: "p" } }, quantity: 1, price: 10 }] });
const nested = (depth: number) => `{"agent":{"phone":"${PHONE}","name":"${NAME}"},"x":` + "[".repeat(depth) + "]".repeat(depth) + "}";

let server: ApiServer;

beforeAll(async () => {
  server = await startApiServer({
    ADMIN_TOKEN: ADMIN,
      DB_POOL_SIZE: "3",
      CACHE_TTL_SECONDS: "3600", // keys once seen stay known for the whole test
  });
  ({ api, base } = server);
  for (let n = 1; n <= 4; n++) shops.push(await newShop(n));
});

afterAll(() => server?.stop());

describe("a refused sale or return is logged by its shape, never its content", () => {
  test("each kind of refusal writes a line: path, status, reason, content type, declared length, tenant", async () => {
    const [a, b] = shops as [Shop, Shop];

    // Not JSON (415): the body is never read.
    expect((await post("/retaildemand", { "content-type": "text/plain" }, personal, a)).status).toBe(415);
    await refusalLine({
      level: "warn",
      path: `${MS}/retaildemand`,
      status: 415,
      reason: "not JSON",
      contentType: "text/plain",
      declaredBytes: Buffer.byteLength(personal),
      tenantId: a.id,
    });

    // Too large (413), declared …
    const big = JSON.stringify({ agent: { phone: PHONE }, pad: "x".repeat(3 * 1024 * 1024) });
    expect((await post("/retailsalesreturn", { "content-type": "application/json" }, big, a)).status).toBe(413);
    await refusalLine({ path: `${MS}/retailsalesreturn`, status: 413, reason: "too large", contentType: "application/json", declaredBytes: Buffer.byteLength(big), tenantId: a.id });

    // … and chunked: no length was declared, counted as it streamed in.
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 64) c.enqueue(chunk);
        else c.close();
      },
    });
    expect((await post("/retaildemand", { "content-type": "application/json" }, stream, b)).status).toBe(413);
    await refusalLine({ path: `${MS}/retaildemand`, status: 413, reason: "too large", declaredBytes: null, tenantId: b.id });

    // Nested too deeply (400).
    const deep = nested(200);
    expect((await post("/retailsalesreturn", { "content-type": "application/json" }, deep, a)).status).toBe(400);
    await refusalLine({ path: `${MS}/retailsalesreturn`, status: 400, reason: "nested too deeply", declaredBytes: Buffer.byteLength(deep), tenantId: a.id });

    // Unreadable JSON (400).
    const broken = `{"agent":{"phone":"${PHONE}","name":"${NAME}"}, positions: [`;
    expect((await post("/retaildemand", { "content-type": "application/json" }, broken, a)).status).toBe(400);
    await refusalLine({ path: `${MS}/retaildemand`, status: 400, reason: "unreadable JSON", declaredBytes: Buffer.byteLength(broken), tenantId: a.id });

    // JSON with nothing usable in it (400): its top-level field names, nothing else.
    const empty = JSON.stringify({ agent: { phone: PHONE, name: NAME }, positions: [] });
    expect((await post("/retailsalesreturn", { "content-type": "application/json; charset=utf-8" }, empty, a)).status).toBe(400);
    const unusable = await refusalLine({ path: `${MS}/retailsalesreturn`, status: 400, reason: "nothing usable", tenantId: a.id });
    expect(unusable).toMatchObject({ contentType: "application/json; charset=utf-8", declaredBytes: Buffer.byteLength(empty), keys: ["agent", "positions"] });

    // Without a key (or one this process has not seen) the line names no tenant.
    expect((await post("/retaildemand", { "content-type": "application/x-www-form-urlencoded" }, "phone=79161234567")).status).toBe(415);
    const anonymous = await refusalLine({ path: `${MS}/retaildemand`, status: 415, contentType: "application/x-www-form-urlencoded" });
    expect(anonymous.tenantId).toBeUndefined();

    // Nothing of the bodies reached the log: no phone, no name, no key.
    const all = api.output();
    for (const secret of ["1234567", "Иванов", a.apiToken, b.apiToken]) expect(all).not.toContain(secret);
  });

  test("a flood of one cause writes a line per interval; another shop's refusal still gets its own", async () => {
    const [, , c, d] = shops as [Shop, Shop, Shop, Shop];
    const floodSize = 60;
    const started = Date.now();
    for (let i = 0; i < floodSize; i++) {
      const r = await post("/retaildemand", { "content-type": "text/plain" }, personal, c);
      expect({ status: r.status, code: r.body.errors?.[0]?.code }).toEqual({ status: 415, code: 41501 });
    }
    const elapsed = Date.now() - started;
    // The other shop, same reason, in the middle of the flood's interval: written.
    expect((await post("/retaildemand", { "content-type": "text/plain" }, personal, d)).status).toBe(415);
    await refusalLine({ status: 415, reason: "not JSON", tenantId: d.id });
    const flood = refusals().filter((l) => l.tenantId === c.id);
    expect(flood.length).toBeGreaterThanOrEqual(1);
    // At most one line per interval the flood lasted (the first, then one per interval passed).
    expect(flood.length).toBeLessThanOrEqual(1 + Math.floor(elapsed / INTERVAL_MS));
    expect(flood.length).toBeLessThan(floodSize);
    // A line after a held-back spell says how many were held back.
    for (const l of flood.slice(1)) expect(l.suppressed).toBeGreaterThan(0);
  });
});
