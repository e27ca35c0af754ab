// Use cases of the МойСклад app catalog: the lifecycle МойСклад drives (install, resume,
// tariff changes, suspend, uninstall), the catalog groups read with the install's token,
// goods excluded by group, the first activation, and the erasure 90 days after uninstall.
// Routes and job processors call these; the rules live here.
import { ProgramSettings as ProgramSettingsSchema } from "../loyalty/program.ts";
import type { MoyskladConfig } from "../config.ts";
import type { Queryable, Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { log } from "../log.ts";
import { insertTenant, revokeApiKey, rotateApiKey, type TenantDirectory } from "../loyalty/tenants.ts";
import { decryptSecret, encryptSecret } from "../secrets.ts";
import type { MoyskladClient } from "./api-client.ts";

export const LOYALTY_PATH = "/rest/integration/moysklad/v1/";
/** Personal data of an uninstalled merchant's customers are kept this long (a reinstall finds them). */
export const ERASE_AFTER_DAYS = 90;

export type InstallStatus = "SettingsRequired" | "Activated";

export interface Install {
  tenant_id: string;
  app_id: string;
  account_id: string;
  account_name: string;
  status: InstallStatus;
  last_cause: string;
  json_token_enc: Buffer | null;
  loyalty_registered_at: Date | null;
  catalog_refreshed_at: Date | null;
  catalog_error: string | null;
  group_excluded_ids: string[];
  state: "active" | "suspended" | "uninstalled";
  slug: string;
  name: string;
}

export interface LifecycleInput {
  accountId: string;
  accountName: string;
  cause: string;
  /** The JSON API token from `access[]`, when МойСклад sent one. */
  accessToken?: string;
  subscription?: unknown;
}

const tokenPurpose = (tenantId: string) => `moysklad-json-token:${tenantId}`;

/** "Shop №1 (Москва)" → "shop-1-moskva"-like: latin letters, digits and dashes only. */
export function slugBase(accountName: string): string {
  const s = accountName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 50)
    .replace(/-+$/, "");
  return s || "shop";
}

async function freeSlug(tx: Queryable, accountName: string): Promise<string> {
  const base = slugBase(accountName);
  const taken = new Set((await tx<{ slug: string }[]>`select slug from tenant where slug = ${base} or slug like ${base + "-%"}`).map((r) => r.slug));
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}

export async function findInstall(sql: Queryable, appId: string, accountId: string): Promise<Install | null> {
  const [row] = await sql<Install[]>`
    select i.tenant_id, i.app_id, i.account_id, i.account_name, i.status, i.last_cause, i.json_token_enc,
           i.loyalty_registered_at, i.catalog_refreshed_at, i.catalog_error, i.group_excluded_ids, t.state, t.slug, t.name
    from moysklad_install i join tenant t on t.id = i.tenant_id
    where i.app_id = ${appId} and i.account_id = ${accountId}`;
  return row ?? null;
}

export async function installOfTenant(sql: Sql, tenantId: string): Promise<Install | null> {
  const [row] = await sql<Install[]>`
    select i.tenant_id, i.app_id, i.account_id, i.account_name, i.status, i.last_cause, i.json_token_enc,
           i.loyalty_registered_at, i.catalog_refreshed_at, i.catalog_error, i.group_excluded_ids, t.state, t.slug, t.name
    from moysklad_install i join tenant t on t.id = i.tenant_id
    where i.tenant_id = ${tenantId}`;
  return row ?? null;
}

/** The status МойСклад should see for an install of ours. */
const shownStatus = (i: Pick<Install, "status">): InstallStatus => i.status;

/**
 * `PUT …/apps/{appId}/{accountId}`. Install creates the merchant (or finds the one a
 * retry or an earlier install made); Resume brings a suspended one back with the new
 * token; TariffChanged / Autoprolongation are recorded. Idempotent: МойСклад retries.
 */
export async function applyLifecycle(sql: Sql, cfg: MoyskladConfig, tenants: TenantDirectory, input: LifecycleInput): Promise<{ status: InstallStatus; tenantId: string; created: boolean }> {
  const result = await sql.begin(async (tx) => {
    // One account at a time: concurrent retries of one install must not create two merchants.
    await tx`select pg_advisory_xact_lock(hashtext(${"moysklad-install:" + input.accountId}))`;
    let install = await findInstall(tx, cfg.appId, input.accountId);
    let created = false;
    if (!install) {
      if (input.cause !== "Install") throw errors.notFound("Приложение не установлено на этот аккаунт.", "accountId");
      const tenant = await insertTenant(tx, { slug: await freeSlug(tx, input.accountName), name: input.accountName.slice(0, 200) });
      await tx`
        insert into moysklad_install (tenant_id, app_id, account_id, account_name, last_cause)
        values (${tenant.id}, ${cfg.appId}, ${input.accountId}, ${input.accountName.slice(0, 200)}, ${input.cause})`;
      install = (await findInstall(tx, cfg.appId, input.accountId))!;
      created = true;
    }
    const tenantId = install.tenant_id;
    const sets: Record<string, unknown> = { last_cause: input.cause, account_name: input.accountName.slice(0, 200) };
    if (input.accessToken) sets.json_token_enc = encryptSecret(cfg.secretsKey, input.accessToken, tokenPurpose(tenantId));
    if (input.subscription !== undefined) sets.subscription = input.subscription;
    if (input.cause === "Install" || input.cause === "Resume") {
      // Back in business: an install after an uninstall starts over (a new POS key at the first save).
      if (install.state === "uninstalled") {
        sets.status = "SettingsRequired";
        sets.loyalty_registered_at = null;
        install.status = "SettingsRequired";
      }
      if (install.state !== "active") {
        await tx`update tenant set state = 'active', erase_after = null where id = ${tenantId}`;
      }
    }
    await tx`update moysklad_install set ${tx(sets)}, updated_at = now() where tenant_id = ${tenantId}`;
    return { status: shownStatus(install), tenantId, created };
  });
  tenants.invalidate(result.tenantId);
  log.info("МойСклад lifecycle", { cause: input.cause, accountId: input.accountId, tenantId: result.tenantId, created: result.created });
  return result;
}

/**
 * `DELETE …/apps/{appId}/{accountId}`: Suspend (the POS is told, nothing is deleted) or
 * Uninstall (also the POS key is revoked and the erasure is scheduled). 204 when there was
 * nothing active to stop (unknown account, a repeated call).
 */
export async function applyDeactivation(sql: Sql, cfg: MoyskladConfig, tenants: TenantDirectory, input: { accountId: string; cause: string }): Promise<200 | 204> {
  const install = await findInstall(sql, cfg.appId, input.accountId);
  if (!install) return 204;
  const uninstall = input.cause === "Uninstall";
  const target = uninstall ? "uninstalled" : "suspended";
  if (install.state === target || install.state === "uninstalled") return 204;
  await sql.begin(async (tx) => {
    await tx`update moysklad_install set json_token_enc = null, last_cause = ${input.cause}, updated_at = now()
             ${uninstall ? tx`, status = 'SettingsRequired', loyalty_registered_at = null` : tx``}
             where tenant_id = ${install.tenant_id}`;
    if (uninstall) {
      await tx`update tenant set state = 'uninstalled', erase_after = now() + make_interval(days => ${ERASE_AFTER_DAYS}) where id = ${install.tenant_id}`;
      await revokeApiKey(tx, install.tenant_id);
    } else {
      await tx`update tenant set state = 'suspended' where id = ${install.tenant_id}`;
    }
  });
  tenants.invalidate(install.tenant_id);
  log.info("МойСклад lifecycle", { cause: input.cause, accountId: input.accountId, tenantId: install.tenant_id });
  return 200;
}

export function jsonToken(cfg: MoyskladConfig, install: Install): string | null {
  return install.json_token_enc ? decryptSecret(cfg.secretsKey, install.json_token_enc, tokenPurpose(install.tenant_id)) : null;
}

// ── catalog groups and excluded goods ──────────────────────────────────────────────

export interface FolderView {
  id: string;
  name: string;
  pathName: string;
  /** Goods in the group and its subgroups (excluding a group excludes them all). */
  goods: number;
  excluded: boolean;
  /** The excluded group above this one, when an ancestor's choice already covers it. */
  excludedWith: string | null;
}

export async function listFolders(sql: Sql, tenantId: string): Promise<FolderView[]> {
  const rows = await sql<{ id: string; name: string; path_name: string; parent_id: string | null; own: number; excluded: boolean }[]>`
    select f.id, f.name, f.path_name, f.parent_id,
           (select count(*)::int from moysklad_good g where g.tenant_id = f.tenant_id and g.folder_id = f.id) as own,
           exists (select 1 from moysklad_excluded_folder e where e.tenant_id = f.tenant_id and e.folder_id = f.id) as excluded
    from moysklad_folder f where f.tenant_id = ${tenantId}
    order by case when f.path_name = '' then f.name else f.path_name || '/' || f.name end`;
  const byId = new Map(rows.map((r) => [r.id, r]));
  const total = new Map<string, number>(rows.map((r) => [r.id, 0]));
  for (const r of rows) {
    // Walk up, adding this group's own goods to every ancestor (bounded: catalogs are trees).
    for (let at: typeof r | undefined = r, depth = 0; at && depth < 100; at = at.parent_id ? byId.get(at.parent_id) : undefined, depth++) {
      total.set(at.id, total.get(at.id)! + r.own);
    }
  }
  const excludedAbove = (r: (typeof rows)[number]): string | null => {
    for (let at = r.parent_id ? byId.get(r.parent_id) : undefined, depth = 0; at && depth < 100; at = at.parent_id ? byId.get(at.parent_id) : undefined, depth++) {
      if (at.excluded) return at.name;
    }
    return null;
  };
  return rows.map((r) => ({ id: r.id, name: r.name, pathName: r.path_name, goods: total.get(r.id)!, excluded: r.excluded, excludedWith: excludedAbove(r) }));
}

/**
 * Writes the goods of the excluded groups (and of their subgroups) into the program's
 * excluded assortment by id (the POS sends `meta.id` with `meta.href`, and the engine
 * matches the id first), replacing what the groups put there last time and keeping ids an
 * operator added through the admin API. Goes through TenantDirectory.updateProgram, the
 * admin API's own use case, within the admin schema's size limit.
 */
export async function applyExcludedGroups(sql: Sql, tenants: TenantDirectory, tenantId: string): Promise<number> {
  const [row] = await sql<{ ids: string[]; previous: string[]; slug: string }[]>`
    with recursive chosen as (
      select folder_id as id from moysklad_excluded_folder where tenant_id = ${tenantId}
      union
      select f.id from moysklad_folder f join chosen c on f.parent_id = c.id where f.tenant_id = ${tenantId}
    )
    select coalesce((select array_agg(g.assortment_id::text order by g.assortment_id)
                     from moysklad_good g where g.tenant_id = ${tenantId} and g.folder_id in (select id from chosen)), '{}') as ids,
           i.group_excluded_ids as previous, t.slug
    from moysklad_install i join tenant t on t.id = i.tenant_id where i.tenant_id = ${tenantId}`;
  if (!row) return 0;
  const previous = new Set(row.previous);
  const current = (await tenants.requireBySlug(row.slug)).program.settings.excludedAssortmentIds;
  const merged = [...new Set([...current.filter((id) => !previous.has(id)), ...row.ids])];
  const limit = ProgramSettingsSchema.properties.excludedAssortmentIds.maxItems ?? Infinity;
  if (merged.length > limit) {
    throw errors.validation(`В выбранных группах ${merged.length} товаров без начисления баллов, а можно не больше ${limit}. Снимите отметку с части групп.`, "folder");
  }
  await tenants.updateProgram(row.slug, { excludedAssortmentIds: merged });
  await sql`update moysklad_install set group_excluded_ids = ${sql.array(row.ids)} where tenant_id = ${tenantId}`;
  return row.ids.length;
}

export async function setExcludedFolders(sql: Sql, tenants: TenantDirectory, tenantId: string, folderIds: string[]): Promise<void> {
  const write = (ids: string[]) =>
    sql.begin(async (tx) => {
      await tx`delete from moysklad_excluded_folder where tenant_id = ${tenantId}`;
      if (ids.length) {
        await tx`
          insert into moysklad_excluded_folder (tenant_id, folder_id)
          select ${tenantId}, f.id from moysklad_folder f where f.tenant_id = ${tenantId} and f.id = any(${tx.array(ids)}::uuid[])`;
      }
    });
  const before = (await sql<{ folder_id: string }[]>`select folder_id from moysklad_excluded_folder where tenant_id = ${tenantId}`).map((r) => r.folder_id);
  await write(folderIds);
  try {
    await applyExcludedGroups(sql, tenants, tenantId);
  } catch (e) {
    // A choice the program cannot take (too many goods) leaves the previous choice in place.
    await write(before);
    throw e;
  }
}

/** Reads the merchant's groups and goods from the JSON API and keeps them; then re-applies the exclusions. */
export async function refreshCatalog(sql: Sql, cfg: MoyskladConfig, client: MoyskladClient, tenants: TenantDirectory, tenantId: string): Promise<{ folders: number; goods: number }> {
  const install = await installOfTenant(sql, tenantId);
  if (!install) throw errors.notFound("Приложение не установлено.");
  const token = jsonToken(cfg, install);
  if (!token || install.state !== "active") throw errors.conflict("Нет доступа к данным МойСклад: приложение приостановлено или удалено.");
  let catalog;
  try {
    catalog = await client.catalog(token);
  } catch (e) {
    const words = (e as any)?.words ?? "МойСклад недоступен";
    await sql`update moysklad_install set catalog_error = ${words} where tenant_id = ${tenantId}`;
    throw e;
  }
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext(${"moysklad-catalog:" + tenantId}))`;
    await tx`delete from moysklad_good where tenant_id = ${tenantId}`;
    await tx`delete from moysklad_folder where tenant_id = ${tenantId}`;
    for (let i = 0; i < catalog.folders.length; i += 1000) {
      const part = catalog.folders.slice(i, i + 1000).map((f) => ({ tenant_id: tenantId, id: f.id, name: f.name, path_name: f.pathName, parent_id: f.parentId }));
      await tx`insert into moysklad_folder ${tx(part)} on conflict do nothing`;
    }
    const known = new Set(catalog.folders.map((f) => f.id));
    const goods = catalog.goods.filter((g) => known.has(g.folderId));
    for (let i = 0; i < goods.length; i += 2000) {
      const part = goods.slice(i, i + 2000).map((g) => ({ tenant_id: tenantId, assortment_id: g.id, folder_id: g.folderId }));
      await tx`insert into moysklad_good ${tx(part)} on conflict do nothing`;
    }
    // Groups deleted in МойСклад drop out of the choice.
    await tx`delete from moysklad_excluded_folder e where e.tenant_id = ${tenantId}
             and not exists (select 1 from moysklad_folder f where f.tenant_id = e.tenant_id and f.id = e.folder_id)`;
    await tx`update moysklad_install set catalog_refreshed_at = now(), catalog_error = null where tenant_id = ${tenantId}`;
  });
  await applyExcludedGroups(sql, tenants, tenantId);
  return { folders: catalog.folders.length, goods: catalog.goods.length };
}

/** Tenants whose catalog the daily job refreshes. */
export async function activeInstalls(sql: Sql): Promise<string[]> {
  const rows = await sql<{ tenant_id: string }[]>`
    select i.tenant_id from moysklad_install i join tenant t on t.id = i.tenant_id
    where t.state = 'active' and i.json_token_enc is not null order by i.tenant_id`;
  return rows.map((r) => r.tenant_id);
}

// ── activation ────────────────────────────────────────────────────────────────────

/**
 * After a save: the first time, a POS key is generated and МойСклад is told where the POS
 * finds us (`PUT …/loyalty`), then `Activated`. Each step is recorded, so a failed step is
 * tried again at the next save. Returns what was done, for the page.
 */
export async function activate(sql: Sql, cfg: MoyskladConfig, client: MoyskladClient, tenants: TenantDirectory, tenantId: string): Promise<"activated" | "already"> {
  const install = await installOfTenant(sql, tenantId);
  if (!install) throw errors.notFound("Приложение не установлено.");
  if (install.loyalty_registered_at && install.status === "Activated") return "already";
  if (!install.loyalty_registered_at) {
    const { apiToken } = await rotateApiKey(sql, install.slug);
    tenants.invalidate(tenantId);
    await client.registerLoyalty(install.account_id, { url: cfg.publicUrl + LOYALTY_PATH, token: apiToken, externalSearch: true });
    await sql`update moysklad_install set loyalty_registered_at = now() where tenant_id = ${tenantId}`;
  }
  await client.reportStatus(install.account_id, "Activated");
  await sql`update moysklad_install set status = 'Activated', updated_at = now() where tenant_id = ${tenantId}`;
  return "activated";
}

// ── erasure after uninstall ───────────────────────────────────────────────────────

/**
 * Erases the personal data of every merchant uninstalled more than ERASE_AFTER_DAYS ago:
 * customers lose name, phone, card, QR, e-mail, birthday; push subscriptions, codes and
 * stored receipt bodies go. Balances, purchase totals and the ledger stay (anonymised).
 */
export async function eraseDuePersonalData(sql: Sql): Promise<number> {
  const due = await sql<{ id: string }[]>`
    select id from tenant where state = 'uninstalled' and personal_data_erased_at is null and erase_after <= now()`;
  for (const { id } of due) {
    await sql.begin(async (tx) => {
      await tx`update customer set name = null, legal_first_name = null, legal_middle_name = null, legal_last_name = null,
               phone = null, card_number = null, qr_token = null, email = null, birth_date = null, sex = null,
               ms_id = null, sync_id = null, sms_failure = null, updated_at = now()
               where tenant_id = ${id}`;
      await tx`delete from push_subscription where tenant_id = ${id}`;
      await tx`delete from verification_code where tenant_id = ${id}`;
      await tx`update notification set text = null, provider_id = null, error = null where tenant_id = ${id}`;
      await tx`update document set body = '{}'::jsonb where tenant_id = ${id}`;
      await tx`update moysklad_install set json_token_enc = null where tenant_id = ${id}`;
      await tx`update tenant set personal_data_erased_at = now() where id = ${id}`;
    });
    log.info("personal data erased after uninstall", { tenantId: id });
  }
  return due.length;
}
