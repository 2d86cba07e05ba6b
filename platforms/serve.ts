/**
 * Serves a fetch handler on whichever runtime weir runs on. The contract lives here; the
 * implementations live in bun.ts and deno.ts, which this file loads lazily so that a Deno
 * process never evaluates Bun code and vice versa.
 * @module
 */
import { WeirError } from "../errors.ts";

/** A fetch-style request handler, as hono's `app.fetch` is. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** Where to listen. Port 0 asks the operating system for a free port. */
export interface ListenOptions {
  hostname: string;
  port: number;
  /** Bodies larger than this are refused by the server itself, before the app sees them. */
  maxRequestBodyBytes?: number;
}

/** A running HTTP server. */
export interface RunningServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:8081`. */
  readonly url: string;
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting connections and lets in-flight requests finish. */
  close(): Promise<void>;
}

/** The same-named function each runtime file exports. */
export type Serve = (handler: FetchHandler, options: ListenOptions) => Promise<RunningServer>;

/** The runtime this process runs on, as far as serving HTTP is concerned. */
export function currentRuntime(): "bun" | "deno" | "other" {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return "bun";
  if (g.Deno !== undefined) return "deno";
  return "other";
}

/**
 * Serves `handler` with Bun.serve or Deno.serve.
 *
 * @example
 * ```ts
 * import { serve } from "./serve.ts";
 * const server = await serve(() => new Response("ok"), { hostname: "127.0.0.1", port: 0 });
 * console.assert((await (await fetch(server.url)).text()) === "ok");
 * await server.close();
 * ```
 */
export async function serve(handler: FetchHandler, options: ListenOptions): Promise<RunningServer> {
  const runtime = currentRuntime();
  if (runtime === "bun") return (await import("./bun.ts")).serve(handler, options);
  if (runtime === "deno") return (await import("./deno.ts")).serve(handler, options);
  throw new WeirError("http_unavailable", "The REST API needs Bun or Deno; this runtime has neither Bun.serve nor Deno.serve");
}

/** Renders a base URL, bracketing IPv6 hosts. */
export function baseUrl(hostname: string, port: number): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `http://${host}:${port}`;
}
