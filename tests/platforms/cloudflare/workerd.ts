/**
 * Runs a Worker under workerd (miniflare 3, from npm) for the Cloudflare tests: bundles a
 * fixture with esbuild and serves it with SQLite-backed Durable Objects. These tests run
 * with `npm run test:cloudflare` (WEIR_WORKERD=1, under bun); elsewhere they skip.
 */
import { fileURLToPath } from "node:url";
import process from "node:process";

/** Why the workerd tests are skipped here, or undefined when they run. */
export const workerdSkip: string | undefined = process.env.WEIR_WORKERD === "1"
  ? undefined
  : "workerd tests run with `npm run test:cloudflare`";

export interface WorkerdHost {
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** An R2 bucket of the Worker, read and written from this process (miniflare's proxy). */
  r2(binding: string): Promise<R2BucketProxy>;
  dispose(): Promise<void>;
}

/** The calls the tests make on an R2 bucket from outside the Worker. */
export interface R2BucketProxy {
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
  put(key: string, value: Uint8Array): Promise<unknown>;
  list(options?: { prefix?: string; cursor?: string }): Promise<{ objects: { key: string }[]; truncated: boolean; cursor?: string }>;
}

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  /** Keep Durable Object (and R2) data in this directory, so a later start sees it. */
  persistTo?: string;
  /** R2 bucket bindings. */
  r2Buckets?: string[];
  /** Plain-text variables. */
  bindings?: Record<string, string>;
}

/** Bundles `fixture` (a path relative to this folder) and starts it with the given Durable Object classes. */
export async function startWorker(
  /** A path relative to this folder, or a file: URL. */
  fixture: string | URL,
  durableObjects: Record<string, string>,
  options: WorkerOptions = {},
): Promise<WorkerdHost> {
  const esbuild = await import("esbuild");
  const entry = fileURLToPath(new URL(fixture, import.meta.url));
  const noFs = fileURLToPath(new URL("./fixtures/no_fs.ts", import.meta.url));
  const built = await esbuild.build({
    entryPoints: [entry], bundle: true, format: "esm", platform: "neutral", target: "es2022", write: false, mainFields: ["module", "main"],
    // workerd's nodejs_compat provides node:process and node:path; node:fs and node:module
    // (only the dashboard's asset loader uses them) become stubs, as wrangler's polyfills do.
    external: ["node:*", "cloudflare:*"],
    plugins: [{ name: "no-fs", setup: (b) => void b.onResolve({ filter: /^node:(fs|module)$/ }, () => ({ path: noFs })) }],
  });
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    modules: true,
    script: built.outputFiles[0].text,
    compatibilityDate: "2024-09-23",
    compatibilityFlags: ["nodejs_compat"],
    // No internet here: do not fetch request metadata from Cloudflare at start.
    cf: false,
    durableObjects: Object.fromEntries(Object.entries(durableObjects).map(([binding, className]) => [binding, { className, useSQLite: true }])),
    ...(options.persistTo ? { durableObjectsPersist: options.persistTo, r2Persist: `${options.persistTo}/_r2` } : {}),
    r2Buckets: options.r2Buckets ?? [],
    bindings: options.bindings ?? {},
  });
  await mf.ready;
  return {
    fetch: (path, init) => mf.dispatchFetch(`http://weir.test${path}`, init as never) as unknown as Promise<Response>,
    r2: (binding) => mf.getR2Bucket(binding) as unknown as Promise<R2BucketProxy>,
    dispose: () => mf.dispose(),
  };
}
