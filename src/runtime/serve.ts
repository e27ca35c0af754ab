// The one runtime-specific step of starting the API: listening. Bun has Bun.serve, Deno
// has Deno.serve; both take the app's web-standard fetch handler.
type Fetch = (request: Request) => Response | Promise<Response>;

export interface Listening {
  port: number;
  runtime: "bun" | "deno";
  /** Stops listening; `force` also cuts open connections (Bun; Deno waits for them). */
  stop(force?: boolean): Promise<void>;
}

declare const Deno:
  | {
      addSignalListener(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
      serve(
        opts: { port: number; hostname?: string; onListen?: (a: { port: number }) => void },
        handler: Fetch,
      ): { addr: { port: number }; shutdown(): Promise<void> };
    }
  | undefined;

export function serve(opts: { port: number; hostname: string; fetch: Fetch }): Listening {
  if (typeof Bun !== "undefined") {
    const server = Bun.serve({ port: opts.port, hostname: opts.hostname, fetch: opts.fetch });
    return { port: server.port!, runtime: "bun", stop: async (force) => void (await server.stop(force)) };
  }
  if (typeof Deno !== "undefined") {
    const server = Deno.serve({ port: opts.port, hostname: opts.hostname, onListen: () => {} }, opts.fetch);
    return { port: server.addr.port, runtime: "deno", stop: () => server.shutdown() };
  }
  throw new Error("the API runs on Bun or Deno");
}

export const runtimeName = (): "bun" | "deno" | "node" =>
  typeof Bun !== "undefined" ? "bun" : typeof Deno !== "undefined" ? "deno" : "node";

/**
 * Runs `handler` on SIGTERM / SIGINT. Deno's node:process does not deliver these to
 * process.on listeners (the process just ends), so Deno gets its own signal listener.
 */
export function onStopSignal(handler: (signal: "SIGTERM" | "SIGINT") => void): void {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    if (typeof Bun === "undefined" && typeof Deno !== "undefined") Deno.addSignalListener(signal, () => handler(signal));
    else process.on(signal, () => handler(signal));
  }
}
