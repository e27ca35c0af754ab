import { createHash, randomBytes } from "node:crypto";
import { TtlCache } from "../cache.ts";
import type { Queryable, Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { setLogTenant } from "../log.ts";
import { type Promotion, type PromotionRow, promotionFromRow } from "./promotions.ts";
import { checkProgramPatch, mergeStored, type Program, type ProgramPatch, type ProgramSettings, programFromStored } from "./program.ts";

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
  /** Promotions not ended and not over: recalc picks those covering the receipt's moment. */
  promotions: Promotion[];
}

export function hashApiKey(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

function newApiKey(): string {
  return randomBytes(32).toString("base64url");
}

/** A tenant and its program with defaults, inside the caller's transaction. */
export async function insertTenant(tx: Queryable, input: { slug: string; name: string }): Promise<Tenant & { apiToken: string }> {
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
    return await sql.begin((tx) => insertTenant(tx, input));
  } catch (e: any) {
    if (e?.code === "23505") throw errors.conflict(`Магазин с адресом «${input.slug}» уже есть.`, "slug");
    throw e;
  }
}

/**
 * Makes the current access key stop working without issuing one anybody knows; the old
 * key's hash is kept so a till still using it is told the program was removed.
 */
export async function revokeApiKey(sql: Queryable, tenantId: string): Promise<void> {
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

type TenantProgramRow = Tenant & { state: TenantState; settings: Record<string, unknown> | null; promotions: PromotionRow[] | null };

function contextFromRow(row: TenantProgramRow): TenantContext {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    state: row.state,
    program: programFromStored(row.settings),
    promotions: (row.promotions ?? []).map(promotionFromRow),
  };
}

// The live promotions ride along with the key lookup: no extra round trip for recalc.
const TENANT_COLUMNS = `t.id, t.slug, t.name, t.state, p.settings,
  (select json_agg(pr) from promotion pr where pr.tenant_id = t.id and pr.ended_at is null and pr.ends_at > now()) as promotions`;

/**
 * Finds merchants by access key for every POS call. Interactive calls must cost one
 * database round trip, so the key → tenant+program answer is kept in memory for a
 * few seconds (unknown keys for less, so a key just issued works almost at once).
 */
export class TenantDirectory {
  private readonly byKey: TtlCache<string, TenantContext | null>;

  constructor(
    private readonly sql: Sql,
    private readonly ttlMs: number,
  ) {
    this.byKey = new TtlCache(ttlMs);
  }

  async byApiKey(key: string): Promise<TenantContext | null> {
    // Cached by the key as sent, so a POS call hashes it only on a miss; a key longer than
    // any we issue (43 characters) is cached by its hash (longer than 64, so the two never meet).
    const cacheKey = key.length <= 64 ? key : `sha256:${hashApiKey(key).toString("hex")}`;
    const cached = this.byKey.get(cacheKey);
    if (cached) setLogTenant(cached.id); // the rest of the request's log lines name the tenant
    if (cached !== undefined) return cached;
    const [row] = await this.sql<TenantProgramRow[]>`
      select ${this.sql.unsafe(TENANT_COLUMNS)}
      from tenant t join program p on p.tenant_id = t.id
      where t.api_key_hash = ${hashApiKey(key)}`;
    const ctx = row ? contextFromRow(row) : null;
    this.byKey.set(cacheKey, ctx, ctx ? this.ttlMs : Math.min(this.ttlMs, 1000));
    if (ctx) setLogTenant(ctx.id);
    return ctx;
  }

  /**
   * The tenant of a key this process has already looked up, without asking the database
   * or hashing anything: for log lines about requests refused before authentication.
   */
  cachedTenantId(key: string): string | undefined {
    return key.length <= 64 ? (this.byKey.get(key)?.id ?? undefined) : undefined;
  }

  /** Whether the key is one an uninstall revoked (asked only for keys that found no tenant). */
  async isRevokedKey(key: string): Promise<boolean> {
    const rows = await this.sql`select 1 from tenant where revoked_api_key_hash = ${hashApiKey(key)} and state = 'uninstalled' limit 1`;
    return rows.length > 0;
  }

  async bySlug(slug: string): Promise<TenantContext | null> {
    const [row] = await this.sql<TenantProgramRow[]>`
      select ${this.sql.unsafe(TENANT_COLUMNS)}
      from tenant t join program p on p.tenant_id = t.id
      where t.slug = ${slug}`;
    if (row) setLogTenant(row.id);
    return row ? contextFromRow(row) : null;
  }

  /** Drops this process's copy of a tenant; other instances follow within the TTL. */
  invalidate(tenantId: string): void {
    this.byKey.deleteWhere((ctx) => ctx?.id === tenantId);
  }

  async requireBySlug(slug: string): Promise<TenantContext> {
    const ctx = await this.bySlug(slug);
    if (!ctx) throw errors.notFound(`Магазин «${slug}» не найден.`, "slug");
    return ctx;
  }

  async updateProgram(slug: string, patch: ProgramPatch): Promise<ProgramSettings> {
    const problem = checkProgramPatch(patch);
    if (problem) throw errors.validation(problem.message, problem.field);
    const tenant = await this.requireBySlug(slug);
    if (Object.keys(patch).length > 0) {
      // Read-merge-write under the row lock: two concurrent partial updates both land.
      await this.sql.begin(async (tx) => {
        const [row] = await tx<{ settings: Record<string, unknown> | null }[]>`
          select settings from program where tenant_id = ${tenant.id} for update`;
        const next = mergeStored(row?.settings ?? null, patch);
        await tx`update program set settings = ${tx.json(next as any)}, updated_at = now() where tenant_id = ${tenant.id}`;
      });
      this.invalidate(tenant.id);
    }
    return (await this.requireBySlug(slug)).program.settings;
  }
}
