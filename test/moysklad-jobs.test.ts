// The МойСклад app's background work on real BullMQ workers: the daily schedules exist once,
// the catalog refresh after install runs with the install's token, the daily run queues
// every active install, and the erasure job erases only what is due.
import { afterAll, beforeAll, expect, test } from "./support/test.ts";
import type { MoyskladConfig } from "../src/config.ts";
import { TenantDirectory } from "../src/loyalty/tenants.ts";
import { MoyskladClient } from "../src/moysklad/api-client.ts";
import { applyDeactivation, applyLifecycle, refreshCatalog, setExcludedFolders } from "../src/moysklad/install.ts";
import { type RunningWorkers, startWorkers } from "../workers/run.ts";
import { SCHEDULES } from "../workers/moysklad.ts";
import { createTestDatabase, type TestDatabase } from "./support/db.ts";
import { moyskladFake, type MoyskladFake } from "./support/moysklad-fake.ts";
import { type TestQueues, testQueues } from "./support/redis.ts";
import { waitFor } from "./support/sales.ts";

const APP_ID = "3b6a1f2e-8c4d-4e5f-9a0b-1c2d3e4f5a6c";
const APP_UID = "loyalty-jobs.vendor-test";
const SECRET = "jobs-vendor-secret-0123456789abcdef";
const A1 = "1b1c2d3e-4f50-4617-8293-a4b5c6d7e8f1";
const A2 = "1b1c2d3e-4f50-4617-8293-a4b5c6d7e8f2";

let db: TestDatabase;
let q: TestQueues;
let fake: MoyskladFake;
let workers: RunningWorkers;
let cfg: MoyskladConfig;
let tenants: TenantDirectory;

beforeAll(async () => {
  db = await createTestDatabase({ max: 4 });
  q = await testQueues();
  fake = moyskladFake({ appId: APP_ID, appUid: APP_UID, secret: SECRET });
  cfg = { appId: APP_ID, appUid: APP_UID, secretKey: SECRET, vendorApiUrl: fake.vendorApiUrl, jsonApiUrl: fake.jsonApiUrl, publicUrl: "https://loyalty.test", secretsKey: Buffer.alloc(32, 3) };
  tenants = new TenantDirectory(db.sql, 0);
  workers = startWorkers(db.sql, q.queues, { redisUrl: q.url, concurrency: 1, lockDurationMs: 5000, sweepIntervalMs: 60_000, sweepAfterMs: 60_000, releaseIntervalMs: 60_000, moysklad: cfg });
});
afterAll(async () => {
  await workers?.close();
  await q?.close();
  fake?.close();
  await db?.drop();
});

async function install(accountId: string, token: string) {
  const a = fake.accounts.get(accountId) ?? (fake.catalog(accountId, [], []), fake.accounts.get(accountId)!);
  a.jsonToken = token;
  a.status = "SettingsRequired";
  return applyLifecycle(db.sql, cfg, tenants, { accountId, accountName: `acc-${accountId.slice(-1)}`, cause: "Install", accessToken: token });
}

test("the daily catalog refresh and the erasure are scheduled once, however often workers start", async () => {
  const again = startWorkers(db.sql, q.queues, { redisUrl: q.url, concurrency: 1, lockDurationMs: 5000, sweepIntervalMs: 60_000, sweepAfterMs: 60_000, releaseIntervalMs: 60_000, moysklad: cfg });
  try {
    const ids = await waitFor("schedulers", async () => {
      const list = await q.queues.moysklad.getJobSchedulers();
      return list.length >= 2 ? list : null;
    });
    expect(ids.map((s) => s.key).sort()).toEqual([SCHEDULES.catalogs.id, SCHEDULES.erasure.id].sort());
    expect(ids.find((s) => s.key === SCHEDULES.catalogs.id)!.pattern).toBe(SCHEDULES.catalogs.pattern);
  } finally {
    await again.close();
  }
});

test("a refresh job reads the catalog with the install's token; the daily run queues every active install", async () => {
  fake.catalog(A1, [{ id: "f1000000-0000-4000-8000-000000000001", name: "Кофе" }], [{ id: "a1000000-0000-4000-8000-000000000001", name: "Эспрессо", type: "product", folderId: "f1000000-0000-4000-8000-000000000001" }]);
  fake.catalog(A2, [{ id: "f2000000-0000-4000-8000-000000000001", name: "Книги" }], []);
  const t1 = await install(A1, "token-a1");
  const t2 = await install(A2, "token-a2");
  await q.queues.moysklad.add("refresh-catalog", { type: "refresh-catalog", tenantId: t1.tenantId });
  await waitFor("catalog of A1", async () => (await db.sql`select 1 from moysklad_folder where tenant_id = ${t1.tenantId}`).length > 0);
  const [good] = await db.sql`select assortment_id::text as id, folder_id::text as folder from moysklad_good where tenant_id = ${t1.tenantId}`;
  expect(good).toEqual({ id: "a1000000-0000-4000-8000-000000000001", folder: "f1000000-0000-4000-8000-000000000001" });

  // A2 is suspended: the daily run leaves it alone.
  await applyDeactivation(db.sql, cfg, tenants, { accountId: A2, cause: "Suspend" });
  const run = await q.queues.moysklad.add("refresh-all-catalogs", { type: "refresh-all-catalogs" });
  await waitFor("daily run", async () => ((await run.getState()) === "completed" ? true : null));
  expect((await q.queues.moysklad.getJob(run.id!))!.returnvalue).toEqual({ tenants: 1 });
  const day = new Date().toISOString().slice(0, 10);
  await waitFor("A1 refreshed by the daily run", async () => ((await q.queues.moysklad.getJob(`catalog-${t1.tenantId}-${day}`))?.finishedOn ? true : null));
  expect(await q.queues.moysklad.getJob(`catalog-${t2.tenantId}-${day}`)).toBeUndefined();
});

test("a choice of groups with more goods than the program may exclude is refused in words and changes nothing", async () => {
  const [t] = await db.sql`select tenant_id from moysklad_install where account_id = ${A1}`;
  const small = "f1000000-0000-4000-8000-000000000001";
  const big = "f1000000-0000-4000-8000-000000000002";
  const many = Array.from({ length: 10_001 }, (_, i) => ({ id: `b1000000-0000-4000-8000-${String(i).padStart(12, "0")}`, name: `товар ${i}`, type: "product" as const, folderId: big }));
  fake.catalog(A1, [{ id: small, name: "Кофе" }, { id: big, name: "Всё остальное" }], [{ id: "a1000000-0000-4000-8000-000000000001", name: "Эспрессо", type: "product", folderId: small }, ...many]);
  await refreshCatalog(db.sql, cfg, new MoyskladClient(cfg), tenants, t!.tenant_id);
  const slug = (await db.sql`select slug from tenant where id = ${t!.tenant_id}`)[0]!.slug;
  await setExcludedFolders(db.sql, tenants, t!.tenant_id, [small]);
  expect((await tenants.requireBySlug(slug)).program.settings.excludedAssortmentIds).toEqual(["a1000000-0000-4000-8000-000000000001"]);
  const refused = await setExcludedFolders(db.sql, tenants, t!.tenant_id, [small, big]).catch((e) => e);
  expect(refused.items[0].error_message).toContain("не больше 10000");
  expect([...(await db.sql`select folder_id::text from moysklad_excluded_folder where tenant_id = ${t!.tenant_id}`)]).toEqual([{ folder_id: small }]);
  expect((await tenants.requireBySlug(slug)).program.settings.excludedAssortmentIds).toEqual(["a1000000-0000-4000-8000-000000000001"]);
});

test("the erasure job erases only merchants uninstalled more than 90 days ago", async () => {
  const [t] = await db.sql`select tenant_id from moysklad_install where account_id = ${A1}`;
  await db.sql`insert into customer (tenant_id, name, phone) values (${t!.tenant_id}, 'Борис', '79161234567')`;
  await applyDeactivation(db.sql, cfg, tenants, { accountId: A1, cause: "Uninstall" });
  const early = await q.queues.moysklad.add("erase-due", { type: "erase-due" });
  await waitFor("early erasure", async () => ((await early.getState()) === "completed" ? true : null));
  expect((await q.queues.moysklad.getJob(early.id!))!.returnvalue).toEqual({ erased: 0 });
  await db.sql`update tenant set erase_after = now() - interval '1 day' where id = ${t!.tenant_id}`;
  const due = await q.queues.moysklad.add("erase-due", { type: "erase-due" });
  await waitFor("erasure", async () => ((await due.getState()) === "completed" ? true : null));
  expect((await q.queues.moysklad.getJob(due.id!))!.returnvalue).toEqual({ erased: 1 });
  expect([...(await db.sql`select name, phone from customer where tenant_id = ${t!.tenant_id}`)]).toEqual([{ name: null, phone: null }]);
});
