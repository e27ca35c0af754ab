// Real processes for tests that must see the service as an operator does.
import { type ChildProcess, spawn } from "node:child_process";
export { freePort } from "../../src/runtime/ports.ts";

export const BUN = process.execPath; // the bun running the tests

export interface Spawned {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

export function spawnService(args: string[], env: Record<string, string>): Spawned {
  const child = spawn(BUN, args, { env: { ...process.env, LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
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
    await Bun.sleep(100);
  }
  throw new Error(`${url} did not answer in ${timeoutMs} ms\n${proc?.output() ?? ""}`);
}
