// The one runtime-specific step of starting the API: listening. Bun has Bun.serve, Deno
// has Deno.serve; both take the app's web-standard fetch handler.
/** The client's address as the runtime saw it (for per-address limits), or undefined. */
type FetchFrom = (request: Request, clientAddress: string | undefined) => Response | Promise<Response>;

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
        handler: (request: Request, info: { remoteAddr?: { hostname?: string } }) => Response | Promise<Response>,
      ): { addr: { port: number }; shutdown(): Promise<void> };
    }
  | undefined;

/**
 * `maxBodyBytes`: the runtime's own ceiling on a request body; our per-route limits (the
 * request guard) sit below it and answer in words, so it is set high on purpose.
 */
export function serve(opts: { port: number; hostname: string; maxBodyBytes: number; fetch: FetchFrom }): Listening {
  if (typeof Bun !== "undefined") {
    const server = Bun.serve({
      port: opts.port,
      hostname: opts.hostname,
      maxRequestBodySize: opts.maxBodyBytes,
      fetch: (request, server) => opts.fetch(request, server.requestIP(request)?.address),
    });
    return { port: server.port!, runtime: "bun", stop: async (force) => void (await server.stop(force)) };
  }
  if (typeof Deno !== "undefined") {
    const server = Deno.serve({ port: opts.port, hostname: opts.hostname, onListen: () => {} }, (request, info) =>
      opts.fetch(request, info.remoteAddr?.hostname),
    );
    return { port: server.addr.port, runtime: "deno", stop: () => server.shutdown() };
  }
  throw new Error("the API runs on Bun or Deno");
}

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
