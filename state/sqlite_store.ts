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
import { WeirError, assert } from "../errors.ts";
import { hashKey } from "./key_group.ts";
import { type BulkRowWriter, loadInBulk } from "./sqlite_bulk.ts";
import { encodeWriteBack } from "./sqlite_write_back.ts";
import { WriteBackQueue } from "./sqlite_write_queue.ts";
import { RowLookup } from "./sqlite_row_lookup.ts";
import { RowBytes, decodeStored } from "./sqlite_row_bytes.ts";
import { EntryCache } from "./sqlite_cache.ts";
import { cacheKeyHash } from "./sqlite_key_table.ts";
import type { CacheEntry } from "./sqlite_cache_entry.ts";
import { DirtyCapture } from "./sqlite_capture.ts";
import { CHANGELOG_MEMORY_BYTES, type ChangelogWriter } from "./sqlite_changelog.ts";
import { EpochLog } from "./sqlite_epoch_log.ts";
import type { SqliteDatabase, SqliteDriver, WriterImage } from "./sqlite_driver.ts";
import { SqliteSnapshotReader } from "./sqlite_snapshot_reader.ts";
import { namedStateError } from "./state_not_persistable.ts";
import { StoreConnection } from "./sqlite_store_connection.ts";
import type { SqliteStoreOptions } from "./sqlite_backend_options.ts";
import type { StateCodec } from "./sqlite_forms.ts";


/** The working file's tables (a restore's template file has them too). */
export { SCHEMA } from "./sqlite_store_connection.ts";

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
  /** See SqliteBackendOptions.waitForWriter. */
  readonly waitForWriter: boolean;
  /** See SqliteBackendOptions.changelogMemoryBytes. */
  readonly changelogMemoryBytes: number;
  /** The operator's uid, named in errors (SqliteStoreOptions.uid). */
  readonly uid: string | undefined;
  readonly #driver: SqliteDriver;
  readonly #trackChanges: boolean;
  /** This store's own connection to the file (sqlite_store_connection.ts). */
  #conn!: StoreConnection;
  readonly #writes: WriteBackQueue;
  /** The changelog files of the capture epochs (trackChanges). */
  #log: EpochLog | undefined;
  readonly #cache: EntryCache;
  readonly #codecs = new Map<number, StateCodec>();
  /** Keys and values of written-back rows: copied into the batch and the log, so reused by the next write-back. */
  readonly #rowBytes = new RowBytes();
  /** The cache's miss path (sqlite_row_lookup.ts). */
  readonly #lookup: RowLookup;
  #disposed = false;
  /** Rows written to the file since the counter was last taken (evictions and flushes). */
  rowsWritten = 0;

  constructor(driver: SqliteDriver, options: SqliteStoreOptions) {
    if (!(options.cacheEntriesMax >= 1)) throw new WeirError("invalid_option", `Option cacheEntriesMax must be >= 1, got ${options.cacheEntriesMax}`);
    if (options.changelogMemoryBytes !== undefined && !(options.changelogMemoryBytes >= 0)) throw new WeirError("invalid_option", `Option changelogMemoryBytes must be >= 0 bytes, got ${options.changelogMemoryBytes}`);
    this.#driver = driver;
    this.path = options.path;
    this.maxParallelism = options.maxParallelism;
    this.cacheEntriesMax = options.cacheEntriesMax;
    this.waitForWriter = options.waitForWriter ?? false;
    this.changelogMemoryBytes = options.changelogMemoryBytes ?? CHANGELOG_MEMORY_BYTES;
    this.#trackChanges = options.trackChanges ?? false;
    this.uid = options.uid;
    const background = options.backgroundWrites !== false && driver.openWriter !== undefined;
    // Inline a batch is a transaction, and larger ones write fewer B-tree pages per row; a
    // background writer gathers batches into larger transactions anyway, so 512 victims
    // keep the subtask's share (encoding them) a short pause.
    this.#cache = new EntryCache(options.cacheEntriesMax, background ? 512 : 2048);
    this.#open();
    this.#writes = new WriteBackQueue(this.#conn.db, this.maxParallelism, background ? () => driver.openWriter!(this.path, this.maxParallelism, { process: options.writerProcess }) : undefined, options.writeGroupRows, this.waitForWriter);
    this.#lookup = new RowLookup({
      maxParallelism: this.maxParallelism,
      cache: this.#cache,
      writes: this.#writes,
      connection: () => this.#conn,
      fromStored: (sid, v, shared) => this.#fromStored(sid, v, shared),
      insert: (e, hash) => this.#insert(e, hash),
    });
  }

  /** Opens the connection to the file (created if absent). */
  #open(): void {
    this.#conn = new StoreConnection(this.#driver, this.path);
    if (this.#writes) this.#writes.db = this.#conn.db;
    if (this.#trackChanges) this.#log ??= new EpochLog(this.#driver, this.path, this.changelogMemoryBytes);
  }

  /**
   * Ends the changelog file of this capture epoch and starts the next: the file returned
   * holds every row written back since the previous rotation and is the caller's (to append
   * to, and to remove).
   * @throws {WeirError} `invariant_broken` without trackChanges
   */
  rotateLog(): ChangelogWriter {
    assert(this.#log !== undefined, () => `The SQLite state file ${this.path} keeps no changelog`);
    return this.#log.rotate();
  }

  /**
   * The snapshot point's take of the cache: the dirty keys (every one, or with `changedOnly`
   * those changed since the previous checkpoint's capture) with their values now, and a new
   * epoch; of the pending write-backs every one, or with `pendingUnsentOnly` those not yet
   * sent to the background writer. A `materialization`'s (a base between checkpoints)
   * leaves what the next checkpoint's changelog takes as it was.
   */
  capture(changedOnly: boolean, pendingUnsentOnly = false, materialization = false): DirtyCapture {
    const capture = new DirtyCapture(this.#codecs, (sid, stored, err) => this.namedError(sid, stored, err));
    // A changelog has the pending keys already: their records went to it when written back.
    if (!changedOnly) this.#writes.capturePending(capture, pendingUnsentOnly);
    return this.#cache.capture(changedOnly, this.#codecs, capture, materialization);
  }

  /**
   * A base's snapshot point with a page image of the file (named `what` in errors, its
   * parts of `partBytes` checksummed), which the background writer copies: capture(false),
   * except that the write-backs already sent are in the image (the writer applies them
   * before it copies the pages), so only those not yet sent are taken. Undefined, having taken nothing, when no writer is up or its driver cannot
   * copy pages.
   */
  captureWithImage(what: string, partBytes?: number, materialization = false): { capture: DirtyCapture; image: WriterImage } | undefined {
    const image = this.#writes.pageImage(what, partBytes, this.waitForWriter);
    return image && { capture: this.capture(false, true, materialization), image };
  }

  /** Bytes of the file's pages as this store's connection sees them (what a page image copies). */
  fileBytes(): number {
    return this.#conn.fileBytes();
  }

  /**
   * Makes the file at `from` this store's file (a restored database), the cache emptied.
   * @throws {WeirError} `invariant_broken` when dirty values would be lost
   */
  adoptFile(from: string): void {
    assert(this.#cache.dirtyCount === 0, () => `The SQLite state file ${this.path} was replaced while it had unwritten values`);
    this.#writes.quiesce();
    this.#cache.clear();
    this.#conn.close();
    this.#driver.removeFiles(this.path);
    this.#driver.renameFile(from, this.path);
    this.#lookup.forgetWrittenKeys();
    this.#open();
  }

  /** True when the file holds no row. */
  isEmpty(): boolean {
    this.flush();
    return this.#conn.db.prepare("SELECT 1 AS one FROM kv LIMIT 1").get() === undefined;
  }

  /** The driver the file is opened with. */
  get driver(): SqliteDriver {
    return this.#driver;
  }

  /**
   * The open connection, for the backend's own statements (restores, metadata), once every
   * write-back is in the file and the background writer's connection is closed.
   */
  get db(): SqliteDatabase {
    this.#writes.quiesce();
    return this.#conn.db;
  }

  /** Keys held decoded in memory now. */
  get cachedEntries(): number {
    return this.#cache.size;
  }

  /** Keys written back and not yet known to be in the file (see sqlite_write_queue.ts). */
  get pendingWrites(): number {
    return this.#writes.pendingKeys;
  }

  /**
   * Resolves true once write-backs go to a background writer (false: they run inline).
   * A writer starts with the first write-back otherwise; tests start it early.
   */
  backgroundWriterReady(): Promise<boolean> {
    return this.#writes.writerReady();
  }

  /** `err` naming state `sid` and the operator when it is a `value_not_persistable` one (`stored` would not encode). */
  namedError(sid: number, stored: unknown, err: unknown): unknown {
    return namedStateError(this.#codecs, this.uid, sid, stored, err);
  }

  /** Registers the codec of state id `sid` (its in-memory form). */
  declare(sid: number, codec: StateCodec): void {
    this.#codecs.set(sid, codec);
    this.#cache.declare(sid);
  }

  /** The value of `canonical` in state `sid` (undefined: none), loaded into the cache. */
  read(sid: number, canonical: unknown, key: unknown): unknown {
    const keyHash = cacheKeyHash(sid, canonical);
    const e = this.#cache.find(sid, canonical, keyHash);
    if (e !== undefined) {
      e.hit = true;
      // The caller may change an object in place: a snapshot that holds it takes a copy first.
      this.#cache.use(e);
      return e.mem;
    }
    return this.#lookup.load(sid, canonical, key, keyHash);
  }

  /**
   * A stored value of state `sid` in its in-memory form (undefined: none). `shared`: `v` is a
   * view into a buffer holding other values too (a batched read's), so bytes in it are copied,
   * or a cached value would keep them all alive. (Told rather than found out from `v.buffer`,
   * which makes JavaScriptCore move a small array's bytes out of its heap.)
   */
  #fromStored(sid: number, v: Uint8Array | undefined, shared: boolean): unknown {
    if (v === undefined) return undefined;
    return this.#codecs.get(sid)!.fromStored(decodeStored(v, "a value in the SQLite state database", shared));
  }

  /**
   * Caches the values of `count` keys of state `sid` about to be read (`canonicals[i]`, with
   * `keys[i]` as read()'s `key`, copied when it is an object): those neither cached, nor
   * written back and not yet committed, nor known absent are read from the file in batched
   * statements (StoreConnection.readMany), one for up to 128 of them rather than one each (as
   * Flink 2.0's ForSt backend batches its reads, FLIP-426). Only a hint: read() finds them
   * cached, or reads one that was evicted again meanwhile. Keys already cached are marked
   * used, so that making room for the others does not evict them first.
   * @throws {WeirError} as read()
   */
  prefetch(sid: number, canonicals: readonly unknown[], keys: readonly unknown[], count: number): void {
    this.#lookup.prefetch(sid, canonicals, keys, count);
  }

  /** Sets the value of `canonical` (undefined deletes it); written to the file on eviction or flush. */
  write(sid: number, canonical: unknown, key: unknown, mem: unknown): void {
    const cache = this.#cache;
    const keyHash = cacheKeyHash(sid, canonical);
    const e = cache.find(sid, canonical, keyHash);
    if (e !== undefined) {
      // A snapshot holding the old value by reference keeps it.
      cache.use(e);
      e.mem = mem;
      e.hit = true;
      cache.changed(e);
      return;
    }
    const fresh = cache.entry(sid, canonical, hashKey(canonical) % this.maxParallelism, canonical === key ? undefined : key, mem);
    cache.changed(fresh);
    this.#insert(fresh, keyHash);
  }

  /**
   * Marks a key's cached value as changed in place (a list or map its view returned).
   * @throws {WeirError} `invariant_broken` when the key is not cached (read it first)
   */
  touch(sid: number, canonical: unknown): void {
    const e = this.#cache.find(sid, canonical);
    if (e === undefined) throw new WeirError("invariant_broken", `SQLite state ${sid}: key ${String(canonical)} changed in place but is not cached`);
    this.#cache.changed(e);
  }

  /** Caches `e`, of a key not cached (`hash`: its cacheKeyHash()), and writes back the victims it makes. */
  #insert(e: CacheEntry, hash: number): void {
    const cache = this.#cache;
    cache.insert(e, hash);
    if (!cache.overfull) return;
    const victims = cache.takeVictims(e);
    const dirty = victims.filter((v) => v.dirty);
    if (dirty.length > 0) {
      try {
        this.#writeBack(dirty);
      } catch (e) {
        // Not written (or queued and not sent): they stay cached (and dirty) rather than be
        // lost; a queued one is written twice, the later write last. A clean victim that went
        // back to the pool meanwhile (an older group of it committed) is in the file.
        for (const v of victims) if (!v.free) cache.insert(v);
        throw e;
      }
    }
    cache.evicted(victims);
  }

  /**
   * Writes dirty entries back in one batch (sqlite_write_queue.ts: inline, or queued to the
   * background writer) and marks them clean; see encodeWriteBack().
   * @throws {WeirError} `value_not_persistable` for a value that cannot be encoded,
   *   `storage_failed` when the file refuses the batch; nothing is marked clean then
   */
  #writeBack(entries: CacheEntry[]): void {
    // Inline the batch is written on this connection; sent to the writer, it is applied next,
    // and the WAL checkpoint after its commit cannot finish past a snapshot held meanwhile.
    this.#conn.endRead();
    // In primary-key order (key group, state) the batch touches neighbouring B-tree pages.
    entries.sort((a, b) => a.keyGroup - b.keyGroup || a.sid - b.sid);
    this.#rowBytes.reuse();
    const batch = encodeWriteBack(entries, { bytes: this.#rowBytes, codecs: this.#codecs, log: this.#log?.current, changesFrom: this.#cache.changesFrom, written: this.#lookup.written, named: (sid, stored, err) => this.namedError(sid, stored, err) });
    this.#writes.write(batch, entries);
    this.#cache.cleaned(entries);
    this.rowsWritten += entries.length;
  }

  /** Writes every dirty entry to the file; returns how many. */
  flush(): number {
    const dirty = this.#cache.dirtyEntries();
    if (dirty.length > 0) this.#writeBack(dirty);
    this.#writes.drain();
    return dirty.length;
  }

  /** Keys changed and not yet written to the file. */
  get dirtyEntries(): number {
    return this.#cache.dirtyCount;
  }

  /**
   * Writes rows in bulk (a restore), bypassing and clearing the cache: `fill` packs them
   * into the writer (sqlite_bulk.ts), all in one transaction. Returns the rows written.
   * @throws {WeirError} `storage_failed` when SQLite refuses them
   */
  bulkLoad(fill: (w: BulkRowWriter) => void): number {
    this.clearCache();
    this.#writes.quiesce();
    this.#lookup.forgetWrittenKeys();
    return loadInBulk(this.#conn.db, this.path, fill);
  }

  /** Rows arrive from elsewhere (a restored file): every miss must ask the file from now on. */
  forgetWrittenKeys(): void {
    this.#lookup.forgetWrittenKeys();
  }

  /** Forgets cached values after writing back the dirty ones. */
  clearCache(): void {
    this.flush();
    this.#cache.clear();
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
    this.#writes.dispose();
    this.#conn.close();
    this.#driver.removeFiles(this.path);
    this.#log?.remove();
    this.#log = undefined;
  }
}
