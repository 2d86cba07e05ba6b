/**
 * Starting the REST API for a job: the `HttpStarter` that mod.ts installs. Jobs asking for
 * the same host and port share one server (and see each other through the registry);
 * port 0 always gets a server of its own.
 * @module
 */
import process from "node:process";
import type { HttpOptions } from "../dataflow/environment_options.ts";
import { WeirError, invalidOption } from "../errors.ts";
import { type RunningServer, serve } from "../platforms/serve.ts";
import type { JobHandle } from "../runtime/job_handle.ts";
import { createApp } from "./app.ts";
import { FinalStatusReads } from "./final_status.ts";
import { jobRegistry } from "./registry.ts";

/** The REST API binds to the loopback interface unless told otherwise. */
export const HOSTNAME_DEFAULT = "127.0.0.1";
/** Flink's REST port. */
export const PORT_DEFAULT = 8081;
/**
 * How long a server stays up after its last job ended when no client is known to wait for
 * an answer, so that a dashboard or a poller sees the final state instead of a refused
 * connection.
 */
export const LINGER_MS = 1000;
/**
 * How long an ended job's API keeps answering while a client that triggered a savepoint,
 * a stop or a cancel has not yet read its outcome (`http.stopGraceMs` overrides it).
 */
export const STOP_GRACE_MS_DEFAULT = 10_000;

interface Shared {
  server: RunningServer;
  token: string | undefined;
  reads: FinalStatusReads;
  jobs: number;
  closed: Promise<void>;
  markClosed: () => void;
}

const servers = new Map<string, Shared>();
const byUrl = new Map<string, Shared>();

/**
 * Serves the REST API for `job` and returns its URL and a close function that the job
 * calls when it ends.
 *
 * @example
 * ```ts
 * import { setHttpStarter } from "../dataflow/environment_defaults.ts";
 * import { startJobServer } from "./server.ts";
 * setHttpStarter(startJobServer);
 * ```
 */
export async function startJobServer(job: JobHandle, options: HttpOptions): Promise<{ url: string; close(): Promise<void> }> {
  const { hostname, port, token, stopGraceMs } = resolveHttpOptions(options);
  const key = `${hostname}:${port}`;
  let shared = port === 0 ? undefined : servers.get(key);
  if (shared && shared.token !== token) {
    throw new WeirError("http_listen_failed", `The REST API on ${key} already runs with another token; give job ${job.name} another port`);
  }
  if (!shared) {
    const reads = new FinalStatusReads();
    const app = createApp({ registry: jobRegistry, token, finalReads: reads });
    // The app answers oversized bodies with a JSON 413 (from Content-Length, or while
    // reading a chunked body); the server's own limit, which answers with an empty 413, is
    // set far above so that it never speaks first.
    const server = await serve(app.fetch, { hostname, port, maxRequestBodyBytes: 1 << 30 });
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    shared = { server, token, reads, jobs: 0, closed, markClosed };
    if (port !== 0) servers.set(key, shared);
    byUrl.set(server.url, shared);
  }
  // Listed only once the server listens: a job whose server failed never appears.
  jobRegistry.add(job);
  const s = shared;
  s.jobs++;
  let released = false;
  return {
    url: s.server.url,
    close: async () => {
      if (released) return s.closed;
      released = true;
      // A client that triggered the stop (weir stop) polls for the savepoint's location: the
      // API answers until it was read, or the grace period passed. Real timers: this is
      // wall time for HTTP clients, not job time.
      const linger = new Promise((resolve) => setTimeout(resolve, LINGER_MS));
      await Promise.all([linger, s.reads.whenServed(job.id, Math.max(stopGraceMs, LINGER_MS))]);
      if (--s.jobs > 0) return;
      if (servers.get(key) === s) servers.delete(key);
      byUrl.delete(s.server.url);
      await s.server.close();
      s.markClosed();
    },
  };
}

/**
 * Resolves once the server at `url` has closed (immediately when none is known). Tests
 * and `weir run` use it to end only after the API is gone.
 *
 * @example
 * ```ts
 * import { serverClosed } from "./server.ts";
 * await serverClosed("http://127.0.0.1:1");
 * ```
 */
export function serverClosed(url: string | undefined): Promise<void> {
  return (url && byUrl.get(url)?.closed) || Promise.resolve();
}

/** Checks `http` options and fills in host, port, the token (option, else WEIR_TOKEN) and the stop grace period. */
export function resolveHttpOptions(options: HttpOptions): { hostname: string; port: number; token: string | undefined; stopGraceMs: number } {
  if (options === null || typeof options !== "object") throw invalidOption("http", options, "must be an object");
  const port = options.port ?? PORT_DEFAULT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalidOption("http.port", port, "must be an integer between 0 and 65535");
  const hostname = options.hostname ?? HOSTNAME_DEFAULT;
  if (typeof hostname !== "string" || hostname.length === 0) throw invalidOption("http.hostname", hostname, "must be a non-empty string");
  // An empty WEIR_TOKEN means no token, as an unset one does.
  const token = options.token ?? (process.env.WEIR_TOKEN || undefined);
  if (token !== undefined && (typeof token !== "string" || token.length === 0)) throw invalidOption("http.token", token, "must be a non-empty string");
  const stopGraceMs = options.stopGraceMs ?? STOP_GRACE_MS_DEFAULT;
  if (!Number.isFinite(stopGraceMs) || stopGraceMs < 0) throw invalidOption("http.stopGraceMs", stopGraceMs, "must be a number of milliseconds >= 0");
  return { hostname, port, token, stopGraceMs };
}
