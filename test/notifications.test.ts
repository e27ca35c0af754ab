import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
import { randomUUID } from "node:crypto";
import type { Job } from "bullmq";
import webpush from "web-push";
import { ConfigError } from "../src/config.ts";
import { LogSender } from "../src/notify/log-sender.ts";
import { loadNotifyConfig } from "../src/notify/config.ts";
import { classifySmsRuCode, SmsRuClient } from "../src/notify/smsru.ts";
import { SendError, type Senders } from "../src/notify/types.ts";
import { WebPushClient } from "../src/notify/webpush.ts";
import { jobId, type NotificationJob, type PointsMessageJob } from "../src/queue/queues.ts";
import { notificationsProcessor } from "../workers/notifications.ts";
import { type RunningWorkers, startWorkers, type WorkerOptions } from "../workers/run.ts";
import { type TestContext, type TestTenant, testContext } from "./support/app.ts";
import { browserKeys, type FakePushService, type FakeSmsRu, fakePushService, fakeSmsRu } from "./support/fakes.ts";
import { type TestQueues, testQueues } from "./support/redis.ts";
import { serveLoopback, sleep } from "./support/runtime.ts";
import { sale, waitFor } from "./support/sales.ts";

// Senders on the notifications queue, on the machine's real Postgres and Redis; SMS.ru and
// the browsers' push service are loopback HTTP servers that record what they got.
const API_ID = "A3CA597E-3ACF-4E7D-82EE-CF82B52B1A8B";
const SUBJECT = "mailto:ops@example.com";

let t: TestContext;
let q: TestQueues;
let workers: RunningWorkers;
let shop: TestTenant;
let sms: FakeSmsRu;
let pushService: FakePushService;
let vapid: { publicKey: string; privateKey: string };
let senders: Senders;
const logged: Record<string, unknown>[] = [];

const workerOpts = (extra: Partial<WorkerOptions> = {}): WorkerOptions => ({
  redisUrl: q.url,
  concurrency: 8,
  lockDurationMs: 5000,
  sweepIntervalMs: 200,
  sweepAfterMs: 1000,
  releaseIntervalMs: 200,
  ...extra,
});

beforeAll(async () => {
  sms = fakeSmsRu();
  pushService = fakePushService();
  vapid = webpush.generateVAPIDKeys();
  senders = {
    sms: new SmsRuClient({ url: sms.url, apiId: API_ID, from: "Loyalty", timeoutMs: 3000 }),
    push: new WebPushClient({ ...vapid, subject: SUBJECT, timeoutMs: 3000 }),
    log: new LogSender((msg, fields) => logged.push({ msg, ...fields })),
  };
  q = await testQueues();
  t = await testContext({ queues: q.queues });
  workers = startWorkers(t.db.sql, q.queues, workerOpts({ notifications: { senders, concurrency: 8 } }));
  shop = await t.createTenant();
});
afterAll(async () => {
  await workers?.close();
  await q?.close();
  await t?.close();
  sms?.close();
  pushService?.close();
});

// Customers registered at the till also get their card link by SMS (test/card.test.ts):
// this file counts the code and points messages only.
const smsTo = (phone: string) => sms.to(phone).filter((r) => !/ваша карта/.test(r.msg ?? ""));

const randomPhone = () => `7916${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;

async function customer(points = 0): Promise<{ id: string; phone: string }> {
  const phone = randomPhone();
  const c = await t.pos(shop.apiToken, "POST", "/counterparty", { phone: `+${phone}`, statusCheck: "IGNORE" });
  expect(c.status).toBe(201);
  // Let the card link go first, so it takes none of the gateway behaviours a test sets up.
  await waitFor("the card link SMS", async () => sms.to(phone).some((r) => /ваша карта/.test(r.msg ?? "")));
  if (points) await t.admin("POST", `/tenants/${shop.slug}/customers/${c.body.id}/adjustments`, { points, reason: "start" });
  return { id: c.body.id, phone };
}

async function subscribe(customerId: string, endpoint: string): Promise<string> {
  const keys = await browserKeys();
  const [row] = await t.db.sql<{ id: string }[]>`
    insert into push_subscription (tenant_id, customer_id, endpoint, p256dh, auth)
    values (${shop.id}, ${customerId}, ${endpoint}, ${keys.p256dh}, ${keys.auth}) returning id`;
  return row!.id;
}

/** A points message queued as settlement queues it, with a quick backoff for retry tests. */
async function queuePoints(customerId: string, text: string, opts: { attempts?: number } = {}) {
  const documentId = randomUUID();
  const data: PointsMessageJob = { type: "points", tenantId: shop.id, customerId, documentId, text };
  const job = await q.queues.notifications.add("points", data, {
    jobId: jobId.pointsMessage(documentId),
    priority: 10,
    attempts: opts.attempts ?? 5,
    backoff: { type: "fixed", delay: 100 },
  });
  return { documentId, jobId: job.id! };
}

const stateOf = (id: string) => async () => {
  const s = await q.queues.notifications.getJobState(id);
  return s === "completed" || s === "failed" ? s : null;
};

async function notificationRows(ref: string) {
  return [
    ...(await t.db.sql`
      select purpose, channel, status, provider_id, error, text from notification
      where tenant_id = ${shop.id} and ref = ${ref} order by channel`),
  ];
}

async function newCode(phone: string, code: string, ttl = "5 minutes", customerId: string | null = null): Promise<string> {
  const [row] = await t.db.sql<{ id: string }[]>`
    insert into verification_code (tenant_id, purpose, phone, customer_id, code, expires_at)
    values (${shop.id}, 'spend', ${phone}, ${customerId}, ${code}, now() + ${ttl}::interval) returning id`;
  return row!.id;
}

function fakeJob(data: NotificationJob, attemptsMade = 0, attempts = 10): Job<NotificationJob> {
  return { id: `direct-${randomUUID()}`, data, attemptsMade, opts: { attempts } } as unknown as Job<NotificationJob>;
}

describe("points messages through the worker", () => {
  test("a sale delivered many times: the customer gets exactly one SMS '+12 баллов, баланс 183'", async () => {
    const c = await customer(171);
    const s = sale({ customerId: c.id, lines: [{ id: "p", price: 240, quantity: 1 }], cash: 240 });
    const replies = await Promise.all(Array.from({ length: 5 }, () => t.pos(shop.apiToken, "POST", "/retaildemand", s.body)));
    expect(new Set(replies.map((r) => r.status))).toEqual(new Set([201]));
    const docId = replies[0]!.body.id as string;
    await waitFor("SMS sent", async () => (await notificationRows(docId)).some((r) => r.status === "sent"));
    // More deliveries after the message went out.
    for (let i = 0; i < 3; i++) expect((await t.pos(shop.apiToken, "POST", "/retaildemand", s.body)).status).toBe(201);
    await sleep(500);
    const got = smsTo(c.phone);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ method: "POST", apiId: API_ID, msg: "+12 баллов, баланс 183", from: "Loyalty", json: "1" });
    const rows = await notificationRows(docId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ purpose: "points", channel: "sms", status: "sent", text: "+12 баллов, баланс 183" });
    expect(rows[0]!.provider_id).toMatch(/^000000-\d{8}$/);
  });

  test("a temporary gateway failure (HTTP 500 twice) is retried: exactly one SMS", async () => {
    const c = await customer();
    sms.behave(c.phone, { kind: "http", status: 500, times: 2 });
    const { documentId, jobId: id } = await queuePoints(c.id, "+5 баллов, баланс 5");
    expect(await waitFor("job done", stateOf(id))).toBe("completed");
    const got = smsTo(c.phone);
    expect(got.map((r) => r.answer)).toEqual(["http 500", "http 500", "ok"]);
    expect(new Set(got.map((r) => r.msg))).toEqual(new Set(["+5 баллов, баланс 5"]));
    const job = await q.queues.notifications.getJob(id);
    expect(job!.attemptsMade).toBe(3);
    expect(job!.returnvalue).toMatchObject({ status: "sent", channel: "sms" });
    expect(await notificationRows(documentId)).toMatchObject([{ channel: "sms", status: "sent" }]);
  });

  test("SMS.ru 'service temporarily unavailable' (220) is retried too", async () => {
    const c = await customer();
    sms.behave(c.phone, { kind: "request-error", code: 220, text: "Сервис временно недоступен" });
    const { jobId: id } = await queuePoints(c.id, "+1 балл, баланс 1");
    await waitFor("first refusal", async () => smsTo(c.phone).length >= 1);
    sms.behave(c.phone, { kind: "ok" });
    expect(await waitFor("job done", stateOf(id))).toBe("completed");
    const answers = smsTo(c.phone).map((r) => r.answer);
    expect(answers.filter((a) => a === "ok")).toHaveLength(1);
    expect(answers[0]).toBe("request-error 220");
    expect((await q.queues.notifications.getJob(id))!.attemptsMade).toBe(answers.length);
  });

  test("an invalid number: the customer's SMS stop, the job fails with the reason, later messages are not sent by SMS", async () => {
    const c = await customer();
    sms.behave(c.phone, { kind: "error", code: 202, text: "Неправильно указан номер телефона получателя" });
    const first = await queuePoints(c.id, "+3 балла, баланс 3");
    expect(await waitFor("job failed", stateOf(first.jobId))).toBe("failed");
    const job = await q.queues.notifications.getJob(first.jobId);
    expect(job!.attemptsMade).toBe(1); // not retried
    expect(job!.failedReason).toContain("202");
    expect(job!.failedReason).toContain("Неправильно указан номер");
    const [row] = await t.db.sql`select sms_failed_at, sms_failure from customer where tenant_id = ${shop.id} and id = ${c.id}`;
    expect(row!.sms_failed_at).toBeInstanceOf(Date);
    expect(row!.sms_failure).toContain("SMS.ru 202");
    expect(await notificationRows(first.documentId)).toMatchObject([{ channel: "sms", status: "failed" }]);
    expect((await notificationRows(first.documentId))[0]!.error).toContain("202");

    const second = await queuePoints(c.id, "+4 балла, баланс 7");
    expect(await waitFor("second done", stateOf(second.jobId))).toBe("completed");
    expect(smsTo(c.phone)).toHaveLength(1); // only the first attempt ever reached the gateway
    const r2 = (await q.queues.notifications.getJob(second.jobId))!.returnvalue;
    expect(r2).toMatchObject({ status: "sent", channel: "log" });
    expect(r2.reason).toContain("SMS stopped");
    expect(await notificationRows(second.documentId)).toMatchObject([{ channel: "log", status: "sent" }]);
  });

  test("a customer with a subscribed browser gets a Web Push (VAPID, aes128gcm) and no SMS", async () => {
    const c = await customer();
    const endpoint = pushService.endpoint(randomUUID());
    await subscribe(c.id, endpoint);
    const { documentId, jobId: id } = await queuePoints(c.id, "+7 баллов, баланс 7");
    expect(await waitFor("job done", stateOf(id))).toBe("completed");
    const got = pushService.at(endpoint);
    expect(got).toHaveLength(1);
    const h = got[0]!.headers;
    expect(h.ttl).toBe("86400");
    expect(h["content-encoding"]).toBe("aes128gcm");
    expect(h["content-type"]).toBe("application/octet-stream");
    expect(h.urgency).toBe("normal");
    expect(got[0]!.bodyLength).toBeGreaterThan(86); // aes128gcm header (86 bytes) + ciphertext
    const m = /^vapid t=([^,]+), k=(.+)$/.exec(h.authorization!);
    expect(m).not.toBeNull();
    expect(m![2]).toBe(vapid.publicKey);
    const claims = JSON.parse(Buffer.from(m![1]!.split(".")[1]!, "base64url").toString());
    expect(claims).toMatchObject({ aud: pushService.url, sub: SUBJECT });
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000);
    expect(smsTo(c.phone)).toHaveLength(0);
    const rows = await notificationRows(documentId);
    expect(rows).toMatchObject([{ channel: "push", status: "sent", text: "+7 баллов, баланс 7" }]);
    expect(rows[0]!.provider_id).toStartWith(`${pushService.url}/messages/`);
  });

  test("push service 500 twice then accepted: exactly one push, no SMS", async () => {
    const c = await customer();
    const endpoint = pushService.endpoint(randomUUID());
    await subscribe(c.id, endpoint);
    pushService.fail(endpoint, 2, 503);
    const { documentId, jobId: id } = await queuePoints(c.id, "+2 балла, баланс 2");
    expect(await waitFor("job done", stateOf(id))).toBe("completed");
    expect(pushService.at(endpoint)).toHaveLength(3);
    expect(smsTo(c.phone)).toHaveLength(0);
    expect(await notificationRows(documentId)).toMatchObject([{ channel: "push", status: "sent" }]);
  });

  test("410 from the push service: the subscription expires and that message falls back to SMS", async () => {
    const c = await customer();
    const endpoint = pushService.endpoint(randomUUID());
    const subId = await subscribe(c.id, endpoint);
    pushService.gone(endpoint);
    const { documentId, jobId: id } = await queuePoints(c.id, "+9 баллов, баланс 9");
    expect(await waitFor("job done", stateOf(id))).toBe("completed");
    expect(pushService.at(endpoint)).toHaveLength(1);
    const [sub] = await t.db.sql`select expired_at, failure from push_subscription where tenant_id = ${shop.id} and id = ${subId}`;
    expect(sub!.expired_at).toBeInstanceOf(Date);
    expect(sub!.failure).toContain("410");
    expect(smsTo(c.phone).map((r) => r.msg)).toEqual(["+9 баллов, баланс 9"]);
    const rows = await notificationRows(documentId);
    expect(rows).toMatchObject([
      { channel: "push", status: "failed" },
      { channel: "sms", status: "sent" },
    ]);
    const rv = (await q.queues.notifications.getJob(id))!.returnvalue;
    expect(rv).toMatchObject({ status: "sent", channel: "sms", failures: [{ channel: "push", kind: "recipient" }] });

    // The next message goes straight to SMS: the expired browser is not tried again.
    const next = await queuePoints(c.id, "+1 балл, баланс 10");
    expect(await waitFor("next done", stateOf(next.jobId))).toBe("completed");
    expect(pushService.at(endpoint)).toHaveLength(1);
    expect(smsTo(c.phone)).toHaveLength(2);
  });

  test("two browsers, one gone: the other gets the push, the gone one expires, no SMS", async () => {
    const c = await customer();
    const live = pushService.endpoint(randomUUID());
    const dead = pushService.endpoint(randomUUID());
    await subscribe(c.id, live);
    const deadId = await subscribe(c.id, dead);
    pushService.gone(dead);
    const { jobId: id } = await queuePoints(c.id, "+6 баллов, баланс 6");
    expect(await waitFor("job done", stateOf(id))).toBe("completed");
    expect(pushService.at(live)).toHaveLength(1);
    expect(pushService.at(dead)).toHaveLength(1);
    const [sub] = await t.db.sql`select expired_at from push_subscription where tenant_id = ${shop.id} and id = ${deadId}`;
    expect(sub!.expired_at).toBeInstanceOf(Date);
    expect(smsTo(c.phone)).toHaveLength(0);
  });
});

describe("a settlement batch's messages in one job", () => {
  /** A batch job as settlement queues it, with a quick backoff for retry tests. */
  async function queueBatch(
    messages: { customerId: string; text: string }[],
    opts: { attempts?: number; beforeQueued?: (refs: string[]) => Promise<unknown> } = {},
  ) {
    const messageJob = randomUUID();
    const list = messages.map((m) => ({ ...m, documentId: randomUUID() }));
    await opts.beforeQueued?.(list.map((m) => m.documentId));
    const data: NotificationJob = { type: "points-batch", tenantId: shop.id, messageJob, messages: list };
    const job = await q.queues.notifications.add("points-batch", data, {
      jobId: jobId.pointsBatch(messageJob),
      priority: 10,
      attempts: opts.attempts ?? 5,
      backoff: { type: "fixed", delay: 100 },
    });
    return { refs: list.map((m) => m.documentId), jobId: job.id! };
  }

  test("each message goes once by its channel; one already sent is skipped, one of an unknown customer too", async () => {
    const [a, b, c] = [await customer(), await customer(), await customer()];
    await subscribe(c.id, `${pushService.url}/push/batch-${randomUUID()}`);
    const { refs, jobId: id } = await queueBatch(
      [
        { customerId: a.id, text: "+1 балл, баланс 1" },
        { customerId: b.id, text: "+2 балла, баланс 2" },
        { customerId: c.id, text: "+3 балла, баланс 3" },
        { customerId: randomUUID(), text: "+4 балла, баланс 4" },
      ],
      {
        // b's message went out before (say, a first run of this job that crashed afterwards).
        beforeQueued: (refs) => t.db.sql`insert into notification (tenant_id, customer_id, purpose, ref, channel, status, text)
          values (${shop.id}, ${b.id}, 'points', ${refs[1]!}, 'sms', 'sent', '+2 балла, баланс 2')`,
      },
    );
    expect(await waitFor("job done", stateOf(id))).toBe("completed");
    expect(smsTo(a.phone).map((r) => r.msg)).toEqual(["+1 балл, баланс 1"]);
    expect(smsTo(b.phone)).toEqual([]);
    expect(smsTo(c.phone)).toEqual([]);
    expect(pushService.requests.filter((r) => r.path.includes("batch-"))).toHaveLength(1);
    expect(await notificationRows(refs[0]!)).toMatchObject([{ channel: "sms", status: "sent", text: "+1 балл, баланс 1" }]);
    expect(await notificationRows(refs[2]!)).toMatchObject([{ channel: "push", status: "sent" }]);
    expect(await notificationRows(refs[3]!)).toEqual([]);
    expect((await q.queues.notifications.getJob(id))!.returnvalue).toMatchObject({ status: "sent", reason: "2 sent, 1 already, 1 skipped" });
  });

  test("a gateway failing for now for one customer: the others go at once, the job retries only that one", async () => {
    const [a, b] = [await customer(), await customer()];
    sms.behave(b.phone, { kind: "http", status: 500, times: 2 });
    const { refs, jobId: id } = await queueBatch([
      { customerId: a.id, text: "+5 баллов, баланс 5" },
      { customerId: b.id, text: "+6 баллов, баланс 6" },
    ]);
    expect(await waitFor("job done", stateOf(id))).toBe("completed");
    expect(smsTo(a.phone).map((r) => r.answer)).toEqual(["ok"]);
    expect(smsTo(b.phone).map((r) => r.answer)).toEqual(["http 500", "http 500", "ok"]);
    expect((await q.queues.notifications.getJob(id))!.attemptsMade).toBe(3);
    expect(await notificationRows(refs[0]!)).toMatchObject([{ channel: "sms", status: "sent" }]);
    expect(await notificationRows(refs[1]!)).toMatchObject([{ channel: "sms", status: "sent" }]);
  });

  test("a number that cannot take SMS: recorded failed and stopped; the batch's other messages still go", async () => {
    const [a, b] = [await customer(), await customer()];
    sms.behave(a.phone, { kind: "error", code: 202, text: "Неправильно указан номер телефона получателя" });
    const { refs, jobId: id } = await queueBatch([
      { customerId: a.id, text: "+7 баллов, баланс 7" },
      { customerId: b.id, text: "+8 баллов, баланс 8" },
    ]);
    expect(await waitFor("job done", stateOf(id))).toBe("completed");
    expect(smsTo(b.phone).map((r) => r.msg)).toEqual(["+8 баллов, баланс 8"]);
    expect(await notificationRows(refs[0]!)).toMatchObject([{ channel: "sms", status: "failed" }]);
    expect((await q.queues.notifications.getJob(id))!.returnvalue).toMatchObject({ reason: "1 sent, 1 undeliverable" });
    const [row] = await t.db.sql`select sms_failed_at from customer where tenant_id = ${shop.id} and id = ${a.id}`;
    expect(row!.sms_failed_at).toBeInstanceOf(Date);
  });

  test("failing for now on the last attempt: recorded failed for operators, the job fails with the reason", async () => {
    const a = await customer();
    sms.behave(a.phone, { kind: "http", status: 500, times: 5 });
    const { refs, jobId: id } = await queueBatch([{ customerId: a.id, text: "+9 баллов, баланс 9" }], { attempts: 2 });
    expect(await waitFor("job failed", stateOf(id))).toBe("failed");
    expect(await notificationRows(refs[0]!)).toMatchObject([{ channel: "sms", status: "failed" }]);
  });
});

describe("codes", () => {
  test("a code goes before waiting points messages (priority), rendered from the merchant's template", async () => {
    const tq = await testQueues();
    let w: RunningWorkers | undefined;
    try {
      const pointsPhones: string[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await customer();
        pointsPhones.push(c.phone);
        await tq.queues.enqueuePointsMessage({ tenantId: shop.id, customerId: c.id, documentId: randomUUID(), text: `+${i + 1} баллов` });
      }
      const codePhone = randomPhone();
      const codeId = await newCode(codePhone, "482913");
      await tq.queues.enqueueCodeMessage({ tenantId: shop.id, codeId });
      // One job at a time; sweeps far in the future so only the queued messages run.
      w = startWorkers(
        t.db.sql,
        tq.queues,
        workerOpts({ redisUrl: tq.url, sweepIntervalMs: 600_000, sweepAfterMs: 3_600_000, releaseIntervalMs: 600_000, notifications: { senders, concurrency: 1 } }),
      );
      const ours = new Set([codePhone, ...pointsPhones]);
      const ourMessages = () => sms.requests.filter((r) => ours.has(r.to!) && !/ваша карта/.test(r.msg ?? ""));
      await waitFor("all five sent", async () => ourMessages().length === 5);
      const order = ourMessages();
      expect(order[0]!.to).toBe(codePhone);
      expect(order[0]!.msg).toBe(`Код подтверждения: 482913. Никому его не сообщайте, кроме кассира Магазин ${shop.slug}.`);
      const rows = await notificationRows(codeId);
      expect(rows).toMatchObject([{ purpose: "code", channel: "sms", status: "sent", text: null }]);
      // The job's data and return value in Redis never carry the code.
      const job = await tq.queues.notifications.getJob(jobId.codeMessage(codeId));
      expect(JSON.stringify([job!.data, job!.returnvalue])).not.toContain("482913");
    } finally {
      await w?.close();
      await tq.close();
    }
  });

  test("the merchant's own code template; a repeated job sends nothing twice", async () => {
    await t.admin("PUT", `/tenants/${shop.slug}/program`, { codeMessageTemplate: "{shop}: ваш код {code}" });
    try {
      const phone = randomPhone();
      const codeId = await newCode(phone, "1234");
      const run = notificationsProcessor(t.db.sql, senders);
      const data: NotificationJob = { type: "code", tenantId: shop.id, codeId };
      expect(await run(fakeJob(data))).toEqual({ status: "sent", channel: "sms" });
      expect(await run(fakeJob(data, 1))).toEqual({ status: "already", channel: "sms" });
      expect(smsTo(phone).map((r) => r.msg)).toEqual([`Магазин ${shop.slug}: ваш код 1234`]);
    } finally {
      await t.admin("PUT", `/tenants/${shop.slug}/program`, { codeMessageTemplate: "Код подтверждения: {code}. Никому его не сообщайте, кроме кассира {shop}." });
    }
  });

  test("an expired, wiped or withdrawn code is not sent", async () => {
    const run = notificationsProcessor(t.db.sql, senders);
    const phone = randomPhone();
    const expired = await newCode(phone, "111111", "-1 second");
    expect(await run(fakeJob({ type: "code", tenantId: shop.id, codeId: expired }))).toEqual({ status: "skipped", reason: "code expired" });
    const wiped = await newCode(phone, "222222");
    await t.db.sql`update verification_code set code = null where tenant_id = ${shop.id} and id = ${wiped}`;
    expect(await run(fakeJob({ type: "code", tenantId: shop.id, codeId: wiped }))).toMatchObject({ status: "skipped" });
    expect(await run(fakeJob({ type: "code", tenantId: shop.id, codeId: randomUUID() }))).toEqual({ status: "skipped", reason: "code withdrawn" });
    expect(smsTo(phone)).toHaveLength(0);
  });

  test("a code to a number in the stop-list: failed for good and recorded on the customer; a later code that goes through lifts the stop", async () => {
    const c = await customer();
    const run = notificationsProcessor(t.db.sql, senders);
    sms.behave(c.phone, { kind: "error", code: 209, text: "Вы добавили этот номер в стоп-лист" });
    const codeId = await newCode(c.phone, "777777", "5 minutes", c.id);
    const err = await run(fakeJob({ type: "code", tenantId: shop.id, codeId })).catch((e) => e);
    expect(err?.name).toBe("UnrecoverableError");
    expect(err.message).toContain("209");
    expect(err.message).not.toContain("777777");
    const [row] = await t.db.sql`select sms_failed_at, sms_failure from customer where tenant_id = ${shop.id} and id = ${c.id}`;
    expect(row!.sms_failed_at).toBeInstanceOf(Date);
    expect(await notificationRows(codeId)).toMatchObject([{ channel: "sms", status: "failed", text: null }]);

    sms.behave(c.phone, { kind: "ok" });
    const again = await newCode(c.phone, "888888", "5 minutes", c.id);
    expect(await run(fakeJob({ type: "code", tenantId: shop.id, codeId: again }))).toEqual({ status: "sent", channel: "sms" });
    const [after] = await t.db.sql`select sms_failed_at from customer where tenant_id = ${shop.id} and id = ${c.id}`;
    expect(after!.sms_failed_at).toBeNull();
  });

  test("a temporary failure on the last attempt is recorded as failed; an operator's retry then sends it once", async () => {
    const run = notificationsProcessor(t.db.sql, senders);
    const phone = randomPhone();
    const codeId = await newCode(phone, "343434");
    sms.behave(phone, { kind: "http", status: 502, times: 1 });
    const err = await run(fakeJob({ type: "code", tenantId: shop.id, codeId }, 9, 10)).catch((e) => e);
    expect(err).toBeInstanceOf(SendError);
    expect(err.kind).toBe("temporary");
    expect(await notificationRows(codeId)).toMatchObject([{ channel: "sms", status: "failed" }]);
    expect(await run(fakeJob({ type: "code", tenantId: shop.id, codeId }))).toEqual({ status: "sent", channel: "sms" });
    expect(await notificationRows(codeId)).toMatchObject([{ channel: "sms", status: "sent", error: null }]);
    expect(smsTo(phone)).toHaveLength(2);
  });
});

describe("nothing configured: the log sender", () => {
  test("logs that a message would be sent, with a masked phone, and never the code", async () => {
    const lines: Record<string, unknown>[] = [];
    const run = notificationsProcessor(t.db.sql, { log: new LogSender((msg, f) => lines.push({ msg, ...f })) });
    const c = await customer();
    const codeId = await newCode(c.phone, "909192", "5 minutes", c.id);
    expect(await run(fakeJob({ type: "code", tenantId: shop.id, codeId }))).toEqual({ status: "sent", channel: "log" });
    const { documentId } = { documentId: randomUUID() };
    const r = await run(fakeJob({ type: "points", tenantId: shop.id, customerId: c.id, documentId, text: "+8 баллов, баланс 8" }));
    expect(r).toMatchObject({ status: "sent", channel: "log" });

    expect(lines).toHaveLength(2);
    const [codeLine, pointsLine] = lines;
    const masked = `+7 ${c.phone.slice(1, 4)} ***-**-${c.phone.slice(9)}`;
    expect(codeLine).toMatchObject({ purpose: "code", channel: "log", phone: masked, reason: "SMS is not configured" });
    expect(codeLine).not.toHaveProperty("text");
    const all = JSON.stringify(lines);
    expect(all).not.toContain("909192");
    expect(all).not.toContain("Код подтверждения");
    expect(all).not.toContain(c.phone);
    expect(pointsLine).toMatchObject({ purpose: "points", phone: masked, text: "+8 баллов, баланс 8" });
    expect(await notificationRows(codeId)).toMatchObject([{ channel: "log", status: "sent", text: null }]);
    expect(smsTo(c.phone)).toHaveLength(0);
  });
});

describe("SMS.ru client", () => {
  test("posts api_id, to, msg, json=1 and from as a form; reads sms_id", async () => {
    const client = new SmsRuClient({ url: sms.url + "/", apiId: API_ID, from: "Shop" });
    const phone = randomPhone();
    const d = await client.send(phone, "Привет & до свидания");
    expect(d.providerId).toMatch(/^000000-/);
    expect(smsTo(phone)).toMatchObject([{ method: "POST", apiId: API_ID, msg: "Привет & до свидания", from: "Shop", json: "1" }]);
  });

  test("classifies answers: per-number, request-level, HTTP, timeouts and unreachable gateways", async () => {
    const client = new SmsRuClient({ url: sms.url, apiId: API_ID, timeoutMs: 300 });
    const outcome = async (b: Parameters<FakeSmsRu["behave"]>[1]) => {
      const phone = randomPhone();
      sms.behave(phone, b);
      const e = await client.send(phone, "x").catch((err) => err);
      return e instanceof SendError ? [e.kind, e.code] : ["sent"];
    };
    expect(await outcome({ kind: "ok" })).toEqual(["sent"]);
    expect(await outcome({ kind: "error", code: 207 })).toEqual(["recipient", 207]);
    expect(await outcome({ kind: "error", code: 215 })).toEqual(["recipient", 215]);
    expect(await outcome({ kind: "error", code: 216 })).toEqual(["message", 216]);
    expect(await outcome({ kind: "error", code: 231 })).toEqual(["temporary", 231]);
    expect(await outcome({ kind: "request-error", code: 200 })).toEqual(["config", 200]);
    expect(await outcome({ kind: "request-error", code: 201 })).toEqual(["temporary", 201]);
    expect(await outcome({ kind: "request-error", code: 220 })).toEqual(["temporary", 220]);
    expect(await outcome({ kind: "http", status: 503, times: 1 })).toEqual(["temporary", 503]);
    expect(await outcome({ kind: "slow", delayMs: 1000 })).toEqual(["temporary", undefined]);

    const wrongPath = new SmsRuClient({ url: `${sms.url}/nowhere`, apiId: API_ID });
    expect(((await wrongPath.send(randomPhone(), "x").catch((e) => e)) as SendError).kind).toBe("config");

    const closed = serveLoopback(() => new Response());
    const port = closed.port;
    await closed.stop(true);
    const down = new SmsRuClient({ url: `http://127.0.0.1:${port}`, apiId: API_ID, timeoutMs: 1000 });
    const e = (await down.send(randomPhone(), "x").catch((err) => err)) as SendError;
    expect(e.kind).toBe("temporary");
    expect(e.message).toContain("unreachable");

    expect([100, 202, 209, 204, 205, 206, 300, 500, 999].map(classifySmsRuCode)).toEqual([
      "temporary", // 100 is never an error; unknown codes retry
      "recipient",
      "recipient",
      "config",
      "message",
      "temporary",
      "config",
      "temporary",
      "temporary",
    ]);
  });
});

describe("configuration", () => {
  const keys = webpush.generateVAPIDKeys();

  test("nothing set: SMS and push are off; SMS_RU_URL defaults to https://sms.ru", () => {
    expect(loadNotifyConfig({})).toEqual({ sms: null, push: null });
    expect(loadNotifyConfig({ SMS_RU_API_ID: API_ID })).toEqual({ sms: { url: "https://sms.ru", apiId: API_ID }, push: null });
    expect(
      loadNotifyConfig({
        SMS_RU_URL: "http://127.0.0.1:9999/",
        SMS_RU_API_ID: API_ID,
        SMS_RU_FROM: "MyShop",
        VAPID_PUBLIC_KEY: keys.publicKey,
        VAPID_PRIVATE_KEY: keys.privateKey,
        VAPID_SUBJECT: SUBJECT,
      }),
    ).toEqual({
      sms: { url: "http://127.0.0.1:9999", apiId: API_ID, from: "MyShop" },
      push: { publicKey: keys.publicKey, privateKey: keys.privateKey, subject: SUBJECT },
    });
  });

  test("malformed values stop with a clear message", () => {
    const fails = (env: Record<string, string>, text: string) => {
      let err: unknown;
      try {
        loadNotifyConfig(env);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(text);
    };
    fails({ SMS_RU_URL: "sms.ru" }, "SMS_RU_URL must be a URL");
    fails({ SMS_RU_URL: "ftp://sms.ru" }, "SMS_RU_URL must start with https://");
    fails({ SMS_RU_API_ID: "key with spaces" }, "SMS_RU_API_ID");
    fails({ SMS_RU_API_ID: API_ID, SMS_RU_FROM: "A name far too long" }, "SMS_RU_FROM");
    fails({ VAPID_PUBLIC_KEY: keys.publicKey }, "VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY must be set together");
    fails({ VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey }, "VAPID_SUBJECT must be set");
    fails({ VAPID_PUBLIC_KEY: "abc", VAPID_PRIVATE_KEY: keys.privateKey, VAPID_SUBJECT: SUBJECT }, "VAPID settings are malformed");
    fails({ VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey, VAPID_SUBJECT: "ops@example.com" }, "VAPID settings are malformed");
  });
});
