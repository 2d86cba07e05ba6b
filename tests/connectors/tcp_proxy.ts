/** A loopback TCP proxy a test can cut: the server "disappears" for the client without stopping the shared server. */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #down = false;
  port = 0;

  constructor(targetPort: number, targetHost = "127.0.0.1") {
    this.#target = { host: targetHost, port: targetPort };
  }

  async start(): Promise<number> {
    this.#server = createServer((client) => {
      if (this.#down) return client.destroy();
      const upstream = createConnection(this.#target);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on("close", () => this.#sockets.delete(s));
        s.on("error", () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return this.port;
  }

  /** Drops every connection and refuses new ones until up(). */
  down(): void {
    this.#down = true;
    for (const s of this.#sockets) s.destroy();
  }

  up(): void {
    this.#down = false;
  }

  async close(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}
