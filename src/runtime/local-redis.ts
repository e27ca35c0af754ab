// A Redis for "no REDIS_URL": the one already answering on 127.0.0.1:6379, else a
// redis-server child of this process (memory only, no persistence), else one clear error.
//
// Only node:* APIs here (no Bun.*), so this also runs under Node.

import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:fs";
import { access, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { delimiter, join, resolve } from "node:path";
import { freePort, isPortFree } from "./ports.ts";
import { errText, isAlive, once, signal, sleep } from "./processes.ts";

export interface LocalRedisOptions {
  /** Working folder of a spawned redis-server (nothing is persisted there), e.g. `<project>/.data/redis`. */
  dataDir: string;
  /** Port for a spawned redis-server. Default 6390; when the default is taken by another program a free port is used. */
  port?: number;
  log?: (msg: string) => void;
  /** Look at 127.0.0.1:6379 first. Default true; tests turn it off to exercise the spawn. */
  probeDefault?: boolean;
  /** Folders searched for redis-server. Default: PATH, then /usr/sbin, /usr/local/bin, /usr/bin, /opt/homebrew/bin. */
  searchDirs?: string[];
}

export interface LocalRedis {
  /** redis://127.0.0.1:<port> */
  url: string;
  /** Stops redis-server if this call spawned (or adopted) it; otherwise a no-op. Idempotent. */
  stop(): Promise<void>;
}

/** Every failure of ensureLocalRedis; `message` is one paragraph meant for the user. */
export class LocalRedisError extends Error {
  override name = "LocalRedisError";
}

export const DEFAULT_LOCAL_REDIS_PORT = 6390;
const SYSTEM_PORT = 6379;
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const EXTRA_DIRS = ["/usr/sbin", "/usr/local/bin", "/usr/bin", "/opt/homebrew/bin", "/usr/local/sbin"];
const INSTALL_HINT =
  'Install Redis (Debian/Ubuntu: "apt-get install redis-server", macOS: "brew install redis") or set REDIS_URL=redis://host:6379 to use a Redis of your own.';

export async function ensureLocalRedis(opts: LocalRedisOptions): Promise<LocalRedis> {
  const log = opts.log ?? (() => {});
  const noop = async () => {};

  if (opts.probeDefault !== false) {
    const answer = await ping(SYSTEM_PORT);
    if (answer === "PONG") {
      log(`local Redis: using the one at 127.0.0.1:${SYSTEM_PORT}`);
      return { url: `redis://127.0.0.1:${SYSTEM_PORT}`, stop: noop };
    }
    if (answer) log(`local Redis: 127.0.0.1:${SYSTEM_PORT} answers "${answer}", not usable without settings; starting our own`);
  }

  const dataDir = resolve(opts.dataDir);
  const stateFile = join(dataDir, "redis.json");
  let port = opts.port ?? DEFAULT_LOCAL_REDIS_PORT;

  // Ours from a previous or concurrent run? Share it while its owner lives, else adopt it.
  const state = await readState(stateFile);
  if ((await ping(port)) === "PONG") {
    if (state && state.port === port && isAlive(state.pid)) {
      if (isAlive(state.owner)) {
        log(`local Redis: sharing the one of process ${state.owner} at 127.0.0.1:${port}`);
        return { url: `redis://127.0.0.1:${port}`, stop: noop };
      }
      await writeState(stateFile, { ...state, owner: process.pid });
      log(`local Redis: adopting the redis-server left running (pid ${state.pid}) at 127.0.0.1:${port}`);
      return { url: `redis://127.0.0.1:${port}`, stop: once(() => stopPid(state.pid, stateFile)) };
    }
    // Someone's Redis on our port: fine to use, not ours to stop.
    log(`local Redis: using the one already at 127.0.0.1:${port}`);
    return { url: `redis://127.0.0.1:${port}`, stop: noop };
  }

  const bin = await findRedisServer(opts.searchDirs);
  if (!bin) {
    throw new LocalRedisError(
      `No Redis is available: ${opts.probeDefault === false ? "" : `nothing answers on 127.0.0.1:${SYSTEM_PORT} and `}no redis-server program was found (searched PATH and ${EXTRA_DIRS.join(", ")}). ${INSTALL_HINT}`,
    );
  }

  if (!(await isPortFree(port))) {
    if (opts.port !== undefined) {
      throw new LocalRedisError(
        `Could not start a local Redis: port ${port} on 127.0.0.1 is in use by another program. Free it or choose another port, or set REDIS_URL=redis://host:6379 to use a Redis of your own.`,
      );
    }
    const other = await freePort();
    log(`local Redis: port ${port} is taken by another program, using ${other}`);
    port = other;
  }

  try {
    await mkdir(dataDir, { recursive: true });
  } catch (err) {
    throw new LocalRedisError(
      `Could not start a local Redis: cannot create ${dataDir} (${errText(err)}). Make it writable or point DATA_DIR elsewhere, or set REDIS_URL=redis://host:6379.`,
    );
  }

  const args = ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--port", String(port), "--dir", dataDir];
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split(/\r?\n/)) {
      if (line.trim()) output.push(line.trim());
    }
    if (output.length > 50) output.splice(0, output.length - 50);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));
  // If this process exits without stop(), do not leave the child behind.
  const onExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  process.once("exit", onExit);

  const failStart = async (what: string): Promise<never> => {
    process.removeListener("exit", onExit);
    await stopChild(child);
    const last = [...output].reverse().find((l) => /#|error|fatal|can't|cannot/i.test(l)) ?? output[output.length - 1];
    throw new LocalRedisError(
      `Could not start a local Redis (${bin} on port ${port}): ${what}${last ? ` Its last words: "${last}".` : ""} ${INSTALL_HINT}`,
    );
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError) return failStart(`it could not be run (${spawnError.message}).`);
    if (child.exitCode !== null || child.signalCode !== null) {
      // Lost a race with another process of ours starting one on the same port: share it.
      if ((await ping(port)) === "PONG") {
        process.removeListener("exit", onExit);
        log(`local Redis: using the one another process just started at 127.0.0.1:${port}`);
        return { url: `redis://127.0.0.1:${port}`, stop: noop };
      }
      return failStart(`it exited at once (${child.signalCode ?? `code ${child.exitCode}`}).`);
    }
    if ((await ping(port, 500)) === "PONG") break;
    if (Date.now() > deadline) return failStart(`it did not answer PING within ${READY_TIMEOUT_MS / 1000} s.`);
    await sleep(50);
  }

  let stopping = false;
  child.once("exit", (code, sig) => {
    process.removeListener("exit", onExit);
    if (!stopping) log(`local Redis: redis-server exited unexpectedly (${sig ?? `code ${code}`})`);
  });
  await writeState(stateFile, { pid: child.pid!, owner: process.pid, port });
  log(`local Redis: started ${bin} at 127.0.0.1:${port} (memory only)`);

  return {
    url: `redis://127.0.0.1:${port}`,
    stop: once(async () => {
      stopping = true;
      process.removeListener("exit", onExit);
      await stopChild(child);
      await clearState(stateFile);
    }),
  };
}

// ---------------------------------------------------------------------------------------

interface State {
  pid: number;
  owner: number;
  port: number;
}

async function readState(file: string): Promise<State | undefined> {
  try {
    const s = JSON.parse(await readFile(file, "utf8")) as State;
    return Number.isInteger(s.pid) && Number.isInteger(s.owner) && Number.isInteger(s.port) ? s : undefined;
  } catch {
    return undefined;
  }
}

async function writeState(file: string, s: State): Promise<void> {
  await writeFile(file, JSON.stringify(s) + "\n").catch(() => {});
}

async function clearState(file: string): Promise<void> {
  const s = await readState(file);
  if (s && s.owner === process.pid) await unlink(file).catch(() => {});
}

/**
 * Sends PING over a raw RESP connection. Returns the first reply line without its type
 * byte ("PONG", "NOAUTH Authentication required.", …), or undefined when nothing answers.
 */
export function ping(port: number, timeoutMs = 1000, host = "127.0.0.1"): Promise<string | undefined> {
  return new Promise((resolvePing) => {
    let buf = "";
    let done = false;
    const finish = (v: string | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolvePing(v);
    };
    const sock = connect({ port, host });
    const timer = setTimeout(() => finish(buf ? buf.trim() : undefined), timeoutMs);
    sock.on("connect", () => sock.write("*1\r\n$4\r\nPING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      const eol = buf.indexOf("\r\n");
      if (eol >= 0) finish(buf.slice(1, eol));
    });
    sock.on("error", () => finish(undefined));
    sock.on("close", () => finish(buf ? buf.trim() : undefined));
  });
}

async function findRedisServer(searchDirs?: string[]): Promise<string | undefined> {
  const dirs = searchDirs ?? [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  const names = process.platform === "win32" ? ["redis-server.exe"] : ["redis-server"];
  for (const dir of dirs) {
    for (const name of names) {
      const p = join(dir, name);
      try {
        await access(p, constants.X_OK);
        return p;
      } catch {
        // next
      }
    }
  }
  return undefined;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timedOut = await Promise.race([exited.then(() => false), sleep(STOP_TIMEOUT_MS).then(() => true)]);
  if (timedOut) {
    // By pid: Deno's ChildProcess delivers only the first signal sent through kill().
    signal(child.pid, "SIGKILL");
    await exited;
  }
}

async function stopPid(pid: number, stateFile: string): Promise<void> {
  // Never signal a recycled pid: on Linux, check it still is a redis-server.
  const comm = await readFile(`/proc/${pid}/comm`, "utf8").catch(() => undefined);
  if (comm !== undefined && !comm.startsWith("redis")) return clearState(stateFile);
  signal(pid, "SIGTERM");
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) signal(pid, "SIGKILL");
  await clearState(stateFile);
}
