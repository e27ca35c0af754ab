// In-process cost of the customer's card (run by hand: `bun bench/card.ts`): the card page
// (one customer lookup, 20 ledger rows, the QR code's SVG) and a signed .pkpass, each
// served N times through the app's fetch handler against a scratch database. Prints the
// mean milliseconds per call; CPU-bound parts show up as the difference between the two.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadWalletConfig } from "../src/wallet/config.ts";
import { testContext } from "../test/support/app.ts";

const N = Number(process.env.BENCH_N ?? 300);
const dir = mkdtempSync(join(tmpdir(), "card-bench-"));
const ssl = (...a: string[]) => execFileSync("openssl", a, { cwd: dir, stdio: "ignore" });
ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=ca", "-days", "1");
ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "p.key", "-out", "p.csr", "-subj", "/CN=pass");
ssl("x509", "-req", "-in", "p.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "p.pem", "-days", "1");
const wallet = loadWalletConfig({ APPLE_PASS_TYPE_ID: "pass.bench", APPLE_TEAM_ID: "T", APPLE_PASS_CERT: join(dir, "p.pem"), APPLE_PASS_KEY: join(dir, "p.key"), APPLE_WWDR_CERT: join(dir, "ca.pem") });
const t = await testContext({ wallet });
try {
  const shop = await t.createTenant();
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79030000001", name: "Анна", statusCheck: "IGNORE" });
  for (let i = 0; i < 25; i++) await t.admin("POST", `/tenants/${shop.slug}/customers/${c.body.id}/adjustments`, { points: 10, reason: "bench" });
  const [row] = await t.db.sql<{ qr_token: string }[]>`select qr_token from customer where id = ${c.body.id}`;
  for (const [name, path] of [["card page", `/card/${row!.qr_token}`], [".pkpass", `/card/${row!.qr_token}/wallet.pkpass`]] as const) {
    const probe = await t.app.handle(new Request(`http://loyalty.test${path}`));
    if (probe.status !== 200) throw new Error(`${name}: ${probe.status} ${await probe.text()}`);
    for (let i = 0; i < 20; i++) await (await t.app.handle(new Request(`http://loyalty.test${path}`))).arrayBuffer();
    const start = performance.now();
    for (let i = 0; i < N; i++) await (await t.app.handle(new Request(`http://loyalty.test${path}`))).arrayBuffer();
    console.log(`${name}: ${((performance.now() - start) / N).toFixed(2)} ms per call (${N} calls)`);
  }
} finally {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
}
