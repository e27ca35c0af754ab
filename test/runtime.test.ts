// The "embedded default": a private Postgres from the npm package and a local Redis.
// These start real servers; the first Postgres start runs initdb (a few seconds).

import { afterAll, describe, expect, test } from "./support/test.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { EmbeddedPostgresError, startEmbeddedPostgres } from "../src/runtime/embedded-postgres.ts";
import { ensureLocalRedis, LocalRedisError, ping } from "../src/runtime/local-redis.ts";
import { freePort } from "../src/runtime/ports.ts";

const SLOW = 120_000;
const tempDirs: string[] = [];

async function tempDir(name: string): Promise<string> {
  // mkdtemp gives 0700; the data folder itself is made traversable by
  // startEmbeddedPostgres when it has to run the server as "postgres" (root).
  const dir = await mkdtemp(join(tmpdir(), `loyalty-${name}-`));
  tempDirs.push(dir);
  return dir;
}

async function query<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

afterAll(async () => {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

/** A fresh data folder whose server has run once and stopped, keeping one row. */
async function folderWithOneRow(): Promise<{ dataDir: string; port: number }> {
  const dataDir = await tempDir("pg-warm");
  const port = await freePort();
  const pg = await startEmbeddedPostgres({ dataDir, port });
  try {
    await query(pg.url, async (sql) => {
      await sql`create table kept (id int primary key, name text)`;
      await sql`insert into kept values (1, 'Иван')`;
    });
  } finally {
    await pg.stop();
  }
  return { dataDir, port };
}

describe("embedded Postgres", () => {
  test(
    "cold start initialises the data folder and answers select 1",
    async () => {
      const dataDir = await tempDir("pg");
      const port = await freePort();
      const logs: string[] = [];
      const pg = await startEmbeddedPostgres({ dataDir, port, log: (m) => logs.push(m) });
      try {
        expect(pg.url).toMatch(new RegExp(`^postgres://loyalty:[0-9a-f]+@127\\.0\\.0\\.1:${port}/loyalty$`));
        expect(logs.some((l) => l.includes("first run"))).toBe(true);
        await query(pg.url, async (sql) => {
          expect([...(await sql`select 1 as one`)]).toEqual([{ one: 1 }]);
          const [enc] = await sql`select current_setting('server_encoding') as e, upper('привет') as u`;
          expect(enc).toEqual({ e: "UTF8", u: "ПРИВЕТ" });
        });
      } finally {
        await pg.stop();
      }
    },
    SLOW,
  );

  test(
    "warm start reuses the data folder",
    async () => {
      const { dataDir, port } = await folderWithOneRow();
      const logs: string[] = [];
      const pg = await startEmbeddedPostgres({ dataDir, port, log: (m) => logs.push(m) });
      try {
        expect(logs.some((l) => l.includes("first run"))).toBe(false);
        const rows = await query(pg.url, (sql) => sql`select id, name from kept`);
        expect([...rows]).toEqual([{ id: 1, name: "Иван" }]);
      } finally {
        await pg.stop();
      }
      // stop() is idempotent, and the server is really gone.
      await pg.stop();
      await expect(query(pg.url, (sql) => sql`select 1`)).rejects.toThrow();
    },
    SLOW,
  );

  test(
    "two concurrent starts on a fresh folder run initdb once and share the server",
    async () => {
      const dir = await tempDir("pg-race");
      const p = await freePort();
      const logs: string[] = [];
      const [a, b] = await Promise.all([
        startEmbeddedPostgres({ dataDir: dir, port: p, log: (m) => logs.push(m) }),
        startEmbeddedPostgres({ dataDir: dir, port: p, log: (m) => logs.push(m) }),
      ]);
      try {
        expect(a.url).toBe(b.url);
        expect(logs.filter((l) => l.includes("first run"))).toHaveLength(1);
        expect(logs.filter((l) => l.includes("sharing"))).toHaveLength(1);
        await query(b.url, async (sql) => expect([...(await sql`select 1 as one`)]).toEqual([{ one: 1 }]));
      } finally {
        await b.stop();
        await a.stop();
      }
    },
    SLOW,
  );

  test("an explicit port held by another program gives one clear error", async () => {
    const dir = await tempDir("pg-busy");
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const busy = (blocker.address() as { port: number }).port;
    try {
      const err = await startEmbeddedPostgres({ dataDir: dir, port: busy }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(EmbeddedPostgresError);
      expect((err as Error).message).toContain(`port ${busy}`);
      expect((err as Error).message).toContain("DATABASE_URL=");
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

describe("local Redis", () => {
  test("returns a URL that answers PING", async () => {
    const redis = await ensureLocalRedis({ dataDir: await tempDir("redis") });
    try {
      const port = Number(new URL(redis.url).port);
      expect(await ping(port)).toBe("PONG");
    } finally {
      await redis.stop();
    }
  });

  test(
    "spawns redis-server when told not to use 6379, and stop() ends it",
    async () => {
      // Needs redis-server installed (as npm test does without a Redis on 6379): without
      // it this fails with ensureLocalRedis's words on what to install.
      const port = await freePort();
      const redis = await ensureLocalRedis({ dataDir: await tempDir("redis-own"), port, probeDefault: false });
      expect(redis.url).toBe(`redis://127.0.0.1:${port}`);
      expect(await ping(port)).toBe("PONG");
      await redis.stop();
      expect(await ping(port)).toBeUndefined();
    },
    30_000,
  );

  test("without any Redis the error says what to install or set", async () => {
    const err = await ensureLocalRedis({
      dataDir: await tempDir("redis-none"),
      port: await freePort(),
      probeDefault: false,
      searchDirs: [],
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LocalRedisError);
    expect((err as Error).message).toContain("apt-get install redis-server");
    expect((err as Error).message).toContain("REDIS_URL=");
  });
});
