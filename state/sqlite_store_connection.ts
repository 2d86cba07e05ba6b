/**
 * The subtask's own connection to its SQLite state file (sqlite_store.ts): opened with the
 * working file's settings and tables, it reads one key's row at a time, within the read
 * transaction it holds across reads while the background writer is idle
 * (sqlite_held_read.ts), and hands itself out for every other use only with that
 * transaction ended.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { SqliteDatabase, SqliteDriver, SqliteStatement } from "./sqlite_driver.ts";
import { HeldRead } from "./sqlite_held_read.ts";

/** The working file's tables (a restore's template file has them too). */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (kg INTEGER NOT NULL, s INTEGER NOT NULL, k BLOB NOT NULL, ok BLOB, v BLOB NOT NULL,
  PRIMARY KEY (kg, s, k)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`;

/**
 * Bytes of the file the subtask's connection reads through a memory map (PRAGMA mmap_size):
 * a page that is not in the write-ahead log is then read from the map rather than fetched
 * into the page cache. Deno's SQLite is built with SQLITE_ENABLE_MEMORY_MANAGEMENT, which
 * makes every connection of the process share one page cache behind one mutex, and the
 * background writer's commits held it: with a map, point reads taking over 2 ms fell from
 * 170–220 to 40–75 per 1 M-key bench run (bench/state.ts, "sqlite, every"; see also
 * bench/sqlite_reads.ts). A map is safe from the file shrinking (a base with TTL states has
 * auto-vacuum, and the working file may be one): a WAL checkpoint truncates the file only
 * once it copied the whole log, when no snapshot older than the newest is open, and no
 * snapshot that new reads past the new end; a file is replaced only with the connection
 * closed (adoptFile()).
 */
const READ_MAP_BYTES = 256 * 1024 * 1024;

/**
 * One open connection to a working file (created if absent).
 *
 * @example
 * ```ts
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * import { StoreConnection } from "./sqlite_store_connection.ts";
 * const path = `${sqliteDriver.tempDirectory()}/weir-doc-connection-${performance.now()}.db`;
 * const c = new StoreConnection(sqliteDriver, path);
 * c.db.exec("INSERT INTO kv VALUES (3, 0, x'01', NULL, x'02')");
 * console.assert(c.read(3, 0, Uint8Array.of(1), 0)?.[0] === 2); // within a held read
 * console.assert(c.read(3, 0, Uint8Array.of(9), undefined) === undefined); // a read of its own
 * c.close();
 * sqliteDriver.removeFiles(path);
 * ```
 */
export class StoreConnection {
  readonly #db: SqliteDatabase;
  readonly #held: HeldRead;
  readonly #select: SqliteStatement;

  /** @throws {WeirError} `storage_failed` naming the file when SQLite cannot set it up */
  constructor(driver: SqliteDriver, path: string) {
    const db = (this.#db = driver.open(path));
    try {
      // A working file: checkpoints make state durable, so the file need not survive a crash.
      db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -65536; PRAGMA mmap_size = ${READ_MAP_BYTES};`);
      db.exec(SCHEMA);
    } catch (e) {
      db.close();
      throw new WeirError("storage_failed", `Cannot set up the SQLite state database ${path}: ${(e as Error).message}`, { cause: e });
    }
    this.#held = new HeldRead(db);
    this.#select = db.prepare("SELECT v FROM kv WHERE kg = ? AND s = ? AND k = ?");
  }

  /**
   * The stored value of key `k` (its keyBytes()) of state `sid` in key group `kg`, or
   * undefined. `committed` is the background writer's commit count while it is up and idle
   * (WriteBackQueue.committedSeq()): the read is then made in the transaction held since that
   * count was reached, so it sees every group committed by then; undefined, it is a
   * transaction of its own.
   */
  read(kg: number, sid: number, k: Uint8Array, committed: number | undefined): Uint8Array | undefined {
    if (committed === undefined) this.#held.end();
    else this.#held.holdAfter(committed);
    return this.#select.get(kg, sid, k)?.v as Uint8Array | undefined;
  }

  /** Ends the read transaction held, if any (a write-back is about to go to the writer). */
  endRead(): void {
    this.#held.end();
  }

  /** The connection for anything but read(): the read transaction held is ended first. */
  get db(): SqliteDatabase {
    this.#held.end();
    return this.#db;
  }

  /** Ends the read transaction held and closes the connection. */
  close(): void {
    this.#held.end();
    this.#db.close();
  }
}
