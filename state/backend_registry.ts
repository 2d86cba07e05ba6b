/**
 * Which keyed state backends a job can choose (`StreamEnvironment({ state: { backend } })`):
 * "heap" is built in, others are registered by the module that implements them (a
 * runtime-specific one from platforms/), so the core never imports a runtime.
 * @module
 */
import { invalidOption } from "../errors.ts";
import type { KeyedStateBackendFactory } from "./backend.ts";
import { HeapKeyedStateBackend } from "./heap_backend.ts";

/** `StreamEnvironment({ state })`: DESIGN.md "State options". */
export interface StateBackendOptions {
  /** Which backend keeps keyed state: "heap" (default) or a registered one ("sqlite"). */
  backend?: string;
  /**
   * Incremental checkpoints (only what changed since the previous one). Default: the
   * backend's (false for heap, true for sqlite, whose files are incremental by nature).
   */
  incremental?: boolean;
}

const backends = new Map<string, KeyedStateBackendFactory>([["heap", (init) => new HeapKeyedStateBackend(init)]]);

/**
 * Makes a backend available as `state: { backend: name }`. The heap backend is built
 * in; a runtime-specific one (sqlite) is registered by its platform module.
 *
 * @example
 * ```ts
 * import { registerStateBackend, stateBackendFactory } from "./backend_registry.ts";
 * import { HeapKeyedStateBackend } from "./heap_backend.ts";
 * registerStateBackend("heap-copy", (init) => new HeapKeyedStateBackend(init));
 * console.assert(typeof stateBackendFactory({ backend: "heap-copy" }) === "function");
 * ```
 */
export function registerStateBackend(name: string, factory: KeyedStateBackendFactory): void {
  backends.set(name, factory);
}

/**
 * The factory for validated state options.
 * @throws {WeirError} `invalid_option` naming an unknown backend, an unknown field or a
 *   non-boolean `incremental`
 *
 * @example
 * ```ts
 * import { stateBackendFactory } from "./backend_registry.ts";
 * const create = stateBackendFactory({ backend: "heap" });
 * const b = create({ maxParallelism: 8, range: { start: 0, end: 7 }, incremental: false, uid: "u", subtaskIndex: 0, jobId: "j" });
 * console.assert(b.name === "heap");
 * ```
 */
export function stateBackendFactory(options: StateBackendOptions | undefined): KeyedStateBackendFactory {
  checkStateOptions(options);
  const name = options?.backend ?? "heap";
  return backends.get(name)!;
}

/**
 * The backend's name and whether its checkpoints are incremental: `state.incremental` when
 * given, else the backend's default (true for sqlite, false for heap).
 * @throws {WeirError} `invalid_option` (see stateBackendFactory)
 *
 * @example
 * ```ts
 * import { resolvedStateOptions } from "./backend_registry.ts";
 * const o = resolvedStateOptions(undefined);
 * console.assert(o.backend === "heap" && o.incremental === false);
 * ```
 */
export function resolvedStateOptions(options: StateBackendOptions | undefined): { backend: string; incremental: boolean } {
  const create = stateBackendFactory(options);
  return { backend: options?.backend ?? "heap", incremental: options?.incremental ?? create.incrementalByDefault ?? false };
}

/**
 * Validates `state` options.
 * @throws {WeirError} `invalid_option` (see stateBackendFactory)
 *
 * @example
 * ```ts
 * import { checkStateOptions } from "./backend_registry.ts";
 * import { WeirError } from "../errors.ts";
 * checkStateOptions({ backend: "heap", incremental: true });
 * try {
 *   checkStateOptions({ backend: "rocksdb" });
 * } catch (e) {
 *   console.assert(e instanceof WeirError && e.message.includes("rocksdb"));
 * }
 * ```
 */
export function checkStateOptions(options: StateBackendOptions | undefined): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) throw invalidOption("state", options, "must be an object");
  for (const k of Object.keys(options)) {
    if (k !== "backend" && k !== "incremental") throw invalidOption(`state.${k}`, (options as Record<string, unknown>)[k], "is not a known state option");
  }
  if (options.backend !== undefined && !backends.has(options.backend)) {
    throw invalidOption("state.backend", options.backend, `must be one of ${[...backends.keys()].map((b) => `"${b}"`).join(", ")}`);
  }
  if (options.incremental !== undefined && typeof options.incremental !== "boolean") {
    throw invalidOption("state.incremental", options.incremental, "must be true or false");
  }
}
