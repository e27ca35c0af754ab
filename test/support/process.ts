// Real processes for tests that must see the service as an operator does.
import { type ChildProcess, spawn } from "node:child_process";
import { sleep } from "./runtime.ts";
export { freePort } from "../../src/runtime/ports.ts";

/** The runtime running the tests (bun or deno): processes the tests start use it too. */
export const RUNTIME = process.execPath;
const isDeno = typeof Bun === "undefined";

/** ["src/main.ts", "--api"] → what RUNTIME needs to run that script with those arguments. */
export function runtimeArgs(args: string[]): string[] {
  return isDeno ? ["run", "-A", ...args] : args;
}

export interface Spawned {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

export function spawnService(args: string[], env: Record<string, string>): Spawned {
  const child = spawn(RUNTIME, runtimeArgs(args), { env: { ...process.env, LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  // Deno's node:child_process reports a child that got SIGTERM as (null, "SIGTERM") even
  // when it handled the signal and exited 0 (checked with a child calling Deno.exit(0));
  // its real status is not available there, so a SIGTERM'd child counts as a clean exit
  // under Deno. Under Bun the real exit code is reported.
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? (isDeno && signal === "SIGTERM" ? 0 : null))),
  );
  return { child, output: () => out, exited };
}

export async function waitForHttp(url: string, timeoutMs = 30_000, proc?: Spawned): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    if (proc && proc.child.exitCode !== null) throw new Error(`process exited early:\n${proc.output()}`);
    await sleep(100);
  }
  throw new Error(`${url} did not answer in ${timeoutMs} ms\n${proc?.output() ?? ""}`);
}
