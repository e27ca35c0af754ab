// A loopback TCP proxy a test can pause: bytes stop flowing both ways on every
// connection (open and new) while the sockets stay open — a network path that stalls,
// which neither end notices until its own timeouts fire.
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class PausableProxy {
  private paused = false;
  private held: [Socket, Buffer][] = [];
  private readonly pairs = new Set<[Socket, Socket]>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<PausableProxy> {
    let proxy!: PausableProxy;
    const server = createServer((client) => {
      const upstream = createConnection({ host: targetHost, port: targetPort });
      const pair: [Socket, Socket] = [client, upstream];
      proxy.pairs.add(pair);
      // Held back while paused, delivered in order on resume.
      const forward = (from: Socket, to: Socket) =>
        from.on("data", (chunk: Buffer) => {
          if (proxy.paused) proxy.held.push([to, chunk]);
          else to.write(chunk);
        });
      forward(client, upstream);
      forward(upstream, client);
      const close = () => {
        proxy.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("error", close).on("close", close);
      upstream.on("error", close).on("close", close);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new PausableProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const [to, chunk] of held) if (!to.destroyed) to.write(chunk);
  }

  async close(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
