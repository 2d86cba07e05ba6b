/**
 * The changelog of a SQLite state store's capture epoch (SqliteStoreOptions.trackChanges):
 * every row written back goes to the current epoch's file, and a snapshot point of a
 * changelog checkpoint ends the epoch and takes its file (sqlite_native.ts), as Flink's
 * changelog state backend (FLIP-158) cuts its log at each checkpoint.
 * @module
 */
import { ChangelogWriter } from "./sqlite_changelog.ts";
import type { SqliteDriver } from "./sqlite_driver.ts";

/**
 * Changelog files `<path>.log-1`, `<path>.log-2`, …, one per epoch.
 *
 * @example
 * ```ts
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * import { EpochLog } from "./sqlite_epoch_log.ts";
 * const log = new EpochLog(sqliteDriver, `${sqliteDriver.tempDirectory()}/weir-doc-epochs-${performance.now()}.db`, 0);
 * const first = log.current;
 * const ended = log.rotate();
 * console.assert(ended === first && log.current !== first);
 * ended.release();
 * sqliteDriver.removeFiles(ended.path);
 * log.remove();
 * ```
 */
export class EpochLog {
  readonly #driver: SqliteDriver;
  readonly #path: string;
  readonly #memoryBytes: number;
  #seq = 0;
  #current: ChangelogWriter;

  /** `memoryBytes`: what a changelog keeps in memory before it writes to its file (SqliteBackendOptions.changelogMemoryBytes). */
  constructor(driver: SqliteDriver, path: string, memoryBytes: number) {
    this.#driver = driver;
    this.#path = path;
    this.#memoryBytes = memoryBytes;
    this.#current = this.#open();
  }

  /** The changelog of the current epoch. */
  get current(): ChangelogWriter {
    return this.#current;
  }

  /**
   * Ends the current epoch and starts the next: the file returned holds every row written
   * back since the previous rotation and is the caller's (to append to, and to remove).
   */
  rotate(): ChangelogWriter {
    const ended = this.#current;
    ended.flush();
    this.#current = this.#open();
    return ended;
  }

  /** Releases the current epoch's changelog and removes its file. */
  remove(): void {
    this.#current.release();
    this.#driver.removeFiles(this.#current.path);
  }

  #open(): ChangelogWriter {
    return new ChangelogWriter(this.#driver, `${this.#path}.log-${++this.#seq}`, false, this.#memoryBytes);
  }
}
