// What the benchmarks share: child processes with their logs, CPU accounting from /proc
// (Linux; zeros elsewhere), and which code was measured.
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";

export { freePort } from "../src/runtime/ports.ts";

export const ROOT = resolve(import.meta.dir, "..");

export type Proc = ReturnType<typeof Bun.spawn>;

/** Starts `cmd` in the project folder, stdout to `logFile`, stderr to `logFile.err`. */
export function spawnLogged(cmd: string[], extraEnv: Record<string, string>, logFile: string): Proc {
  return Bun.spawn(cmd, {
    cwd: ROOT,
    env: { ...process.env, ...extraEnv },
    stdout: Bun.file(logFile),
    stderr: Bun.file(logFile + ".err"),
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(proc: Proc, graceMs = 15_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const killer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(killer);
}

export async function waitHealthy(name: string, proc: Proc, url: string, logFile: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if (proc.exitCode !== null) break;
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  const log = await readFile(logFile + ".err", "utf8").catch(() => "");
  throw new Error(`${name} did not answer ${url} within 30 s${proc.exitCode !== null ? ` (exited ${proc.exitCode})` : ""}\n${log.slice(-2000)}`);
}

export const cpus = navigator.hardwareConcurrency;
export const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim()) || 100;

/** User + system CPU a process has used so far, in ms. */
export async function processCpuMs(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // utime + stime
  } catch {
    return 0;
  }
}

/** Busy and iowait CPU of the whole machine, in ms summed over all cores. */
export async function machineMs(): Promise<{ busy: number; iowait: number }> {
  const line = (await readFile("/proc/stat", "utf8").catch(() => "cpu 0 0 0 0")).split("\n")[0]!;
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
  const busy = v.reduce((s, x) => s + x, 0) - (v[3] ?? 0) - (v[4] ?? 0);
  return { busy: (busy * 1000) / CLK_TCK, iowait: ((v[4] ?? 0) * 1000) / CLK_TCK };
}

/** The commit measured, marked (with a hash of the diff) when src/sql/workers have uncommitted changes. */
export function gitDescribe(): string {
  const rev = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).stdout?.toString().trim() || "unknown";
  const dirty = spawnSync("git", ["status", "--porcelain", "--", "src", "sql", "workers"], { cwd: ROOT }).stdout?.toString().trim();
  if (!dirty) return rev;
  const diff = spawnSync("git", ["diff", "HEAD", "--", "src", "sql", "workers"], { cwd: ROOT }).stdout?.toString() ?? "";
  return `${rev}+uncommitted src/sql/workers changes (${Bun.hash(diff + dirty).toString(16).slice(0, 8)})`;
}

// --- seeded randomness: the same seed gives the same request mix run after run --------

export type Rand = () => number;

export function rng(seed: number): Rand {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
export const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
export const uuid = (r: Rand) =>
  "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => {
    const v = Math.floor(r() * 16);
    return (c === "x" ? v : (v & 3) | 8).toString(16);
  });

/**
 * The command that runs one of our scripts under the runtime being measured:
 * BENCH_RUNTIME=deno → node_modules/.bin/deno run -A <script>; otherwise this Bun.
 * The benchmark itself (seeding, load, accounting) always runs on Bun.
 */
export function serviceCommand(script: string, args: string[] = [], bunFlags: string[] = []): string[] {
  if (process.env.BENCH_RUNTIME === "deno") return [join(ROOT, "node_modules/.bin/deno"), "run", "-A", script, ...args];
  return [process.execPath, ...bunFlags, script, ...args];
}

export const benchRuntime = (): string => (process.env.BENCH_RUNTIME === "deno" ? "deno" : "bun");
