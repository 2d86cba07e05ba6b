/**
 * The storage engine of the SQLite keyed state backend: one SQLite database file per
 * operator and subtask, one row per (key group, state, key), and a bounded cache of
 * decoded values in front of it with write-back of dirty entries (the role RocksDB's
 * memtable and block cache play for Flink's RocksDB backend). The file is a working file
 * of the running subtask, never checkpoint storage: durability comes from checkpoints,
 * so SQLite runs without fsync.
 *
 * Rows hold each value in its canonical snapshot form (keyed_state.ts's
 * KeyedTableSnapshot entries, encoded by codec/), so a snapshot reads rows without
 * knowing the in-memory forms; a {@link StateCodec} per state converts between the two.
 * @module
 */
import { decode, encode } from "../codec/cbor.ts";
import { WeirError, assert } from "../errors.ts";
import { hashKey } from "./key_group.ts";
import { KeyFilter } from "./sqlite_bloom.ts";
import { type KvTemplate, buildKvFile } from "./sqlite_btree_file.ts";
import type { KvRecords } from "./sqlite_records.ts";
import { BulkRowWriter } from "./sqlite_bulk.ts";
import { keyBytes } from "./sqlite_keys.ts";
import { RowBytes } from "./sqlite_row_bytes.ts";
import type { SqliteDatabase, SqliteDriver, SqliteStatement } from "./sqlite_driver.ts";

/** Converts one state's values between their in-memory form and their stored (canonical) form. */
export interface StateCodec {
  toStored(mem: unknown): unknown;
  fromStored(stored: unknown): unknown;
}

/** A cached key: its value in memory (undefined: absent), and whether the file lags behind it. */
class CacheEntry {
  constructor(
    readonly sid: number,
    readonly canonical: unknown,
    readonly keyGroup: number,
    /** The original key when it is an object (canonical is its text); else undefined. */
    readonly key: unknown,
    public mem: unknown,
    public dirty: boolean,
  ) {}
  /** Read or written since the last eviction pass (second chance, as in CLOCK). */
  hit = true;
}

/** One row as stored: key group, state id, key bytes, original key (objects only), value. */
export interface StoredRow {
  kg: number;
  s: number;
  k: Uint8Array;
  ok: Uint8Array | null;
  v: Uint8Array;
}

/** What a store is opened with. */
export interface SqliteStoreOptions {
  /** The database file (created; an existing file is reopened as it is). */
  path: string;
  maxParallelism: number;
  /** Keys kept decoded in memory; more are written back and dropped. */
  cacheEntriesMax: number;
  /**
   * Records every key written to the file in a `changed` table, until clearChanges():
   * the content of the next changelog (incremental checkpoints).
   */
  trackChanges?: boolean;
}

/** The schema version of the working file. */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (kg INTEGER NOT NULL, s INTEGER NOT NULL, k BLOB NOT NULL, ok BLOB, v BLOB NOT NULL,
  PRIMARY KEY (kg, s, k)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changed (kg INTEGER NOT NULL, s INTEGER NOT NULL, k BLOB NOT NULL, PRIMARY KEY (kg, s, k)) WITHOUT ROWID;`;

/**
 * Rows by key group, state and key behind a write-back cache. Not safe to share between
 * subtasks; one store per backend.
 *
 * @example
 * ```ts
 * import { SqliteStateStore } from "./sqlite_store.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * const path = `${sqliteDriver.tempDirectory()}/weir-doc-store-${performance.now()}.db`;
 * const store = new SqliteStateStore(sqliteDriver, { path, maxParallelism: 128, cacheEntriesMax: 2 });
 * const plain = { toStored: (v: unknown) => v, fromStored: (v: unknown) => v };
 * store.declare(0, plain);
 * for (let i = 0; i < 10; i++) store.write(0, i, undefined, i * 10);
 * console.assert(store.read(0, 3, undefined) === 30);
 * store.dispose();
 * ```
 */
export class SqliteStateStore {
  readonly path: string;
  readonly maxParallelism: number;
  readonly cacheEntriesMax: number;
  readonly #driver: SqliteDriver;
  readonly #trackChanges: boolean;
  #db!: SqliteDatabase;
  #select!: SqliteStatement;
  #delete!: SqliteStatement;
  #changed!: SqliteStatement;
  readonly #caches = new Map<number, Map<unknown, CacheEntry>>();
  readonly #codecs = new Map<number, StateCodec>();
  #size = 0;
  #dirty: CacheEntry[] = [];
  /**
   * Keys written to the file by this store, so a new key skips the lookup; undefined once
   * rows came from elsewhere (a restore), when every miss asks the file.
   */
  #written: KeyFilter | undefined = new KeyFilter();
  #disposed = false;
  /** Rows written to the file since the counter was last taken (evictions and flushes). */
  rowsWritten = 0;

  constructor(driver: SqliteDriver, options: SqliteStoreOptions) {
    if (!(options.cacheEntriesMax >= 1)) throw new WeirError("invalid_option", `Option cacheEntriesMax must be >= 1, got ${options.cacheEntriesMax}`);
    this.#driver = driver;
    this.path = options.path;
    this.maxParallelism = options.maxParallelism;
    this.cacheEntriesMax = options.cacheEntriesMax;
    this.#trackChanges = options.trackChanges ?? false;
    this.#open();
  }

  /** Opens the connection to the file (created if absent) and prepares the statements. */
  #open(): void {
    const options = { path: this.path };
    const db = (this.#db = this.#driver.open(options.path));
    try {
      // A working file: checkpoints make state durable, so the file need not survive a crash.
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -65536;");
      db.exec(SCHEMA);
    } catch (e) {
      db.close();
      throw new WeirError("storage_failed", `Cannot set up the SQLite state database ${options.path}: ${(e as Error).message}`, { cause: e });
    }
    this.#select = db.prepare("SELECT ok, v FROM kv WHERE kg = ? AND s = ? AND k = ?");
    this.#delete = db.prepare("DELETE FROM kv WHERE kg = ? AND s = ? AND k = ?");
    this.#changed = db.prepare("INSERT OR IGNORE INTO changed (kg, s, k) VALUES (?, ?, ?)");
  }

  /**
   * Makes the file at `from` this store's file (a restored database), the cache emptied.
   * @throws {WeirError} `invariant_broken` when dirty values would be lost
   */
  adoptFile(from: string): void {
    assert(this.#dirty.every((e) => !e.dirty), () => `The SQLite state file ${this.path} was replaced while it had unwritten values`);
    for (const c of this.#caches.values()) c.clear();
    this.#size = 0;
    this.#db.close();
    this.#driver.removeFiles(this.path);
    this.#driver.renameFile(from, this.path);
    this.#written = undefined;
    this.#open();
  }

  /**
   * A new file beside this store's, with its schema and empty tables, written by SQLite:
   * what a restore written whole starts from (see adoptRecords()).
   * @throws {WeirError} `storage_failed`
   */
  kvTemplate(): KvTemplate & { path: string } {
    const path = `${this.path}.load`;
    this.#driver.removeFiles(path);
    try {
      const db = this.#driver.open(path);
      let rootPage: number;
      try {
        // A scratch file read back at once: one transaction and no fsync (three synced
        // commits took 60 ms of a 1 M-key restore's 0.6 s).
        db.exec(`PRAGMA synchronous = OFF; BEGIN; ${SCHEMA} COMMIT;`);
        rootPage = db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'kv'").get()!.rootpage as number;
      } finally {
        db.close();
      }
      return { path, bytes: this.#driver.readFile(path), rootPage };
    } catch (e) {
      this.#driver.removeFiles(path);
      if (e instanceof WeirError) throw e;
      throw new WeirError("storage_failed", `Cannot write the SQLite template file ${path}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Writes `template`'s file with `records` (in primary-key order) in its kv table and makes
   * it this store's file: a restore into an empty store without a statement per row.
   * @throws {WeirError} `storage_failed` when the file cannot be written;
   *   `invariant_broken` when the store holds unwritten values
   */
  adoptRecords(template: KvTemplate & { path: string }, records: KvRecords): number {
    try {
      this.#driver.writeFile(template.path, buildKvFile(template, records));
    } catch (e) {
      this.#driver.removeFiles(template.path);
      if (e instanceof WeirError) throw e;
      throw new WeirError("storage_failed", `Cannot write the restored SQLite state file ${template.path}: ${(e as Error).message}`, { cause: e });
    }
    this.adoptFile(template.path);
    return records.count;
  }

  /** True when the file holds no row. */
  isEmpty(): boolean {
    this.flush();
    return this.#db.prepare("SELECT 1 AS one FROM kv LIMIT 1").get() === undefined;
  }

  /** Forgets the keys recorded as changed: they are in a checkpoint now. */
  clearChanges(): void {
    this.#db.exec("DELETE FROM changed");
  }

  /** The open connection, for the backend's own statements (metadata, snapshots). */
  get db(): SqliteDatabase {
    return this.#db;
  }

  /** Keys held decoded in memory now. */
  get cachedEntries(): number {
    return this.#size;
  }

  /** Registers the codec of state id `sid` (its in-memory form). */
  declare(sid: number, codec: StateCodec): void {
    this.#codecs.set(sid, codec);
    if (!this.#caches.has(sid)) this.#caches.set(sid, new Map());
  }

  #cache(sid: number): Map<unknown, CacheEntry> {
    const c = this.#caches.get(sid);
    if (!c) throw new WeirError("invariant_broken", `SQLite state id ${sid} was used before it was declared`);
    return c;
  }

  /** The value of `canonical` in state `sid` (undefined: none), loaded into the cache. */
  read(sid: number, canonical: unknown, key: unknown): unknown {
    const cache = this.#cache(sid);
    const e = cache.get(canonical);
    if (e !== undefined) {
      e.hit = true;
      return e.mem;
    }
    const hash = hashKey(canonical);
    const kg = hash % this.maxParallelism;
    const row = this.#written && !this.#written.mayHold(sid, hash) ? undefined : this.#select.get(kg, sid, keyBytes(canonical));
    const mem = row ? this.#codecs.get(sid)!.fromStored(decode(row.v as Uint8Array, "a value in the SQLite state database")) : undefined;
    this.#insert(cache, new CacheEntry(sid, canonical, kg, canonical === key ? undefined : key, mem, false));
    return mem;
  }

  /** Sets the value of `canonical` (undefined deletes it); written to the file on eviction or flush. */
  write(sid: number, canonical: unknown, key: unknown, mem: unknown): void {
    const cache = this.#cache(sid);
    const e = cache.get(canonical);
    if (e !== undefined) {
      e.mem = mem;
      e.hit = true;
      if (!e.dirty) {
        e.dirty = true;
        this.#dirty.push(e);
      }
      return;
    }
    const fresh = new CacheEntry(sid, canonical, hashKey(canonical) % this.maxParallelism, canonical === key ? undefined : key, mem, true);
    this.#dirty.push(fresh);
    this.#insert(cache, fresh);
  }

  /**
   * Marks a key's cached value as changed in place (a list or map its view returned).
   * @throws {WeirError} `invariant_broken` when the key is not cached (read it first)
   */
  touch(sid: number, canonical: unknown): void {
    const e = this.#cache(sid).get(canonical);
    if (e === undefined) throw new WeirError("invariant_broken", `SQLite state ${sid}: key ${String(canonical)} changed in place but is not cached`);
    if (!e.dirty) {
      e.dirty = true;
      this.#dirty.push(e);
    }
  }

  #insert(cache: Map<unknown, CacheEntry>, e: CacheEntry): void {
    cache.set(e.canonical, e);
    if (++this.#size > this.cacheEntriesMax) this.#evict();
  }

  /**
   * Drops about a quarter of the cache, oldest first, giving keys used since the last pass a
   * second chance; dirty victims are written in one transaction.
   */
  #evict(): void {
    const target = Math.floor(this.cacheEntriesMax * 0.75);
    const victims: CacheEntry[] = [];
    for (let pass = 0; pass < 2 && this.#size - victims.length > target; pass++) {
      for (const cache of this.#caches.values()) {
        const spared: CacheEntry[] = [];
        for (const e of cache.values()) {
          if (this.#size - victims.length <= target) break;
          if (e.hit) {
            e.hit = false;
            spared.push(e);
          } else victims.push(e);
        }
        // Spared keys go to the back, so the next pass starts at keys not used lately.
        for (const e of spared) {
          cache.delete(e.canonical);
          cache.set(e.canonical, e);
        }
      }
    }
    const dirty = victims.filter((e) => e.dirty);
    if (dirty.length > 0) this.#writeRows(dirty);
    for (const e of victims) this.#caches.get(e.sid)!.delete(e.canonical);
    this.#size -= victims.length;
    if (dirty.length > 0) this.#dirty = this.#dirty.filter((e) => e.dirty);
  }

  /** Writes dirty entries in one transaction and marks them clean. */
  #writeRows(entries: CacheEntry[]): void {
    const db = this.#db;
    // In primary-key order (key group, state) the batch touches neighbouring B-tree pages.
    entries.sort((a, b) => a.keyGroup - b.keyGroup || a.sid - b.sid);
    // Upserts go 128 to a statement, keys and values written into shared buffers, as a
    // restore writes them (sqlite_bulk.ts, sqlite_row_bytes.ts): a call and two small
    // arrays per row cost more than SQLite spends on it. A batch holds a key once, so
    // deletes may run before the upserts buffered beside them.
    const bytes = new RowBytes();
    const rows = new BulkRowWriter(db);
    db.exec("BEGIN");
    try {
      for (const e of entries) {
        const k = bytes.key(e.canonical);
        if (this.#trackChanges) this.#changed.run(e.keyGroup, e.sid, k);
        if (e.mem === undefined) this.#delete.run(e.keyGroup, e.sid, k);
        else {
          this.#written?.add(e.sid, hashKey(e.canonical));
          const stored = this.#codecs.get(e.sid)!.toStored(e.mem);
          rows.row(e.keyGroup, e.sid, k, e.key === undefined ? null : encode(e.key, "a state key"), bytes.value(stored));
        }
        e.dirty = false;
      }
      rows.finish();
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      for (const e of entries) e.dirty = true;
      if (err instanceof WeirError) throw err;
      throw new WeirError("storage_failed", `Cannot write keyed state to ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    this.rowsWritten += entries.length;
  }

  /** Writes every dirty entry to the file; returns how many. */
  flush(): number {
    const dirty = this.#dirty.filter((e) => e.dirty);
    this.#dirty = [];
    if (dirty.length > 0) {
      try {
        this.#writeRows(dirty);
      } catch (e) {
        // Still dirty (rolled back), and write() or touch() will not list them again.
        this.#dirty = dirty.concat(this.#dirty);
        throw e;
      }
    }
    return dirty.length;
  }

  /** Keys changed since the last flush, as (state id, canonical key): a changelog's content. */
  get dirtyEntries(): number {
    return this.#dirty.length;
  }

  /**
   * Writes rows in bulk (a restore), bypassing and clearing the cache: `fill` packs them
   * into the writer (sqlite_bulk.ts), all in one transaction. Returns the rows written.
   * @throws {WeirError} `storage_failed` when SQLite refuses them
   */
  bulkLoad(fill: (w: BulkRowWriter) => void): number {
    this.clearCache();
    this.#written = undefined;
    const db = this.#db;
    const w = new BulkRowWriter(db);
    // A restore runs before any record and no snapshot reads the file yet: without the WAL
    // each page is written once, not to the log and then to the file.
    db.exec("PRAGMA main.journal_mode = OFF");
    db.exec("BEGIN");
    try {
      fill(w);
      w.finish();
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      if (err instanceof WeirError) throw err;
      throw new WeirError("storage_failed", `Cannot restore keyed state into ${this.path}: ${(err as Error).message}`, { cause: err });
    } finally {
      db.exec("PRAGMA main.journal_mode = WAL");
    }
    return w.written;
  }

  /** Rows arrive from elsewhere (a restored file): every miss must ask the file from now on. */
  forgetWrittenKeys(): void {
    this.#written = undefined;
  }

  /** Forgets cached values after writing back the dirty ones. */
  clearCache(): void {
    this.flush();
    for (const c of this.#caches.values()) c.clear();
    this.#size = 0;
  }

  /**
   * A read-only view of the file as it is now, after a flush: later writes do not show
   * in it (SQLite's WAL snapshot isolation on a second connection). Close it when done.
   */
  openSnapshot(): SqliteSnapshotReader {
    this.flush();
    return new SqliteSnapshotReader(this.#driver.open(this.path));
  }

  /** Closes the connection and removes the working file. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#db.close();
    this.#driver.removeFiles(this.path);
  }
}

/** Rows in (key group, state, key) order from a pinned read transaction, a page at a time. */
export class SqliteSnapshotReader {
  readonly #db: SqliteDatabase;
  readonly #page: SqliteStatement;
  #after: [number, number, Uint8Array] = [-1, 0, new Uint8Array(0)];
  #done = false;
  #closed = false;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    db.exec("BEGIN");
    // A WAL read transaction takes its snapshot at its first read, not at BEGIN.
    db.prepare("SELECT count(*) AS n FROM meta").get();
    this.#page = db.prepare("SELECT kg, s, k, ok, v FROM kv WHERE (kg, s, k) > (?, ?, ?) ORDER BY kg, s, k LIMIT ?");
  }

  /** True once every row was returned. */
  get done(): boolean {
    return this.#done;
  }

  /** The next `limit` rows (fewer at the end). */
  next(limit: number): StoredRow[] {
    if (this.#done) return [];
    const rows = this.#page.all(this.#after[0], this.#after[1], this.#after[2], limit) as unknown as StoredRow[];
    if (limit < 0 || rows.length < limit) this.#done = true;
    const last = rows[rows.length - 1];
    if (last) this.#after = [last.kg, last.s, last.k];
    return rows;
  }

  /** Starts again at the first row, in the same read transaction (the same snapshot). */
  rewind(): void {
    assert(!this.#closed, () => "A closed SQLite snapshot reader was rewound");
    this.#after = [-1, 0, new Uint8Array(0)];
    this.#done = false;
  }

  /** Ends the read transaction and closes the connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#db.exec("COMMIT");
    } finally {
      this.#db.close();
    }
  }
}
