// The bench database: recreated from scratch, migrated with the real migrations, and
// filled with one tenant (made by the real admin code) and N customers generated
// in SQL — one INSERT … SELECT over generate_series, secondary indexes built after.
import postgres from "postgres";
import { createSql, type Sql } from "../src/db/client.ts";
import { migrate } from "../src/db/migrate.ts";
import { createTenant } from "../src/loyalty/tenants.ts";
import {
  FIRST_NAMES_FEMALE,
  FIRST_NAMES_MALE,
  PATRONYMICS_FEMALE,
  PATRONYMICS_MALE,
  SURNAMES_FEMALE,
  SURNAMES_MALE,
} from "./names.ts";

export const DEFAULT_BENCH_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench";

/** Drops and recreates the database named in `url`, then applies our migrations. */
export async function recreateDatabase(url: string, poolSize: number): Promise<Sql> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bench database name "${name}" must be a plain identifier`);
  // This database is dropped every run: refuse names that do not look like a bench's.
  if (!name.includes("bench") && process.env.BENCH_FORCE_DROP !== "1") {
    throw new Error(`refusing to drop database "${name}": its name has no "bench" in it (set BENCH_FORCE_DROP=1 to insist)`);
  }
  const maintenance = new URL(url);
  maintenance.pathname = "/postgres";
  const admin = postgres(maintenance.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end({ timeout: 2 });
  }
  const sql = createSql(url, { max: poolSize, applicationName: "loyalty-bench" });
  await migrate(sql);
  return sql;
}

export async function createBenchTenant(sql: Sql) {
  return createTenant(sql, { slug: "bench", name: "Магазин для нагрузочного теста" });
}

export interface GenerateTimings {
  insertSeconds: number;
  indexSeconds: number;
  vacuumSeconds: number;
  totalSeconds: number;
}

const seconds = (from: number) => (performance.now() - from) / 1000;

/**
 * `count` customers of one tenant. Phones (79XXXXXXXXX) and 13-digit card numbers are
 * i × (a unit mod 10^9, 10^12) + c, so unique and scattered; QR tokens are 16 base64url
 * characters of a hash; ids are hashes too (gen_random_uuid() costs 2.4 µs a call);
 * ~70% have a МойСклад id; names are skewed towards common ones.
 */
export async function generateCustomers(sql: Sql, tenantId: string, count: number): Promise<GenerateTimings> {
  // i × 3^26 must stay inside bigint; the phone mapping is unique below 10^9 anyway.
  if (!Number.isInteger(count) || count < 1 || count > 3_000_000) throw new Error("customer count must be 1..3,000,000");
  const start = performance.now();
  // Building the secondary indexes once after the load is several times faster than
  // maintaining them row by row; they are recreated from their own definitions.
  const indexes = await sql<{ name: string; def: string }[]>`
    select i.indexname as name, i.indexdef as def
    from pg_indexes i
    where i.schemaname = current_schema() and i.tablename = 'customer'
      and i.indexname not in (select conname from pg_constraint where conrelid = 'customer'::regclass)`;
  for (const ix of indexes) await sql.unsafe(`drop index ${ix.name}`);
  const [{ superuser } = { superuser: false }] = await sql<{ superuser: boolean }[]>`
    select rolsuper as superuser from pg_roles where rolname = current_user`;

  // Both halves at once, on two connections: the load is CPU-bound in the backend.
  const half = Math.ceil(count / 2);
  const parts: [number, number][] = count > 1 ? [[1, half], [half + 1, count]] : [[1, 1]];
  await Promise.all(
    parts.map(([from, to], part) =>
      sql.begin(async (tx) => {
        await tx`set local synchronous_commit = off`;
        // Every row belongs to the tenant just created: its foreign-key check is a
        // fifth of the load time, so skip it where we may (superuser only).
        if (superuser) await tx`set local session_replication_role = replica`;
        await tx`select setseed(${0.4242 + part / 10})`;
        await insertCustomers(tx as unknown as Sql, tenantId, from, to);
      }),
    ),
  );
  const insertSeconds = seconds(start);

  const indexStart = performance.now();
  const lanes = [indexes.filter((_, i) => i % 2 === 0), indexes.filter((_, i) => i % 2 === 1)];
  await Promise.all(
    lanes.map((lane) =>
      sql.begin(async (tx) => {
        await tx`set local maintenance_work_mem = '256MB'`;
        for (const ix of lane) await tx.unsafe(ix.def);
      }),
    ),
  );
  const indexSeconds = seconds(indexStart);

  // Vacuum too, not just analyze: hint bits and the visibility map are then set as in
  // a table that has lived a while, and the first measured reads do not write pages.
  const vacuumStart = performance.now();
  await sql`vacuum (analyze) customer`;
  await sql`checkpoint`.catch(() => {}); // superuser or pg_checkpoint only; keeps the flush out of the runs
  const vacuumSeconds = seconds(vacuumStart);
  return { insertSeconds, indexSeconds, vacuumSeconds, totalSeconds: seconds(start) };
}

function insertCustomers(sql: Sql, tenantId: string, from: number, to: number) {
  return sql`
    insert into customer (tenant_id, id, ms_id, name, legal_first_name, legal_middle_name, legal_last_name,
      phone, card_number, qr_token, email, birth_date, sex, status_check, balance, created_at, updated_at)
    select ${tenantId}::uuid, md5(${tenantId} || ':id:' || i)::uuid,
      case when r_ms < 0.7 then md5(${tenantId} || ':ms:' || i)::uuid end,
      case when r_noname >= 0.05 then last || ' ' || first || ' ' || middle end,
      first, middle, last,
      '79' || lpad(((i * 387420489 + 123456789) % 1000000000)::text, 9, '0'),
      '2' || lpad(((i * 2541865828329 + 7777777) % 1000000000000)::text, 12, '0'),
      translate(left(encode(sha256(convert_to(${tenantId} || ':' || i, 'UTF8')), 'base64'), 16), '+/', '-_'),
      case when r_mail < 0.4 then 'client' || i || '@example.ru' end,
      case when r_birth < 0.6 then date '1950-01-01' + floor(r_birth / 0.6 * 20000)::int end,
      case when female then 'FEMALE' else 'MALE' end,
      'IGNORE',
      case when r_bal < 0.25 then 0 else floor(power((r_bal - 0.25) / 0.75, 2) * 5000)::bigint end,
      created, created
    from (
      select g.*,
        case when g.female then (${SURNAMES_FEMALE}::text[])[g.si] else (${SURNAMES_MALE}::text[])[g.si] end as last,
        case when g.female then (${FIRST_NAMES_FEMALE}::text[])[g.ffi] else (${FIRST_NAMES_MALE}::text[])[g.fmi] end as first,
        case when g.female then (${PATRONYMICS_FEMALE}::text[])[g.pi] else (${PATRONYMICS_MALE}::text[])[g.pi] end as middle
      from (
        select i::bigint as i, random() < 0.55 as female,
          1 + floor(power(random(), 2.0) * ${SURNAMES_MALE.length})::int as si,
          1 + floor(power(random(), 1.7) * ${FIRST_NAMES_MALE.length})::int as fmi,
          1 + floor(power(random(), 1.7) * ${FIRST_NAMES_FEMALE.length})::int as ffi,
          1 + floor(random() * ${PATRONYMICS_MALE.length})::int as pi,
          random() as r_ms, random() as r_noname, random() as r_mail, random() as r_birth, random() as r_bal,
          now() - random() * interval '1500 days' as created
        from generate_series(${from}::int, ${to}::int) i
      ) g
    ) s`;
}
