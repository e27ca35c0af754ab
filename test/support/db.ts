// Each test file gets a database of its own on the machine's real Postgres, created
// from scratch with our migrations and dropped afterwards. Postgres is found at
// TEST_DATABASE_URL, else 127.0.0.1:5432 as user postgres; if neither answers, the
// embedded Postgres (the same one `npm start` uses) is started under .data/test-postgres.
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import postgres from "postgres";
import { createSql, type Sql } from "../../src/db/client.ts";
import { migrate } from "../../src/db/migrate.ts";

let serverUrl: Promise<string> | undefined;

async function answers(url: string): Promise<boolean> {
  const probe = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await probe`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await probe.end({ timeout: 1 }).catch(() => {});
  }
}

async function findServer(): Promise<string> {
  const explicit = process.env.TEST_DATABASE_URL;
  if (explicit) return explicit;
  const local = "postgres://postgres@127.0.0.1:5432/postgres";
  if (await answers(local)) return local;
  const { startEmbeddedPostgres } = await import("../../src/runtime/embedded-postgres.ts");
  const pg = await startEmbeddedPostgres({ dataDir: resolve(".data/test-postgres") });
  process.on("exit", () => void pg.stop());
  return pg.url;
}

export function postgresServerUrl(): Promise<string> {
  serverUrl ??= findServer();
  return serverUrl;
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = "/" + db;
  return u.toString();
}

export interface TestDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

export async function createTestDatabase(opts: { migrate?: boolean; max?: number } = {}): Promise<TestDatabase> {
  const server = await postgresServerUrl();
  const name = `loyalty_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = postgres(server, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = withDatabase(server, name);
  const sql = createSql(url, { max: opts.max ?? 10, applicationName: "loyalty-test" });
  if (opts.migrate !== false) await migrate(sql);
  return {
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 2 }).catch(() => {});
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 2 });
    },
  };
}
