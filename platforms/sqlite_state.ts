/**
 * Registers the SQLite keyed state backend as `state: { backend: "sqlite" }` with the
 * runtime's SQLite driver (platforms/sqlite.ts). mod.ts imports this module; a job file
 * that imports weir's modules one by one imports it too to use "sqlite".
 * @module
 */
import type { KeyedStateBackendFactory, KeyedStateBackendInit } from "../state/backend.ts";
import { registerStateBackend } from "../state/backend_registry.ts";
import { type SqliteBackendOptions, SqliteKeyedStateBackend } from "../state/sqlite_backend.ts";
import { sqliteDriver } from "./sqlite.ts";

/**
 * A factory of SQLite backends with the runtime's driver; `options` set the working
 * directory and the cache size.
 *
 * @example
 * ```ts
 * import { sqliteStateBackend } from "./sqlite_state.ts";
 * const create = sqliteStateBackend({ cacheEntriesMax: 1000 });
 * const b = create({ maxParallelism: 8, range: { start: 0, end: 7 }, incremental: false, uid: "u", subtaskIndex: 0, jobId: "doc" });
 * console.assert(b.name === "sqlite");
 * b.dispose();
 * ```
 */
export function sqliteStateBackend(options: Omit<SqliteBackendOptions, "driver"> = {}): KeyedStateBackendFactory {
  // Its database files are incremental by nature: a checkpoint uploads the pages and rows that changed.
  return Object.assign((init: KeyedStateBackendInit) => new SqliteKeyedStateBackend(init, { ...options, driver: sqliteDriver }), { incrementalByDefault: true });
}

registerStateBackend("sqlite", sqliteStateBackend());
