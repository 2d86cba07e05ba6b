/**
 * Keyed state in an on-disk SQLite database per operator and subtask (issue 10 item 3;
 * the role Flink's `EmbeddedRocksDBStateBackend` plays): state larger than memory, with a
 * bounded cache of decoded values in front (sqlite_store.ts). Snapshots read a WAL
 * snapshot of the file on a second connection, a page at a time, so state changed after
 * the snapshot point never shows in them; restore takes the key groups of this backend's
 * range from canonical tables written by any backend.
 * @module
 */
import { copyValue } from "../codec/values.ts";
import { WeirError } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import type { AggregatingState, IncrementalKeyedState, KeyedStateBackend, KeyedStateBackendInit, KeyedStateHandle, KeyedStateSnapshot, ReducingState, SnapshotOptions, StateAggregator } from "./backend.ts";
import { ttlListState, ttlMapState, ttlValueState } from "./heap_ttl_states.ts";
import { type KeyGroupRange, canonicalKey, invalidKey } from "./key_group.ts";
import { type ListState, type MapState, readTable, type StateKind, type ValueState } from "./keyed_state.ts";
import { canonicalSnapshot } from "./sqlite_canonical.ts";
import type { SqliteDriver } from "./sqlite_driver.ts";
import type { SqliteBackendOptions } from "./sqlite_backend_options.ts";
import { type NativeState, SQLITE_NATIVE_VERSION } from "./sqlite_native_format.ts";
import { type StateInfo, StateCatalog } from "./sqlite_state_catalog.ts";
import { NativeCheckpoints } from "./sqlite_native_checkpoints.ts";
import { adoptBase, applyFile, nativeHandles, restoreChains } from "./sqlite_native_restore.ts";
import { type RestoredTable, loadCanonicalTables } from "./sqlite_restore_file.ts";
import { encodedSource } from "./encoded_tables.ts";
import { SqliteStateStore } from "./sqlite_store.ts";
import { sweepAbandonedFiles, workingFilePath } from "./sqlite_working_files.ts";
import { type CurrentKey, StoreTable, sqliteListState, sqliteMapState, sqliteValueState } from "./sqlite_views.ts";
import { type StateOptions, TtlClock, checkTtl } from "./ttl.ts";

/** The version of what this backend writes in its own format; newer ones are refused. */
export const SQLITE_STATE_FORMAT_VERSION = SQLITE_NATIVE_VERSION;
export type { SqliteBackendOptions } from "./sqlite_backend_options.ts";

/**
 * Keyed state of one operator in one subtask in a SQLite working file.
 *
 * @example
 * ```ts
 * import { SqliteKeyedStateBackend } from "./sqlite_backend.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * const init = { maxParallelism: 8, range: { start: 0, end: 7 }, incremental: false, uid: "count", subtaskIndex: 0, jobId: "doc" };
 * const b = new SqliteKeyedStateBackend(init, { driver: sqliteDriver });
 * b.setCurrentKey("k");
 * b.valueState<number>("count").update(3);
 * const snap = b.snapshot(1, { savepoint: true });
 * snap.step(Infinity);
 * const r = new SqliteKeyedStateBackend(init, { driver: sqliteDriver });
 * r.restore([snap.result()]);
 * snap.release();
 * r.setCurrentKey("k");
 * console.assert(r.valueState<number>("count").value() === 3);
 * b.dispose();
 * r.dispose();
 * ```
 */
export class SqliteKeyedStateBackend implements KeyedStateBackend {
  readonly name = "sqlite";
  readonly maxParallelism: number;
  readonly range: KeyGroupRange;
  currentKey: unknown = undefined;
  #currentCanonical: unknown = undefined;
  /** A copy of the current key when it is an object (canonical is its text). */
  #currentOriginal: unknown = undefined;
  readonly #store: SqliteStateStore;
  readonly #states: StateCatalog;
  readonly #ttlClock: TtlClock | undefined;
  readonly #uid: string;
  readonly #key: CurrentKey;
  readonly #driver: SqliteDriver;
  readonly #batchedReads: boolean;
  /** The job's storage, which native checkpoints are restored from. */
  readonly #storageForRestore: StorageAdapter | undefined;
  /** This backend's own incremental checkpoints and materializations (with storage and `incremental`). */
  readonly #native: NativeCheckpoints | undefined;
  #restored = 0;

  /** @throws {WeirError} `storage_failed` when the working file cannot be created */
  constructor(init: KeyedStateBackendInit, options: SqliteBackendOptions) {
    this.maxParallelism = init.maxParallelism;
    this.range = init.range;
    this.#uid = init.uid;
    this.#ttlClock = init.clock ? new TtlClock(init.clock) : undefined;
    const driver = options.driver;
    this.#batchedReads = options.batchedReads ?? false;
    const directory = options.directory ?? `${driver.tempDirectory()}/weir-state`;
    driver.ensureDirectory(directory);
    this.#driver = driver;
    // Where native checkpoints go; undefined: checkpoints are canonical.
    const storage = init.incremental && (options.nativeCheckpoints ?? true) ? init.storage : undefined;
    this.#storageForRestore = init.storage;
    const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 60);
    const keyPrefix = `${init.sharedDirectory ?? "shared"}/sqlite/${safe(init.jobId)}/${safe(init.uid)}/${init.subtaskIndex}`;
    sweepAbandonedFiles(driver, directory);
    const path = workingFilePath(driver, directory, init.jobId, init.uid, init.subtaskIndex);
    driver.removeFiles(path);
    this.#store = new SqliteStateStore(driver, {
      path,
      maxParallelism: init.maxParallelism,
      cacheEntriesMax: options.cacheEntriesMax ?? 100_000,
      trackChanges: storage !== undefined,
      backgroundWrites: options.backgroundWrites,
      writerProcess: options.writerProcess,
      writeGroupRows: options.writeGroupRows,
      waitForWriter: options.waitForWriter,
      changelogMemoryBytes: options.changelogMemoryBytes,
      uid: init.uid,
    });
    this.#states = new StateCatalog(this.#store);
    if (storage) {
      this.#native = new NativeCheckpoints({
        store: this.#store,
        driver,
        storage,
        keyPrefix,
        range: this.range,
        scheduler: init.scheduler,
        clock: init.clock,
        states: () => this.#states.native(),
        ttls: () => this.#states.declaredTtls(),
        now: () => this.#ttlClock?.now(),
      });
    }
    this.#key = {
      canonical: () => {
        if (this.currentKey === undefined) throw new WeirError("state_no_key", `Keyed state was used outside of a keyed context in operator "${this.#uid}"`);
        return this.#currentCanonical;
      },
      original: (c) => (c === this.#currentCanonical && this.#currentOriginal !== undefined ? this.#currentOriginal : c),
    };
  }

  /** The working file and its cache, for tests and benchmarks. */
  get store(): SqliteStateStore {
    return this.#store;
  }

  setCurrentKey(key: unknown): void {
    if (key === undefined || key === null) throw invalidKey(key);
    const c = canonicalKey(key);
    // The key object belongs to the record, which may change it later: state keeps a copy.
    if (c !== key && c !== this.#currentCanonical) this.#currentOriginal = copyValue(key);
    else if (c === key) this.#currentOriginal = undefined;
    this.currentKey = key;
    this.#currentCanonical = c;
  }

  /**
   * The state of a declaration with its TTL, checked against what was restored.
   * @throws {WeirError} `invalid_state_ttl`, `state_ttl_mismatch`
   */
  #declare(name: string, kind: StateKind, options: StateOptions | undefined): StateInfo {
    const ttl = checkTtl(name, options);
    const s = this.#states.state(name, kind);
    if (s.view !== undefined && s.viewTtl === ttl) return s;
    if (s.ttl !== (ttl !== undefined) && this.#hasRows(s.sid)) {
      throw new WeirError("state_ttl_mismatch", `Keyed state "${name}" was stored ${s.ttl ? "with" : "without"} a TTL and is now declared ${ttl !== undefined ? `with ttl ${ttl}` : "without one"}`);
    }
    if (ttl !== undefined && !this.#ttlClock) throw new WeirError("invalid_state_ttl", `Keyed state "${name}": this operator has no clock for a TTL`);
    this.#states.setTtl(name, s, ttl !== undefined);
    s.declaredTtl = ttl;
    s.viewTtl = ttl;
    s.view = undefined;
    return s;
  }

  #hasRows(sid: number): boolean {
    this.#store.flush();
    return this.#store.db.prepare("SELECT 1 AS one FROM kv WHERE s = ? LIMIT 1").get(sid) !== undefined;
  }

  valueState<T>(name: string, options?: StateOptions): ValueState<T> {
    const s = this.#declare(name, "value", options);
    if (s.view === undefined) {
      s.view = s.declaredTtl !== undefined
        ? ttlValueState<T>({ table: this.#table(s, true), clock: this.#ttlClock!, ttl: s.declaredTtl, key: this.#key.canonical })
        : sqliteValueState<T>(this.#table(s, false), this.#key);
    }
    return s.view as ValueState<T>;
  }

  listState<T>(name: string, options?: StateOptions): ListState<T> {
    const s = this.#declare(name, "list", options);
    if (s.view === undefined) {
      s.view = s.declaredTtl !== undefined
        ? ttlListState<T>({ table: this.#table(s, true), clock: this.#ttlClock!, ttl: s.declaredTtl, key: this.#key.canonical })
        : sqliteListState<T>(this.#table(s, false), this.#key);
    }
    return s.view as ListState<T>;
  }

  mapState<K, V>(name: string, options?: StateOptions): MapState<K, V> {
    const s = this.#declare(name, "map", options);
    if (s.view === undefined) {
      s.view = s.declaredTtl !== undefined
        ? ttlMapState<K, V>({ table: this.#table(s, true), clock: this.#ttlClock!, ttl: s.declaredTtl, key: this.#key.canonical })
        : sqliteMapState<K, V>(this.#table(s, false), this.#key);
    }
    return s.view as MapState<K, V>;
  }

  /** A StoreTable typed as the Map the heap's TTL views take; they use get/set/delete only. */
  #table(s: StateInfo, mutableReads: boolean): StoreTable & Map<unknown, unknown> {
    return new StoreTable(this.#store, s.sid, this.#key, mutableReads) as StoreTable & Map<unknown, unknown>;
  }

  /**
   * A reducing state; stored as a value state of the same name.
   * @throws {WeirError} `state_kind_mismatch`, `state_ttl_mismatch` (a restored TTL state)
   */
  reducingState<T>(name: string, reduce: (acc: T, value: T) => T): ReducingState<T> {
    return this.#foldingState<T, T>(name, "a reducing state", (value, acc) => acc === undefined ? value : reduce(acc, value));
  }

  /**
   * An aggregating state; stored as a value state of the same name, as a reducing state.
   * @throws {WeirError} `state_kind_mismatch`, `state_ttl_mismatch` (a restored TTL state)
   */
  aggregatingState<IN, ACC>(name: string, aggregator: StateAggregator<IN, ACC>): AggregatingState<IN, ACC> {
    return this.#foldingState<IN, ACC>(name, "an aggregating state", (value, acc) => aggregator.add(value, acc === undefined ? aggregator.createAccumulator() : acc));
  }

  /** A value state each input is folded into with one read and one write (reducing and aggregating states). */
  #foldingState<IN, ACC>(name: string, what: string, fold: (value: IN, acc: ACC | undefined) => ACC): AggregatingState<IN, ACC> {
    const s = this.#states.state(name, "value", true);
    if (s.ttl) throw new WeirError("state_ttl_mismatch", `Keyed state "${name}" was stored with a TTL and is now declared as ${what} without one`);
    s.reducing = true;
    const store = this.#store;
    const addFor = (c: unknown, original: unknown, value: IN): ACC => {
      const next = fold(value, store.read(s.sid, c, original) as ACC | undefined);
      store.write(s.sid, c, original, next);
      return next;
    };
    // Only when asked for (SqliteBackendOptions.batchedReads): more records/s on Deno, and longer pauses.
    const prefetch = this.#batchedReads
      ? (keys: readonly unknown[]) => {
        // Primitive keys are their own canonical form; an object key's is taken as addFor() takes it.
        let canonicals: unknown[] | undefined;
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i];
          if (key === undefined || key === null) throw invalidKey(key);
          if (typeof key !== "object") continue;
          canonicals ??= keys.slice();
          canonicals[i] = canonicalKey(key);
        }
        store.prefetch(s.sid, canonicals ?? keys, keys, keys.length);
      }
      : undefined;
    return {
      get: () => store.read(s.sid, this.#key.canonical(), this.#currentOriginal) as ACC | undefined,
      add: (value) => void addFor(this.#key.canonical(), this.#key.original(this.#currentCanonical), value),
      addFor: (key, value) => {
        if (key === undefined || key === null) throw invalidKey(key);
        if (typeof key !== "object") return addFor(key, key, value);
        const c = canonicalKey(key);
        return addFor(c, copyValue(key), value);
      },
      clear: () => store.write(s.sid, this.#key.canonical(), undefined, undefined),
      ...(prefetch ? { prefetch } : {}),
    };
  }

  /**
   * The snapshot point: dirty cached values are written to the file and a second
   * connection pins the file as it is; step() reads it a page at a time into canonical
   * tables (sqlite_canonical.ts); a checkpoint with `incremental` copies files instead
   * (sqlite_native.ts).
   */
  snapshot(checkpointId: number, options?: SnapshotOptions): KeyedStateSnapshot {
    if (this.#native && !options?.savepoint) return this.#native.snapshot(checkpointId);
    return canonicalSnapshot(this.#store.openSnapshot(), this.#states.canonical(), { checkpointId, now: this.#ttlClock?.now() ?? 0, uid: this.#uid });
  }

  /** Whether a materialization runs now (for tests). */
  get materializing(): boolean {
    return this.#native?.materializing ?? false;
  }

  /** Materializations whose base was taken into the chain (for tests and benchmarks). */
  get materializations(): number {
    return this.#native?.materializations ?? 0;
  }

  /**
   * Loads the key groups of this backend's range from canonical tables (any backend's) and
   * from this backend's own checkpoints (database files, downloaded and applied in order).
   * @throws {WeirError} `checkpoint_corrupt`, `state_kind_mismatch`;
   *   `state_backend_mismatch` for another backend's own format or a newer version of this one's
   */
  restore(states: KeyedStateHandle[]): void | Promise<void> {
    const native = nativeHandles(states, this.range);
    this.#native?.restored();
    const canonical = () => this.#restoreCanonical(states);
    if (native.length === 0) return canonical();
    return this.#restoreNative(native).then(canonical);
  }

  /**
   * Downloads and applies each file of the chains in order; a base into an empty store
   * becomes its working file, merged with its changelogs in one pass when they are many
   * (sqlite_native_restore.ts's restoreChains()).
   */
  async #restoreNative(handles: IncrementalKeyedState[]): Promise<void> {
    const storageOf = (h: IncrementalKeyedState) => {
      const storage = h.storage ?? this.#storageForRestore;
      if (!storage) throw new WeirError("storage_unavailable", `The "sqlite" backend of operator "${this.#uid}" was given no storage to read its checkpoint files from`);
      return storage;
    };
    await restoreChains(storageOf, handles, {
      store: this.#store,
      range: this.range,
      pathOf: () => `${this.#store.path}.restore-${++this.#restored}.db`,
      empty: () => this.#states.size === 0 && this.#store.isEmpty(),
      adopt: (path, states) => this.#adopt(path, states),
      apply: (path, states, changelog, version) => this.#apply(path, states, changelog, version),
      merged: (states) => this.#states.declareRestored(states),
    });
  }

  /** Takes a downloaded base as the working file: no row is copied. */
  #adopt(path: string, states: NativeState[]): void {
    adoptBase(this.#store, path, this.range);
    this.#states.declareRestored(states);
  }

  /** Copies the rows of this range from a downloaded file, state ids mapped to this backend's. */
  #apply(path: string, states: NativeState[], changelog: boolean, version: number): void {
    applyFile(this.#store, path, this.range, changelog, states.map(([name, theirs, kind, ttl]) => [theirs, this.#states.restored(name, kind, ttl).sid]), version);
  }

  /**
   * Loads the key groups of this backend's range from canonical tables (any backend's):
   * into an empty store as a file written whole (sqlite_restore_file.ts), else row by row.
   */
  #restoreCanonical(states: KeyedStateHandle[]): void {
    const tables: RestoredTable[] = [];
    for (const state of states) {
      if (state.format !== "canonical") continue;
      for (const [name, raw] of Object.entries(state.tables)) {
        // A table with its groups still encoded has a valid kind; reading them would decode them.
        const table = encodedSource(raw) !== undefined ? raw : readTable(name, raw);
        tables.push({ name, table, sid: this.#states.restored(name, table.kind, table.ttl === true).sid });
      }
    }
    if (tables.length > 0) loadCanonicalTables(this.#store, tables, this.range);
  }

  /** Closes and removes the working file. */
  dispose(): void {
    this.#native?.close();
    this.#store.dispose();
  }
}
