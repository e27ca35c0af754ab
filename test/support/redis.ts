// Redis for tests: the machine's Redis (TEST_REDIS_URL, else 127.0.0.1:6379, else a
// private redis-server), with a key prefix of the test's own that is deleted afterwards.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import IORedis from "ioredis";
import { ping } from "../../src/runtime/local-redis.ts";
import { Queues } from "../../src/queue/queues.ts";
import { freePort } from "./process.ts";
import { sleep } from "./runtime.ts";
import { type TestContext, type TestTenant, testContext } from "./app.ts";

let shared: Promise<string> | undefined;

async function findRedis(): Promise<string> {
  if (process.env.TEST_REDIS_URL) return process.env.TEST_REDIS_URL;
  if ((await ping(6379).catch(() => undefined)) === "PONG") return "redis://127.0.0.1:6379";
  const r = await PrivateRedis.start();
  process.on("exit", () => r.child?.kill("SIGKILL"));
  return r.url;
}

export function redisUrl(): Promise<string> {
  shared ??= findRedis();
  return shared;
}

export function uniquePrefix(): string {
  return `test-${process.pid}-${randomBytes(3).toString("hex")}`;
}

export async function deleteKeys(url: string, base: string): Promise<void> {
  const r = new IORedis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${base}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}

export interface TestQueues {
  url: string;
  queues: Queues;
  close(): Promise<void>;
}

export async function testQueues(url?: string): Promise<TestQueues> {
  const u = url ?? (await redisUrl());
  const base = uniquePrefix();
  const queues = new Queues(u, base);
  return {
    url: u,
    queues,
    async close() {
      await queues.close();
      await deleteKeys(u, base).catch(() => {});
    },
  };
}

/** A redis-server of the test's own, which the test may stop and start again on the same port. */
export class PrivateRedis {
  child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), "loyalty-redis-"));

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(port?: number): Promise<PrivateRedis> {
    const r = new PrivateRedis(port ?? (await freePort()));
    await r.up();
    return r;
  }

  async up(): Promise<void> {
    const bin = ["/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"].find((p) => existsSync(p)) ?? "redis-server";
    this.child = spawn(bin, ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.dir], {
      stdio: "ignore",
    });
    for (let i = 0; i < 100; i++) {
      if ((await ping(this.port).catch(() => undefined)) === "PONG") return;
      await sleep(50);
    }
    throw new Error(`redis-server did not start on ${this.port}`);
  }

  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void {
    this.signal("SIGSTOP");
  }

  resume(): void {
    this.signal("SIGCONT");
  }

  async down(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once("exit", r));
    this.signal("SIGKILL");
    await gone;
    this.child = null;
  }

  // By pid, not child.kill(): Deno's ChildProcess delivers only the first signal sent
  // through it (later kill() calls return false), so a SIGCONT or SIGKILL after a
  // SIGSTOP would never arrive.
  private signal(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.child!.exitCode !== null) return;
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }

  async stop(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A test context on queues of its own, with one shop: what most POS test files start from. */
export async function openShopWithQueues(): Promise<{ t: TestContext; q: TestQueues; shop: TestTenant }> {
  const q = await testQueues();
  const t = await testContext({ queues: q.queues });
  return { t, q, shop: await t.createTenant() };
}

/** Closes what openShopWithQueues opened (either may be missing when beforeAll failed). */
export async function closeShopWithQueues(opened: { t?: TestContext; q?: TestQueues }): Promise<void> {
  await opened.q?.close();
  await opened.t?.close();
}
