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
  dispose(): Promise<void>;
}

/** Bundles `fixture` (a path relative to this folder) and starts it with the given Durable Object classes. */
export async function startWorker(
  fixture: string,
  durableObjects: Record<string, string>,
  options: { persistTo?: string } = {},
): Promise<WorkerdHost> {
  const esbuild = await import("esbuild");
  const entry = fileURLToPath(new URL(fixture, import.meta.url));
  const built = await esbuild.build({ entryPoints: [entry], bundle: true, format: "esm", platform: "neutral", target: "es2022", write: false, mainFields: ["module", "main"] });
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    modules: true,
    script: built.outputFiles[0].text,
    compatibilityDate: "2024-09-23",
    // No internet here: do not fetch request metadata from Cloudflare at start.
    cf: false,
    durableObjects: Object.fromEntries(Object.entries(durableObjects).map(([binding, className]) => [binding, { className, useSQLite: true }])),
    ...(options.persistTo ? { durableObjectsPersist: options.persistTo } : {}),
  });
  await mf.ready;
  return {
    fetch: (path, init) => mf.dispatchFetch(`http://weir.test${path}`, init as never) as unknown as Promise<Response>,
    dispose: () => mf.dispose(),
  };
}
