/**
 * The options of the SQLite keyed state backend (sqlite_backend.ts) and of the store under
 * it (sqlite_store.ts).
 * @module
 */
import type { SqliteDriver } from "./sqlite_driver.ts";

/** Where and how the backend keeps its working files. */
export interface SqliteBackendOptions {
  driver: SqliteDriver;
  /** Directory of the working database files (default: the OS temp directory + `/weir-state`). */
  directory?: string;
  /** Keys kept decoded in memory per backend (default 100 000). */
  cacheEntriesMax?: number;
  /**
   * Checkpoints (not savepoints) of a backend created with `incremental: true` and a
   * storage go in this backend's own format (sqlite_native.ts: a base and changelogs)
   * rather than canonical tables. Default true; false keeps them canonical.
   */
  nativeCheckpoints?: boolean;
  /**
   * Write-backs of evicted keys go to a thread of their own where the driver has one
   * (default true; sqlite_write_queue.ts); false writes them on the subtask's thread.
   */
  backgroundWrites?: boolean;
  /**
   * The background writer's transactions run in a child process of its own (Bun and Deno;
   * Node keeps a thread), its thread only relaying batches to it (default false). On Deno
   * this takes SQLite's process-wide page cache and allocator mutexes out of the subtask's
   * process, which its point reads otherwise wait on while the writer commits: in
   * bench/state.ts (1 M keys, checkpoints every second, README) Deno ran 9–15 % more
   * records/s with fewer gaps off a core; Bun, whose SQLite keeps a cache per connection,
   * gains nothing. Costs a process per subtask with SQLite state, and on Deno the
   * permission to run one (--allow-run).
   */
  writerProcess?: boolean;
  /**
   * A rolling reduce's keys are read in batches of 128 (ReducingState.prefetch,
   * SqliteStateStore.prefetch) rather than one at a time (default false). In bench/state.ts
   * (1 M keys, nearly every record missing the cache, README) Deno ran 22–46 % more
   * records/s, with more and longer pauses over 10 ms; Bun gained nothing and paused more.
   */
  batchedReads?: boolean;
  /** Rows per background transaction (tests use few; see sqlite_write_queue.ts). */
  writeGroupRows?: number;
  /**
   * A snapshot whose base the background writer copies waits for it when it gets there,
   * rather than taking steps until it is done, and a base waits for a writer that is not
   * up yet rather than copying its rows itself, so that the steps a snapshot takes never
   * depend on the writer thread's pace (the simulator, whose schedules must repeat).
   * Default false: the subtask processes records meanwhile.
   */
  waitForWriter?: boolean;
  /**
   * Bytes of a capture epoch's changelog (incremental checkpoints) kept in memory before it
   * goes to a file beside the working file (default CHANGELOG_MEMORY_BYTES, 16 MiB; 0: the
   * file from the start). Kept in memory, it is uploaded without a copy to the file and
   * back.
   */
  changelogMemoryBytes?: number;
}

/** What a store is opened with. */
export interface SqliteStoreOptions {
  /** The database file (created; an existing file is reopened as it is). */
  path: string;
  maxParallelism: number;
  /** Keys kept decoded in memory; more are written back and dropped. */
  cacheEntriesMax: number;
  /**
   * Writes every row written back to the file into a changelog file too, one file per
   * capture epoch (see rotateLog()): the content of the next changelog (incremental
   * checkpoints).
   */
  trackChanges?: boolean;
  /**
   * Write-backs go to the driver's background writer, when it has one (default true);
   * false applies them on the calling thread.
   */
  backgroundWrites?: boolean;
  /** See SqliteBackendOptions.writerProcess. */
  writerProcess?: boolean;
  /** Rows a background writer's transaction gathers (default GROUP_ROWS); tests use few. */
  writeGroupRows?: number;
  /** See SqliteBackendOptions.waitForWriter. */
  waitForWriter?: boolean;
  /** See SqliteBackendOptions.changelogMemoryBytes. */
  changelogMemoryBytes?: number;
  /** The operator's uid, named in errors. */
  uid?: string;
}
