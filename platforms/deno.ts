/**
 * The REST API server on Deno: Deno.serve behind the `Serve` contract of serve.ts.
 * @module
 */
import { WeirError } from "../errors.ts";
import { baseUrl, type FetchHandler, type ListenOptions, type RunningServer } from "./serve.ts";

/** The slice of Deno's API this file uses; declared here because the type-check runs with Bun's types. */
interface DenoServeApi {
  serve(
    options: { hostname: string; port: number; onListen?: (addr: { hostname: string; port: number }) => void },
    handler: FetchHandler,
  ): { addr: { hostname: string; port: number }; shutdown(): Promise<void>; finished: Promise<void> };
}

/**
 * Serves `handler` with Deno.serve; resolves once the socket listens.
 *
 * @example
 * ```ts
 * import { serve } from "./deno.ts";
 * const server = await serve(() => new Response("ok"), { hostname: "127.0.0.1", port: 0 });
 * await server.close();
 * ```
 */
export function serve(handler: FetchHandler, options: ListenOptions): Promise<RunningServer> {
  const deno = (globalThis as unknown as { Deno: DenoServeApi }).Deno;
  let server: ReturnType<DenoServeApi["serve"]>;
  try {
    // onListen is given so that Deno does not print its own "Listening on" line.
    server = deno.serve({ hostname: options.hostname, port: options.port, onListen: () => {} }, handler);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return Promise.reject(new WeirError("http_listen_failed", `Cannot listen on ${options.hostname}:${options.port}: ${why}`, { cause: e }));
  }
  const port = server.addr.port;
  let closing: Promise<void> | undefined;
  return Promise.resolve({
    url: baseUrl(options.hostname, port),
    hostname: options.hostname,
    port,
    // shutdown() is graceful: in-flight responses are completed before the listener closes.
    close: () => (closing ??= server.shutdown().then(() => server.finished)),
  });
}
