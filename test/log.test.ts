import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { formatLine, log, scrubText, setLogLevel } from "../src/log.ts";
import { LogSender } from "../src/notify/log-sender.ts";
import { Queues } from "../src/queue/queues.ts";
import { freePort } from "../src/runtime/ports.ts";
import { type RunningWorkers, startWorkers } from "../workers/run.ts";
import { MS, type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { type TestQueues, testQueues } from "./support/redis.ts";
import { sale, waitFor } from "./support/sales.ts";

// What reaches the log: every line tied to its request or job and tenant; no phone
// number, name, code or key in readable form.

/** Lines written to the console while `fn` runs (the log writes JSON lines there). */
const lines: Record<string, any>[] = [];
const original = { log: console.log, error: console.error };
function capture(): void {
  const keep = (orig: (...a: unknown[]) => void) => (...args: unknown[]) => {
    const text = String(args[0]);
    if (text.startsWith("{")) lines.push(JSON.parse(text));
    else orig(...args);
  };
  console.log = keep(original.log);
  console.error = keep(original.error);
  setLogLevel("info");
}
function release(): void {
  setLogLevel((process.env.LOG_LEVEL as "error") ?? "info");
  console.log = original.log;
  console.error = original.error;
}

describe("what a line may not hold", () => {
  test("phones are masked, names, codes and keys replaced, by field name", () => {
    const line = JSON.parse(
      formatLine("info", "x", {
        phone: "79031234567",
        to: "+7 (903) 765-43-21",
        name: "Иван Петров",
        code: "482913",
        verificationCode: 482913,
        apiToken: "k3y-k3y-k3y",
        nested: { phone: "89160001122", authorization: "Bearer abc.def" },
        errCode: "23505",
        count: 3,
      }),
    );
    expect(line.phone).toBe("+7 903 ***-**-67");
    expect(line.to).toBe("+7 903 ***-**-21");
    expect(line.name).toBe("[redacted]");
    expect(line.code).toBe("[redacted]");
    expect(line.verificationCode).toBe("[redacted]");
    expect(line.apiToken).toBe("[redacted]");
    expect(line.nested).toEqual({ phone: "+7 916 ***-**-22", authorization: "[redacted]" });
    expect(line.errCode).toBe("23505");
    expect(line.count).toBe(3);
  });

  test("error codes stay readable under `code`", () => {
    expect(JSON.parse(formatLine("warn", "x", { code: "VALIDATION" })).code).toBe("VALIDATION");
    expect(JSON.parse(formatLine("warn", "x", { code: 40101 })).code).toBe(40101);
  });

  test("phone numbers and bearer tokens inside free text are masked", () => {
    expect(scrubText('duplicate key (tenant_id, phone)=(1, 79031234567)')).toBe("duplicate key (tenant_id, phone)=(1, +7 903 ***-**-67)");
    expect(scrubText("звонили с +7 903 123-45-67 и 8 (916) 000-11-22")).toBe("звонили с +7 903 ***-**-67 и +7 916 ***-**-22");
    expect(scrubText("Authorization: Bearer s3cr3t-token")).toBe("Authorization: Bearer [redacted]");
    // Amounts, ids and dates are left alone.
    expect(scrubText("sale 2026-11-30 total 123456789 kopecks")).toBe("sale 2026-11-30 total 123456789 kopecks");
  });
});

describe("every line names its request or job and tenant", () => {
  let t: TestContext;
  let q: TestQueues;
  let deadRedis: Queues;
  let workers: RunningWorkers;
  let shop: TestTenant;

  beforeAll(async () => {
    q = await testQueues();
    // Sales go to a Redis that is not there, so intake logs "not queued" inside the request.
    deadRedis = new Queues(`redis://127.0.0.1:${await freePort()}`, "log-test");
    t = await testContext({ queues: deadRedis });
    shop = await t.createTenant();
    workers = startWorkers(t.db.sql, q.queues, {
      redisUrl: q.url,
      concurrency: 2,
      lockDurationMs: 5000,
      sweepIntervalMs: 60_000,
      sweepAfterMs: 60_000,
      releaseIntervalMs: 60_000,
      notifications: { senders: { log: new LogSender() }, concurrency: 1 },
    });
    capture();
  });
  afterAll(async () => {
    release();
    await workers?.close();
    await deadRedis?.close();
    await q?.close();
    await t?.close();
  });

  test("a request's lines carry its id (the caller's X-Request-Id when given) and the tenant", async () => {
    const customer = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: "+79035550011", name: "Анна Смирнова", statusCheck: "IGNORE" });
    expect(customer.status).toBe(201);
    const s = sale({ customerId: customer.body.id, lines: [{ id: "p1", price: 100, quantity: 1 }] });
    const res = await t.fetch(`${MS}/retaildemand`, {
      method: "POST",
      headers: { "content-type": "application/json", "lognex-discount-api-auth-token": shop.apiToken, "x-request-id": "till-42-request-0001" },
      body: JSON.stringify(s.body),
    });
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 201 });
    expect(res.headers.get("x-request-id")).toBe("till-42-request-0001");
    const line = lines.find((l) => l.msg === "settlement not queued; the sweeper will retry");
    expect(line).toBeDefined();
    expect(line!.requestId).toBe("till-42-request-0001");
    expect(line!.tenantId).toBe(shop.id);

    // Without one, the service makes an id and answers it.
    const other = await t.pos(shop.apiToken, "POST", "/counterparty/detail", { meta: { id: customer.body.id } });
    expect(other.headers.get("x-request-id")).toMatch(/^[0-9a-f]{16}$/);
  });

  test("a job's lines carry the job id, queue and tenant, with the phone masked", async () => {
    const phone = "79035550022";
    const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: `+${phone}`, name: "Пётр Иванов", statusCheck: "IGNORE" });
    await q.queues.enqueuePointsMessage({ tenantId: shop.id, customerId: c.body.id, documentId: "doc-log-test", text: "+5 баллов, баланс 5" });
    const line = await waitFor("the logged message", async () => lines.find((l) => l.msg === "message not sent: logged instead" && l.jobId === "points-doc-log-test"));
    expect(line.queue).toBe("notifications");
    expect(line.tenantId).toBe(shop.id);
    expect(line.phone).toBe("+7 903 ***-**-22");
    log.info("after the job"); // the test's own line is not inside any job
    expect(lines.at(-1)!.jobId).toBeUndefined();
  });

  test("nothing written holds a phone number, a name or the access key in readable form", () => {
    expect(lines.length).toBeGreaterThan(0);
    const all = JSON.stringify(lines);
    for (const secret of ["79035550011", "79035550022", "Анна", "Смирнова", "Пётр", shop.apiToken]) expect(all).not.toContain(secret);
  });
});
