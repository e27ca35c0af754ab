import { createHash, randomBytes } from "node:crypto";
import { TtlCache } from "../cache.ts";
import type { Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { parsePercentHundredths } from "./money.ts";
import { type Program, type ProgramRow, type ProgramSettings, programFromRow } from "./program.ts";

export interface Tenant {
  id: string;
  slug: string;
  name: string;
}

/** active; suspended (the МойСклад subscription is unpaid); uninstalled (the app was removed). */
export type TenantState = "active" | "suspended" | "uninstalled";

/** What a request needs to know about the merchant behind an access key. */
export interface TenantContext extends Tenant {
  state: TenantState;
  program: Program;
}

export function hashApiKey(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

function newApiKey(): string {
  return randomBytes(32).toString("base64url");
}

/** A tenant and its program with defaults, inside the caller's transaction. */
export async function insertTenant(tx: Sql, input: { slug: string; name: string }): Promise<Tenant & { apiToken: string }> {
  const apiToken = newApiKey();
  const [tenant] = await tx<Tenant[]>`
    insert into tenant (slug, name, api_key_hash)
    values (${input.slug}, ${input.name}, ${hashApiKey(apiToken)})
    returning id, slug, name`;
  await tx`insert into program (tenant_id) values (${tenant!.id})`;
  return { ...tenant!, apiToken };
}

export async function createTenant(sql: Sql, input: { slug: string; name: string }): Promise<Tenant & { apiToken: string }> {
  try {
    return await sql.begin((tx) => insertTenant(tx as unknown as Sql, input));
  } catch (e: any) {
    if (e?.code === "23505") throw errors.conflict(`Магазин с адресом «${input.slug}» уже есть.`, "slug");
    throw e;
  }
}

/**
 * Makes the current access key stop working without issuing one anybody knows; the old
 * key's hash is kept so a till still using it is told the program was removed.
 */
export async function revokeApiKey(sql: Sql, tenantId: string): Promise<void> {
  await sql`update tenant set revoked_api_key_hash = api_key_hash, api_key_hash = ${hashApiKey(newApiKey())} where id = ${tenantId}`;
}

export async function rotateApiKey(sql: Sql, slug: string): Promise<Tenant & { apiToken: string }> {
  const apiToken = newApiKey();
  const [tenant] = await sql<Tenant[]>`
    update tenant set api_key_hash = ${hashApiKey(apiToken)} where slug = ${slug}
    returning id, slug, name`;
  if (!tenant) throw errors.notFound("Магазин не найден.", "slug");
  return { ...tenant, apiToken };
}

const programSelect = (sql: Sql) => sql`
  p.earn_percent::text as earn_percent, p.spend_rate::text as spend_rate,
  p.max_spend_percent::text as max_spend_percent, p.earn_while_redeeming, p.accrual_delay_days,
  p.excluded_assortment_ids, p.require_spend_verification, p.require_registration_verification,
  p.receipt_template, p.code_length, p.code_ttl_seconds, p.code_repeat_seconds, p.codes_per_phone_per_hour,
  p.codes_per_tenant_per_hour, p.code_message_template, p.points_message_template, p.return_message_template`;

type TenantProgramRow = Tenant & { state: TenantState } & ProgramRow;

function contextFromRow(row: TenantProgramRow): TenantContext {
  return { id: row.id, slug: row.slug, name: row.name, state: row.state, program: programFromRow(row) };
}

/**
 * Finds merchants by access key for every POS call. Interactive calls must cost one
 * database round trip, so the key → tenant+program answer is kept in memory for a
 * few seconds (unknown keys for less, so a key just issued works almost at once).
 */
export class TenantDirectory {
  private readonly byKeyHash: TtlCache<string, TenantContext | null>;

  constructor(
    private readonly sql: Sql,
    private readonly ttlMs: number,
  ) {
    this.byKeyHash = new TtlCache(ttlMs);
  }

  async byApiKey(key: string): Promise<TenantContext | null> {
    const hash = hashApiKey(key);
    const cacheKey = hash.toString("hex");
    const cached = this.byKeyHash.get(cacheKey);
    if (cached !== undefined) return cached;
    const [row] = await this.sql<TenantProgramRow[]>`
      select t.id, t.slug, t.name, t.state, ${programSelect(this.sql)}
      from tenant t join program p on p.tenant_id = t.id
      where t.api_key_hash = ${hash}`;
    const ctx = row ? contextFromRow(row) : null;
    this.byKeyHash.set(cacheKey, ctx, ctx ? this.ttlMs : Math.min(this.ttlMs, 1000));
    return ctx;
  }

  /** Whether the key is one an uninstall revoked (asked only for keys that found no tenant). */
  async isRevokedKey(key: string): Promise<boolean> {
    const rows = await this.sql`select 1 from tenant where revoked_api_key_hash = ${hashApiKey(key)} and state = 'uninstalled' limit 1`;
    return rows.length > 0;
  }

  async bySlug(slug: string): Promise<TenantContext | null> {
    const [row] = await this.sql<TenantProgramRow[]>`
      select t.id, t.slug, t.name, t.state, ${programSelect(this.sql)}
      from tenant t join program p on p.tenant_id = t.id
      where t.slug = ${slug}`;
    return row ? contextFromRow(row) : null;
  }

  /** Drops this process's copy of a tenant; other instances follow within the TTL. */
  invalidate(tenantId: string): void {
    this.byKeyHash.deleteWhere((ctx) => ctx?.id === tenantId);
  }

  async requireBySlug(slug: string): Promise<TenantContext> {
    const ctx = await this.bySlug(slug);
    if (!ctx) throw errors.notFound(`Магазин «${slug}» не найден.`, "slug");
    return ctx;
  }

  async updateProgram(slug: string, patch: Partial<ProgramSettings>): Promise<ProgramSettings> {
    for (const field of ["earnPercent", "spendRate", "maxSpendPercent"] as const) {
      const v = patch[field];
      if (v !== undefined && parsePercentHundredths(v) === null) {
        throw errors.validation(`«${field}»: не более 2 знаков после запятой.`, field);
      }
    }
    if (patch.spendRate !== undefined && parsePercentHundredths(patch.spendRate) === 0) {
      throw errors.validation("«spendRate» должен быть не меньше 0.01.", "spendRate");
    }
    if (patch.codeMessageTemplate !== undefined && !patch.codeMessageTemplate.includes("{code}")) {
      throw errors.validation("Шаблон SMS с кодом должен содержать {code}.", "codeMessageTemplate");
    }
    const tenant = await this.requireBySlug(slug);
    const columns: Record<string, unknown> = {};
    if (patch.earnPercent !== undefined) columns.earn_percent = patch.earnPercent;
    if (patch.spendRate !== undefined) columns.spend_rate = patch.spendRate;
    if (patch.maxSpendPercent !== undefined) columns.max_spend_percent = patch.maxSpendPercent;
    if (patch.earnWhileRedeeming !== undefined) columns.earn_while_redeeming = patch.earnWhileRedeeming;
    if (patch.accrualDelayDays !== undefined) columns.accrual_delay_days = patch.accrualDelayDays;
    if (patch.excludedAssortmentIds !== undefined)
      columns.excluded_assortment_ids = this.sql.array([...new Set(patch.excludedAssortmentIds)]);
    if (patch.requireSpendVerification !== undefined) columns.require_spend_verification = patch.requireSpendVerification;
    if (patch.requireRegistrationVerification !== undefined)
      columns.require_registration_verification = patch.requireRegistrationVerification;
    if (patch.receiptTemplate !== undefined) columns.receipt_template = patch.receiptTemplate;
    if (patch.codeLength !== undefined) columns.code_length = patch.codeLength;
    if (patch.codeTtlSeconds !== undefined) columns.code_ttl_seconds = patch.codeTtlSeconds;
    if (patch.codeRepeatSeconds !== undefined) columns.code_repeat_seconds = patch.codeRepeatSeconds;
    if (patch.codesPerPhonePerHour !== undefined) columns.codes_per_phone_per_hour = patch.codesPerPhonePerHour;
    if (patch.codesPerTenantPerHour !== undefined) columns.codes_per_tenant_per_hour = patch.codesPerTenantPerHour;
    if (patch.codeMessageTemplate !== undefined) columns.code_message_template = patch.codeMessageTemplate;
    if (patch.pointsMessageTemplate !== undefined) columns.points_message_template = patch.pointsMessageTemplate;
    if (patch.returnMessageTemplate !== undefined) columns.return_message_template = patch.returnMessageTemplate;
    if (Object.keys(columns).length > 0) {
      await this.sql`update program set ${this.sql(columns)}, updated_at = now() where tenant_id = ${tenant.id}`;
      this.invalidate(tenant.id);
    }
    return (await this.requireBySlug(slug)).program.settings;
  }
}
