/**
 * The REST API server on Bun: Bun.serve behind the `Serve` contract of serve.ts.
 * @module
 */
import { WeirError } from "../errors.ts";
import { baseUrl, type FetchHandler, type ListenOptions, type RunningServer } from "./serve.ts";

/**
 * Serves `handler` with Bun.serve; resolves once the socket listens.
 *
 * @example Runs under Bun only, so Deno's doc tests skip it.
 * ```ts ignore
 * import { serve } from "./bun.ts";
 * const server = await serve(() => new Response("ok"), { hostname: "127.0.0.1", port: 0 });
 * await server.close();
 * ```
 */
export function serve(handler: FetchHandler, options: ListenOptions): Promise<RunningServer> {
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: options.hostname,
      port: options.port,
      maxRequestBodySize: options.maxRequestBodyBytes,
      fetch: handler,
    });
  } catch (e) {
    return Promise.reject(listenFailed(options, e));
  }
  const port = server.port ?? options.port;
  let closing: Promise<void> | undefined;
  return Promise.resolve({
    url: baseUrl(options.hostname, port),
    hostname: options.hostname,
    port,
    // Not forced: a response being written (e.g. the 202 of a cancel that ends the job) still goes out.
    close: () => (closing ??= Promise.resolve(server.stop(false)).then(() => {})),
  });
}

function listenFailed(options: ListenOptions, cause: unknown): WeirError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new WeirError("http_listen_failed", `Cannot listen on ${options.hostname}:${options.port}: ${why}`, { cause });
}
