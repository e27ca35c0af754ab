// The reference endpoint: bare Bun.serve + postgres.js, ONE indexed lookup per request,
// with the API's pool size and client settings. What an interactive call cannot beat
// on this machine; bench/run.ts starts it as a process of its own.
//   GET /lookup?phone=79031234567 → {"id": "...", "balance": 123}
import { createSql } from "../src/db/client.ts";

const url = process.env.DATABASE_URL;
const tenantId = process.env.BENCH_TENANT_ID;
if (!url || !tenantId) {
  console.error("reference: DATABASE_URL and BENCH_TENANT_ID are required");
  process.exit(2);
}
const sql = createSql(url, { max: Number(process.env.DB_POOL_SIZE ?? 20), applicationName: "loyalty-bench-reference" });

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/health") return Response.json({ status: "ok" });
    const phone = url.searchParams.get("phone");
    if (url.pathname !== "/lookup" || !phone) return new Response("not found", { status: 404 });
    const [row] = await sql`select id, balance from customer where tenant_id = ${tenantId} and phone = ${phone}`;
    return row ? Response.json(row) : Response.json({ error: "no such customer" }, { status: 404 });
  },
});
console.log(`reference listening on ${server.port}`);

const stop = async () => {
  await server.stop(true);
  await sql.end({ timeout: 2 });
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
