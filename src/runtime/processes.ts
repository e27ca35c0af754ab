// Small helpers the embedded services (Postgres, Redis) share for the processes they
// start, find and stop. node:* only, so Node and Deno run them too.

/** Whether a process with this pid exists (EPERM: it does, and belongs to another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Sends `sig`; a process already gone is not an error. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** `fn` run at most once; later calls get the first call's promise. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function errText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return err === undefined ? "unknown error" : String(err);
}
