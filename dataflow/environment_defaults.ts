/**
 * Process-wide settings of every StreamEnvironment, installed from outside the job's
 * code: the defaults the weir command sets for the jobs of the file it runs, and the
 * REST API server mod.ts installs (so that the core never imports a server).
 * @module
 */
import type { JobHandle } from "../runtime/job_handle.ts";
import type { EnvironmentOptions, HttpOptions } from "./environment_options.ts";

/** Starts the REST API for a job; installed by mod.ts so the core never imports a server. */
export type HttpStarter = (job: JobHandle, options: HttpOptions) => Promise<{ url: string; close(): Promise<void> }>;

let httpStarter: HttpStarter | undefined;

/**
 * Installs the REST API server used when a job has `http` options.
 *
 * @example
 * ```ts
 * import { installedHttpStarter, setHttpStarter } from "./environment_defaults.ts";
 * const before = installedHttpStarter();
 * setHttpStarter(() => Promise.resolve({ url: "http://localhost:0", close: () => Promise.resolve() }));
 * console.assert(installedHttpStarter() !== undefined);
 * if (before) setHttpStarter(before);
 * ```
 */
export function setHttpStarter(starter: HttpStarter): void {
  httpStarter = starter;
}

/**
 * Options `weir run` (or a job file's own command line) sets for the jobs of the file it
 * runs, plus `launchCommand`: the command line that started them, without the restore
 * flags, so that a stop can tell the user the exact command that restores its savepoint.
 */
export type EnvironmentDefaults = Pick<EnvironmentOptions, "parallelism" | "http" | "restoreFrom" | "allowNonRestoredState" | "fresh"> & {
  launchCommand?: string;
};

let currentDefaults: EnvironmentDefaults = {};

/**
 * Sets defaults for options a job does not set itself (`weir run --parallelism --port
 * --from-savepoint --allow-non-restored-state --fresh`); `http` is merged field by field,
 * so a job's own port wins over the flag's. This is how a job file receives the savepoint
 * path of `weir run FILE --from-savepoint DIR`: every StreamEnvironment it builds restores
 * from DIR unless it sets `restoreFrom` itself.
 *
 * @example
 * ```ts
 * import { setEnvironmentDefaults } from "./environment_defaults.ts";
 * setEnvironmentDefaults({ parallelism: 2 });
 * setEnvironmentDefaults({});
 * ```
 */
export function setEnvironmentDefaults(defaults: EnvironmentDefaults): void {
  currentDefaults = { ...defaults };
}

/**
 * The defaults in force (a copy).
 *
 * @example
 * ```ts
 * import { environmentDefaults, setEnvironmentDefaults } from "./environment_defaults.ts";
 * setEnvironmentDefaults({ parallelism: 2 });
 * console.assert(environmentDefaults().parallelism === 2);
 * setEnvironmentDefaults({});
 * ```
 */
export function environmentDefaults(): EnvironmentDefaults {
  return { ...currentDefaults };
}

/** The REST API server mod.ts installed, if it did. */
export function installedHttpStarter(): HttpStarter | undefined {
  return httpStarter;
}

/** The options with the defaults in force filled in where the job leaves them unset. */
export function withDefaults(options: EnvironmentOptions): EnvironmentOptions {
  const d = currentDefaults;
  const merged = { ...options };
  if (merged.parallelism === undefined && d.parallelism !== undefined) merged.parallelism = d.parallelism;
  if (merged.restoreFrom === undefined && d.restoreFrom !== undefined) merged.restoreFrom = d.restoreFrom;
  if (merged.allowNonRestoredState === undefined && d.allowNonRestoredState !== undefined) merged.allowNonRestoredState = d.allowNonRestoredState;
  if (merged.fresh === undefined && d.fresh !== undefined) merged.fresh = d.fresh;
  if (d.http !== undefined) merged.http = { ...d.http, ...merged.http };
  return merged;
}

