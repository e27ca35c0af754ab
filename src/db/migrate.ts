import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Sql } from "./client.ts";

const SQL_DIR = new URL("../../sql/", import.meta.url).pathname;
// Any constant shared by every instance: the advisory lock makes concurrent starts
// apply each migration once, the others wait and then see it applied.
const MIGRATION_LOCK = 7_312_004_001;

export interface MigrationResult {
  applied: string[];
}

export async function migrate(sql: Sql, dir = SQL_DIR): Promise<MigrationResult> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  const applied: string[] = [];
  await sql.begin(async (tx) => {
    // The pool's short statement and lock timeouts are for requests; a migration (an
    // index on a big table, or waiting for another instance's migration) takes its time.
    await tx`set local statement_timeout = 0`;
    await tx`set local lock_timeout = 0`;
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`
      create table if not exists schema_migration (
        name text primary key,
        applied_at timestamptz not null default now()
      )`;
    const done = new Set((await tx<{ name: string }[]>`select name from schema_migration`).map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      const text = await readFile(join(dir, file), "utf8");
      await tx.unsafe(text);
      await tx`insert into schema_migration (name) values (${file})`;
      applied.push(file);
    }
  });
  return { applied };
}
