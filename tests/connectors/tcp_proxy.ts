/**
 * A loopback TCP proxy a test can cut (the server "disappears" for the client without
 * stopping the shared server) or stall (the server accepts and reads, and answers nothing:
 * a hung server, a partition that drops packets).
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  /** Each connection's client and upstream sockets, to stall the open ones. */
  readonly #pairs = new Set<[Socket, Socket]>();
  #server: Server | undefined;
  #down = false;
  #stalled = false;
  port = 0;

  constructor(targetPort: number, targetHost = "127.0.0.1") {
    this.#target = { host: targetHost, port: targetPort };
  }

  async start(): Promise<number> {
    this.#server = createServer((client) => {
      if (this.#down) return client.destroy();
      this.#track(client);
      if (this.#stalled) return void client.resume();
      const upstream = createConnection(this.#target);
      this.#track(upstream);
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => (upstream.destroy(), this.#pairs.delete(pair)));
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return this.port;
  }

  #track(s: Socket): void {
    this.#sockets.add(s);
    s.on("close", () => this.#sockets.delete(s));
    s.on("error", () => {});
  }

  /** Drops every connection and refuses new ones until up(). */
  down(): void {
    this.#down = true;
    for (const s of this.#sockets) s.destroy();
  }

  up(): void {
    this.#down = false;
  }

  /** From now on nothing is forwarded: open connections and new ones are read and never answered. */
  stall(): void {
    this.#stalled = true;
    for (const [client, upstream] of this.#pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.resume();
      upstream.resume();
    }
  }

  async close(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}
