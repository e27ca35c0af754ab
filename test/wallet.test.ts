// Apple Wallet and Google Wallet against loopback stand-ins. The test makes its own
// certificates with openssl (a WWDR-like CA, a Pass Type ID certificate it signs, an APNs
// key, a TLS certificate for the HTTP/2 APNs stand-in, a Google service-account key),
// verifies the .pkpass (manifest hashes, PKCS#7 signature with openssl), plays a device
// against the PassKit web service, and checks that five balance changes in a second make
// one APNs push per device and one Google patch, with the last balance.
import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { serveLoopback, sleep } from "./support/runtime.ts";
import { execFileSync } from "node:child_process";
import { createHash, createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Stream } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { Worker } from "bullmq";
import { decodeJwt, jwtVerify } from "jose";
import forge from "node-forge";
import { LogSender } from "../src/notify/log-sender.ts";
import { QueueName, queuePrefix, workerConnection } from "../src/queue/queues.ts";
import { ApnsClient } from "../src/wallet/apns.ts";
import { loadWalletConfig, type WalletConfig } from "../src/wallet/config.ts";
import { GoogleWallet, SAVE_URL } from "../src/wallet/google.ts";
import { walletUpdateProcessor } from "../src/wallet/updates.ts";
import { notificationsProcessor } from "../workers/notifications.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { type TestQueues, testQueues } from "./support/redis.ts";

const PASS_TYPE = "pass.test.loyalty";
const TEAM = "TEAM123456";
const ISSUER = "3388000000012345678";

let dir: string;
const path = (n: string) => join(dir, n);
const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] }).toString();

/** Files of a zip (stored or deflated entries), read from the central directory. */
function unzip(buf: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    const method = buf.readUInt16LE(p + 10);
    const size = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString("utf8");
    const dataAt = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(dataAt, dataAt + size);
    files.set(name, method === 8 ? inflateRawSync(raw) : Buffer.from(raw));
    p += 46 + nameLen + extraLen + commentLen;
  }
  return files;
}

interface ApnsHit {
  path: string;
  topic: string;
  pushType: string;
  jwt: string;
  body: string;
}

let apns: { server: Http2SecureServer; url: string; hits: ApnsHit[]; gone: Set<string> };
let google: { url: string; tokens: string[]; patches: { path: string; auth: string; body: any }[]; stop(): void };
let wallet: WalletConfig;
let t: TestContext;
let tq: TestQueues;
let shop: TestTenant;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "loyalty-wallet-"));
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "wwdr.key", "-out", "wwdr.pem", "-subj", "/CN=Test WWDR CA", "-days", "2");
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "pass.key", "-out", "pass.csr", "-subj", `/UID=${PASS_TYPE}/CN=Pass Type ID: ${PASS_TYPE}/OU=${TEAM}`);
  ssl("x509", "-req", "-in", "pass.csr", "-CA", "wwdr.pem", "-CAkey", "wwdr.key", "-CAcreateserial", "-out", "pass.pem", "-days", "2");
  ssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "apns.p8");
  ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tls.key", "-out", "tls.pem", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2");
  ssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.pem");
  writeFileSync(path("sa.json"), JSON.stringify({ type: "service_account", client_email: "wallet@test-project.iam.gserviceaccount.com", private_key: readFileSync(path("sa.pem"), "utf8") }));

  // APNs stand-in: HTTP/2 over TLS, answers 200 (410 for tokens marked gone), records all.
  const hits: ApnsHit[] = [];
  const gone = new Set<string>();
  const server = createSecureServer({ key: readFileSync(path("tls.key")), cert: readFileSync(path("tls.pem")) });
  server.on("stream", (stream: ServerHttp2Stream, headers) => {
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (d) => (body += d));
    stream.on("end", () => {
      const p = String(headers[":path"]);
      hits.push({ path: p, topic: String(headers["apns-topic"]), pushType: String(headers["apns-push-type"]), jwt: String(headers.authorization).replace(/^bearer /, ""), body });
      const token = p.split("/").pop()!;
      if (gone.has(token)) {
        stream.respond({ ":status": 410, "content-type": "application/json" });
        stream.end(JSON.stringify({ reason: "Unregistered" }));
      } else {
        stream.respond({ ":status": 200, "apns-id": crypto.randomUUID() });
        stream.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  apns = { server, url: `https://127.0.0.1:${(server.address() as any).port}`, hits, gone };

  // Google stand-ins: the OAuth token endpoint and the Wallet REST API.
  const tokens: string[] = [];
  const patches: { path: string; auth: string; body: any }[] = [];
  const g = serveLoopback(async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/token" && req.method === "POST") {
      const form = new URLSearchParams(await req.text());
      tokens.push(form.get("assertion") ?? "");
      if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return new Response("bad grant", { status: 400 });
      return Response.json({ access_token: `ya29.test-${tokens.length}`, expires_in: 3600, token_type: "Bearer" });
    }
    if (url.pathname.startsWith("/walletobjects/v1/loyaltyObject/") && req.method === "PATCH") {
      patches.push({ path: decodeURIComponent(url.pathname), auth: req.headers.get("authorization") ?? "", body: await req.json() });
      return Response.json({});
    }
    return new Response("not found", { status: 404 });
  });
  google = { url: g.url, tokens, patches, stop: () => void g.stop() };

  wallet = loadWalletConfig({
    APPLE_PASS_TYPE_ID: PASS_TYPE,
    APPLE_TEAM_ID: TEAM,
    APPLE_PASS_CERT: path("pass.pem"),
    APPLE_PASS_KEY: path("pass.key"),
    APPLE_WWDR_CERT: path("wwdr.pem"),
    APNS_KEY_ID: "KEY1234567",
    APNS_KEY: path("apns.p8"),
    APNS_URL: apns.url,
    APNS_CA: path("tls.pem"),
    GOOGLE_WALLET_ISSUER_ID: ISSUER,
    GOOGLE_WALLET_SERVICE_ACCOUNT: path("sa.json"),
    GOOGLE_WALLET_API_URL: google.url,
    GOOGLE_OAUTH_URL: `${google.url}/token`,
  });
  tq = await testQueues();
  t = await testContext({ queues: tq.queues, wallet });
  shop = await t.createTenant();
});

afterAll(async () => {
  await t?.close();
  await tq?.close();
  apns?.server.close();
  google?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let phoneSeq = 0;
async function customer(points: number) {
  const phone = `+7917${String(process.pid % 1000).padStart(3, "0")}${String(++phoneSeq).padStart(4, "0")}`;
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone, name: "Анна", statusCheck: "IGNORE" });
  if (points) await t.admin("POST", `/tenants/${shop.slug}/customers/${c.body.id}/adjustments`, { points, reason: "старт" });
  const [row] = await t.db.sql<{ qr_token: string }[]>`select qr_token from customer where id = ${c.body.id}`;
  return { id: c.body.id as string, token: row!.qr_token };
}

async function download(token: string): Promise<{ res: Response; files: Map<string, Buffer>; pass: any }> {
  const res = await t.app.handle(new Request(`http://loyalty.test/card/${token}/wallet.pkpass`));
  const files = unzip(Buffer.from(await res.clone().arrayBuffer()));
  return { res, files, pass: JSON.parse(files.get("pass.json")!.toString("utf8")) };
}

const ws = (method: string, p: string, auth?: string, body?: unknown, headers: Record<string, string> = {}) =>
  t.app.handle(
    new Request(`http://loyalty.test/wallet/apple/v1${p}`, {
      method,
      headers: { ...(auth ? { authorization: `ApplePass ${auth}` } : {}), ...(body ? { "content-type": "application/json" } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    }),
  );

describe("Apple Wallet pass", () => {
  test("a store card with the QR code and balance, every file in the manifest, signed with our certificate", async () => {
    const c = await customer(420);
    const { res, files, pass } = await download(c.token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/vnd.apple.pkpass");
    expect(pass).toMatchObject({ formatVersion: 1, passTypeIdentifier: PASS_TYPE, teamIdentifier: TEAM, webServiceURL: "http://localhost:3000/wallet/apple/" });
    expect(pass.barcodes[0]).toMatchObject({ format: "PKBarcodeFormatQR", message: `http://localhost:3000/card/${c.token}` });
    expect(pass.storeCard.primaryFields[0]).toMatchObject({ key: "balance", value: 420 });
    expect(pass.authenticationToken.length).toBeGreaterThanOrEqual(16);

    const manifest = JSON.parse(files.get("manifest.json")!.toString("utf8")) as Record<string, string>;
    const listed = Object.keys(manifest).sort();
    expect(listed).toEqual([...files.keys()].filter((n) => n !== "manifest.json" && n !== "signature").sort());
    expect(listed).toContain("icon.png");
    for (const [name, sha1] of Object.entries(manifest)) expect({ name, sha1 }).toEqual({ name, sha1: createHash("sha1").update(files.get(name)!).digest("hex") });

    // The detached PKCS#7 signature over manifest.json, by our Pass Type ID certificate
    // (chained to the WWDR certificate), checked by openssl.
    writeFileSync(path("signature"), files.get("signature")!);
    writeFileSync(path("manifest.json"), files.get("manifest.json")!);
    const verify = (content: string) =>
      execFileSync("openssl", ["smime", "-verify", "-binary", "-inform", "DER", "-in", "signature", "-content", content, "-CAfile", "wwdr.pem", "-purpose", "any", "-out", "/dev/null"], {
        cwd: dir,
        stdio: ["ignore", "pipe", "pipe"],
      });
    expect(() => verify("manifest.json")).not.toThrow();
    writeFileSync(path("tampered.json"), files.get("manifest.json")!.toString("utf8").replace(/"icon.png":"[0-9a-f]+"/, `"icon.png":"${"0".repeat(40)}"`));
    expect(() => verify("tampered.json")).toThrow();
    const p7 = forge.pkcs7.messageFromAsn1(forge.asn1.fromDer(forge.util.createBuffer(files.get("signature")!.toString("binary")))) as forge.pkcs7.PkcsSignedData;
    const signer = p7.certificates.map((x) => forge.pki.certificateToPem(x).replace(/\r\n/g, "\n").trim());
    expect(signer).toContain(readFileSync(path("pass.pem"), "utf8").trim());
  });

  test("an unknown token: 404 page, no pass; the card page shows both Wallet buttons", async () => {
    const r = await t.fetch("/card/AAAAAAAAAAAAAAAAAAAAAA/wallet.pkpass");
    expect(r.status).toBe(404);
    const c = await customer(0);
    const page = String((await t.fetch(`/card/${c.token}`)).body);
    expect(page).toContain(`/card/${c.token}/wallet.pkpass`);
    expect(page).toContain(`/card/${c.token}/wallet/google`);
  });
});

describe("PassKit web service, as a device calls it", () => {
  test("register, list updated serials, fetch the latest pass, log, unregister; the token is checked on every call", async () => {
    const c = await customer(100);
    const { pass } = await download(c.token);
    const serial = pass.serialNumber as string;
    const auth = pass.authenticationToken as string;
    const reg = `/devices/device-a/registrations/${PASS_TYPE}/${serial}`;
    expect((await ws("POST", reg, undefined, { pushToken: "tok-a" })).status).toBe(401);
    expect((await ws("POST", reg, "wrong-token-wrong-token", { pushToken: "tok-a" })).status).toBe(401);
    expect((await ws("POST", `/devices/device-a/registrations/pass.other/${serial}`, auth, { pushToken: "tok-a" })).status).toBe(401);
    expect((await ws("POST", reg, auth, { pushToken: "tok-a" })).status).toBe(201);
    expect((await ws("POST", reg, auth, { pushToken: "tok-a2" })).status).toBe(200);

    const list = await ws("GET", `/devices/device-a/registrations/${PASS_TYPE}`);
    expect(list.status).toBe(200);
    const listed = (await list.json()) as { serialNumbers: string[]; lastUpdated: string };
    expect(listed.serialNumbers).toEqual([serial]);
    expect((await ws("GET", `/devices/device-a/registrations/${PASS_TYPE}?passesUpdatedSince=${listed.lastUpdated}`)).status).toBe(204);
    expect((await ws("GET", `/devices/unknown-device/registrations/${PASS_TYPE}`)).status).toBe(204);

    const latest = await ws("GET", `/passes/${PASS_TYPE}/${serial}`, auth);
    expect(latest.status).toBe(200);
    expect(latest.headers.get("content-type")).toBe("application/vnd.apple.pkpass");
    const lastModified = latest.headers.get("last-modified")!;
    expect((await ws("GET", `/passes/${PASS_TYPE}/${serial}`, auth, undefined, { "if-modified-since": lastModified })).status).toBe(304);
    expect((await ws("GET", `/passes/${PASS_TYPE}/${serial}`, "nope-nope-nope-nope")).status).toBe(401);
    expect((await ws("POST", "/log", undefined, { logs: ["Web service error: test"] })).status).toBe(200);

    expect((await ws("DELETE", reg, "wrong-token-wrong-token")).status).toBe(401);
    expect((await ws("DELETE", reg, auth)).status).toBe(200);
    expect((await ws("GET", `/devices/device-a/registrations/${PASS_TYPE}`)).status).toBe(204);
  });
});

describe("Google Wallet save link", () => {
  test("redirects to Google with a loyalty object in a JWT signed by the service account", async () => {
    const c = await customer(77);
    const r = await t.app.handle(new Request(`http://loyalty.test/card/${c.token}/wallet/google`));
    expect(r.status).toBe(302);
    const location = r.headers.get("location")!;
    expect(location.startsWith(SAVE_URL)).toBe(true);
    const jwt = location.slice(SAVE_URL.length);
    const { payload, protectedHeader } = await jwtVerify(jwt, createPublicKey(readFileSync(path("sa.pem"))), { audience: "google", issuer: "wallet@test-project.iam.gserviceaccount.com" });
    expect(protectedHeader.alg).toBe("RS256");
    expect(payload.typ).toBe("savetowallet");
    expect(payload.origins).toEqual(["http://localhost:3000"]);
    const obj = (payload.payload as any).loyaltyObjects[0];
    expect(obj).toMatchObject({ id: `${ISSUER}.${c.id}`, classId: `${ISSUER}.loyalty-${shop.slug}`, state: "ACTIVE", loyaltyPoints: { balance: { int: 77 } } });
    expect(obj.barcode).toEqual({ type: "QR_CODE", value: `http://localhost:3000/card/${c.token}` });
    expect((payload.payload as any).loyaltyClasses[0].id).toBe(`${ISSUER}.loyalty-${shop.slug}`);
  });
});

describe("updates when the balance changes", () => {
  test("five changes in a second: one APNs push per device and one Google patch, with the last balance", async () => {
    const c = await customer(10);
    const { pass } = await download(c.token);
    const serial = pass.serialNumber as string;
    const auth = pass.authenticationToken as string;
    for (const [device, token] of [["dev-1", "push-1"], ["dev-2", "push-2"], ["dev-3", "push-gone"]]) {
      expect((await ws("POST", `/devices/${device}/registrations/${PASS_TYPE}/${serial}`, auth, { pushToken: token })).status).toBe(201);
    }
    apns.gone.add("push-gone");
    expect((await t.app.handle(new Request(`http://loyalty.test/card/${c.token}/wallet/google`))).status).toBe(302);
    const before = (await (await ws("GET", `/devices/dev-1/registrations/${PASS_TYPE}`)).json()) as { lastUpdated: string };
    const hitsBefore = apns.hits.length;

    // Five changes while no worker runs: they all fall on the one waiting refresh.
    for (let i = 1; i <= 5; i++) {
      const r = await t.admin("POST", `/tenants/${shop.slug}/customers/${c.id}/adjustments`, { points: i, reason: `изменение ${i}` });
      expect(r.status).toBe(201);
    }
    const queued = (await tq.queues.notifications.getJobs(["delayed", "waiting", "prioritized"])).filter((j) => j.data.type === "wallet" && j.data.customerId === c.id);
    expect(queued).toHaveLength(1);

    const apple = wallet.apple!;
    const client = new ApnsClient({ teamId: apple.teamId, ...apple.apns! }, apple.passTypeId);
    const processor = notificationsProcessor(t.db.sql, { log: new LogSender(() => {}) }, {
      wallet: walletUpdateProcessor(t.db.sql, { apns: client, google: new GoogleWallet(wallet.google!, t.deps.config.publicUrl), publicUrl: t.deps.config.publicUrl }),
    });
    const connection = workerConnection(tq.url);
    const done: unknown[] = [];
    const worker = new Worker(QueueName.notifications, processor, { connection, prefix: queuePrefix(tq.queues.base, QueueName.notifications) });
    worker.on("completed", (job, result) => {
      if (job.data.type === "wallet" && job.data.customerId === c.id) done.push(result);
    });
    worker.on("failed", (job, e) => done.push({ failed: e.message }));
    try {
      while (done.length === 0) await sleep(50);
    } finally {
      await worker.close();
      connection.disconnect();
      client.close();
    }
    expect(done).toEqual([{ status: "sent", apple: { devices: 3, accepted: 2, dropped: 1 }, google: "patched" }]);

    const pushes = apns.hits.slice(hitsBefore);
    expect(pushes.map((h) => h.path).sort()).toEqual(["/3/device/push-1", "/3/device/push-2", "/3/device/push-gone"]);
    for (const h of pushes) {
      expect(h.topic).toBe(PASS_TYPE);
      expect(h.body).toBe("{}");
      const claims = decodeJwt(h.jwt);
      expect(claims.iss).toBe(TEAM);
      const { protectedHeader } = await jwtVerify(h.jwt, createPublicKey(readFileSync(path("apns.p8"))));
      expect(protectedHeader).toMatchObject({ alg: "ES256", kid: "KEY1234567" });
    }
    // The device that Apple called gone is unregistered.
    expect((await ws("GET", `/devices/dev-3/registrations/${PASS_TYPE}`)).status).toBe(204);
    // The device asks what changed and fetches the pass: the last balance (10 + 1+2+3+4+5).
    const changed = (await (await ws("GET", `/devices/dev-1/registrations/${PASS_TYPE}?passesUpdatedSince=${before.lastUpdated}`)).json()) as { serialNumbers: string[] };
    expect(changed.serialNumbers).toEqual([serial]);
    const latest = unzip(Buffer.from(await (await ws("GET", `/passes/${PASS_TYPE}/${serial}`, auth)).arrayBuffer()));
    expect(JSON.parse(latest.get("pass.json")!.toString("utf8")).storeCard.primaryFields[0].value).toBe(25);

    const patches = google.patches.filter((p) => p.path.endsWith(`.${c.id}`));
    expect(patches).toHaveLength(1);
    expect(patches[0]!.body.loyaltyPoints).toEqual({ label: "Баллы", balance: { int: 25 } });
    expect(patches[0]!.auth).toMatch(/^Bearer ya29\.test-\d+$/);
    const assertion = google.tokens[google.tokens.length - 1]!;
    const { payload } = await jwtVerify(assertion, createPublicKey(readFileSync(path("sa.pem"))), { audience: `${google.url}/token` });
    expect(payload.scope).toBe("https://www.googleapis.com/auth/wallet_object.issuer");
  });

  test("customers without a pass queue no Wallet refresh", async () => {
    const c = await customer(0);
    await t.admin("POST", `/tenants/${shop.slug}/customers/${c.id}/adjustments`, { points: 5, reason: "x" });
    const queued = (await tq.queues.notifications.getJobs(["delayed", "waiting", "prioritized"])).filter((j) => j.data.type === "wallet" && j.data.customerId === c.id);
    expect(queued).toHaveLength(0);
  });
});
