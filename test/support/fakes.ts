// Outside services played by real HTTP servers on loopback, so our real clients (fetch,
// web-push's encryption and VAPID signing) run against them and every request is recorded.
import { serveLoopback, sleep } from "./runtime.ts";

export interface SmsRequest {
  method: string;
  apiId: string | null;
  to: string | null;
  msg: string | null;
  from: string | null;
  json: string | null;
  at: number;
  /** What the fake answered: "ok", "error <code>", "request-error <code>", "http <status>". */
  answer?: string;
}

/** How the fake SMS.ru answers for one phone. */
export type SmsBehaviour =
  | { kind: "ok" }
  /** A per-number error: { sms: { phone: { status: "ERROR", status_code } } }. */
  | { kind: "error"; code: number; text?: string }
  /** A request-level error: { status: "ERROR", status_code } (wrong api_id, out of money…). */
  | { kind: "request-error"; code: number; text?: string }
  /** Plain HTTP failures before answering normally. */
  | { kind: "http"; status: number; times: number }
  /** Answer only after this many ms (timeouts). */
  | { kind: "slow"; delayMs: number };

export interface FakeSmsRu {
  url: string;
  requests: SmsRequest[];
  /** Requests for one phone (digits). */
  to(phone: string): SmsRequest[];
  behave(phone: string, b: SmsBehaviour): void;
  /** What POST /my/balance answers, roubles. */
  balanceRub: number;
  close(): void;
}

let smsSeq = 0;

export function fakeSmsRu(): FakeSmsRu {
  const requests: SmsRequest[] = [];
  const behaviours = new Map<string, SmsBehaviour>();
  const server = serveLoopback(async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/my/balance") {
        const form = new URLSearchParams(req.method === "POST" ? await req.text() : url.search);
        if (!form.get("api_id")) return Response.json({ status: "ERROR", status_code: 200, status_text: "Неправильный api_id" });
        return Response.json({ status: "OK", status_code: 100, balance: fake.balanceRub });
      }
      if (url.pathname !== "/sms/send") return new Response("not found", { status: 404 });
      const params = new URLSearchParams(url.search);
      if (req.method === "POST") {
        const form = new URLSearchParams(await req.text());
        for (const [k, v] of form) params.set(k, v);
      }
      const r: SmsRequest = {
        method: req.method,
        apiId: params.get("api_id"),
        to: params.get("to"),
        msg: params.get("msg"),
        from: params.get("from"),
        json: params.get("json"),
        at: Date.now(),
      };
      requests.push(r);
      const phone = r.to ?? "";
      const b = behaviours.get(phone) ?? { kind: "ok" };
      if (b.kind === "http" && b.times > 0) {
        b.times--;
        r.answer = `http ${b.status}`;
        return new Response("<html>502 Bad Gateway</html>", { status: b.status });
      }
      if (b.kind === "slow") await sleep(b.delayMs);
      if (b.kind === "request-error") {
        r.answer = `request-error ${b.code}`;
        return Response.json({ status: "ERROR", status_code: b.code, status_text: b.text ?? `error ${b.code}` });
      }
      if (b.kind === "error") {
        r.answer = `error ${b.code}`;
        return Response.json({
          status: "OK",
          status_code: 100,
          sms: { [phone]: { status: "ERROR", status_code: b.code, status_text: b.text ?? `error ${b.code}` } },
          balance: 100,
        });
      }
      r.answer = "ok";
      return Response.json({
        status: "OK",
        status_code: 100,
        sms: { [phone]: { status: "OK", status_code: 100, sms_id: `000000-${String(++smsSeq).padStart(8, "0")}` } },
        balance: 100,
      });
  });
  const fake: FakeSmsRu = {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    to: (phone) => requests.filter((r) => r.to === phone),
    behave: (phone, b) => behaviours.set(phone, { ...b }),
    balanceRub: 100,
    close: () => void server.stop(true),
  };
  return fake;
}

export interface PushRequest {
  path: string;
  headers: Record<string, string>;
  bodyLength: number;
  at: number;
}

export interface FakePushService {
  url: string;
  /** A fresh endpoint URL on this service. */
  endpoint(name: string): string;
  requests: PushRequest[];
  at(endpoint: string): PushRequest[];
  /** Answer 410 Gone (subscription expired) for this endpoint. */
  gone(endpoint: string): void;
  /** Answer `status` (default 500) this many times, then 201. */
  fail(endpoint: string, times: number, status?: number): void;
  close(): void;
}

export function fakePushService(): FakePushService {
  const requests: PushRequest[] = [];
  const gone = new Set<string>();
  const failing = new Map<string, { times: number; status: number }>();
  let seq = 0;
  const server = serveLoopback(async (req) => {
      const url = new URL(req.url);
      const body = new Uint8Array(await req.arrayBuffer());
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => {
        headers[k] = v;
      });
      requests.push({ path: url.pathname, headers, bodyLength: body.length, at: Date.now() });
      if (req.method !== "POST" || !url.pathname.startsWith("/push/")) return new Response(null, { status: 404 });
      if (gone.has(url.pathname)) return new Response("push subscription has unsubscribed or expired.", { status: 410 });
      const f = failing.get(url.pathname);
      if (f && f.times > 0) {
        f.times--;
        return new Response("busy", { status: f.status });
      }
      return new Response(null, { status: 201, headers: { location: `${url.origin}/messages/${++seq}` } });
  });
  const base = `http://127.0.0.1:${server.port}`;
  const pathOf = (endpoint: string) => new URL(endpoint).pathname;
  return {
    url: base,
    endpoint: (name) => `${base}/push/${name}`,
    requests,
    at: (endpoint) => requests.filter((r) => r.path === pathOf(endpoint)),
    gone: (endpoint) => void gone.add(pathOf(endpoint)),
    fail: (endpoint, times, status = 500) => void failing.set(pathOf(endpoint), { times, status }),
    close: () => void server.stop(true),
  };
}

/** Browser-side keys for a push subscription (what PushSubscription.toJSON() carries). */
export async function browserKeys(): Promise<{ p256dh: string; auth: string }> {
  const { createECDH, randomBytes } = await import("node:crypto");
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString("base64url"), auth: randomBytes(16).toString("base64url") };
}
