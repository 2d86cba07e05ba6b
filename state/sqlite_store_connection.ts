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
 * Keys a batched read (readMany()) asks in one statement; a shorter batch is padded with keys
 * no row has. On Deno (node:sqlite) reads/s peaked near 128 (1.7× a statement per key; 512
 * gave 1.2×).
 */
export const READ_BATCH_KEYS = 128;

/** The keys of a batched read as a table of their own: (position, key group, key bytes). */
function keysTable(keys: number): string {
  return `WITH q(i, kg, k) AS (VALUES ${Array.from({ length: keys }, (_, i) => `(${i}, ?, ?)`).join(", ")})`;
}

/**
 * A batched read of `keys` keys as one row: the values' lengths in key order (a JSON array,
 * null for a key without a row) and the values themselves, concatenated into one BLOB
 * (group_concat keeps a BLOB's bytes, zeros included; ORDER BY within an aggregate needs
 * SQLite 3.44, and Bun 1.4 and Deno 2 bring 3.5x). On node:sqlite a row per key costs an
 * ArrayBuffer of malloc'd memory per value: one BLOB of them all reads 1.7× as many keys a
 * second. q is the outer loop of a LEFT JOIN, so each key is one primary-key search (an
 * inner join let SQLite scan kv instead once the keys were many).
 */
export function batchedReadSql(keys: number): string {
  return `${keysTable(keys)}
SELECT json_group_array(length(kv.v) ORDER BY q.i) AS lens, CAST(group_concat(kv.v, '' ORDER BY q.i) AS BLOB) AS vs
FROM q LEFT JOIN kv ON kv.kg = q.kg AND kv.s = ? AND kv.k = q.k`;
}

/** The fewest keys a batched read statement has: fewer are padded to it, more to the next power of two up to READ_BATCH_KEYS. */
const READ_BATCH_KEYS_MIN = 8;

const NO_KEY = new Uint8Array(0);

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
  /** Batched read statements by their number of keys, and their parameters, reused: (key group, key) per key, then the state id. */
  readonly #selectMany = new Map<number, { select: SqliteStatement; params: (number | Uint8Array)[] }>();

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

  /**
   * The stored values of `count` keys of state `sid` at once, as read() reads one: `into[i]`
   * is the value of key `keys[i]` (its keyBytes()) in key group `kgs[i]`, or undefined. A
   * value is a view into a buffer shared with the others' values (decode it with
   * `copyBuffers`, or a value kept would keep them all).
   */
  readMany(sid: number, kgs: readonly number[], keys: readonly Uint8Array[], count: number, committed: number | undefined, into: (Uint8Array | undefined)[]): void {
    if (committed === undefined) this.#held.end();
    else this.#held.holdAfter(committed);
    for (let from = 0; from < count; from += READ_BATCH_KEYS) {
      const n = Math.min(READ_BATCH_KEYS, count - from);
      let size = READ_BATCH_KEYS_MIN;
      while (size < n) size *= 2;
      const { select, params } = this.#batchedRead(size);
      params[2 * size] = sid;
      for (let j = 0; j < size; j++) {
        params[2 * j] = j < n ? kgs[from + j] : -1;
        params[2 * j + 1] = j < n ? keys[from + j] : NO_KEY;
      }
      for (let j = 0; j < n; j++) into[from + j] = undefined;
      let row;
      try {
        row = select.get(...params)!;
      } catch (e) {
        // SQLITE_TOOBIG: the values together exceed SQLite's largest value (1 GB unless
        // built otherwise), which none of them alone does.
        if (!/too big/i.test((e as Error).message)) throw e;
        for (let j = 0; j < n; j++) into[from + j] = this.#select.get(kgs[from + j], sid, keys[from + j])?.v as Uint8Array | undefined;
        continue;
      }
      const lengths = JSON.parse(row.lens as string) as (number | null)[];
      const values = row.vs as Uint8Array | null;
      for (let j = 0, offset = 0; j < n; j++) {
        const length = lengths[j];
        if (length === null) continue;
        into[from + j] = values!.subarray(offset, offset + length);
        offset += length;
      }
    }
  }

  /** The batched read statement for `size` keys (prepared on first use). */
  #batchedRead(size: number): { select: SqliteStatement; params: (number | Uint8Array)[] } {
    let read = this.#selectMany.get(size);
    if (read === undefined) {
      const sql = batchedReadSql(size);
      read = { select: this.#db.prepare(sql), params: new Array(2 * size + 1) };
      this.#selectMany.set(size, read);
    }
    return read;
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

  /** Bytes of the file's pages as this connection sees them (what a page image copies). */
  fileBytes(): number {
    const db = this.db;
    const pages = db.prepare("PRAGMA page_count").get()?.page_count as number;
    const size = db.prepare("PRAGMA page_size").get()?.page_size as number;
    return pages * size;
  }

  /** Ends the read transaction held and closes the connection. */
  close(): void {
    this.#held.end();
    this.#db.close();
  }
}
