/**
 * Keyed state on the heap (Flink's `HeapKeyedStateBackend`): one Map per declared state,
 * from canonical key to value. Snapshots group entries by key group so that a restore with
 * another parallelism can pick exactly the key groups it owns.
 * @module
 */
import { copyValue } from "../codec/values.ts";
import { WeirError } from "../errors.ts";
import type { AggregatingState, IncrementalKeyedState, KeyedStateBackend, KeyedStateBackendInit, KeyedStateHandle, KeyedStateSnapshot, ReducingState, SnapshotOptions, StateAggregator } from "./backend.ts";
import { type KeyGroupRange, canonicalKey, invalidKey, keyGroupOf } from "./key_group.ts";
import type { ListState, MapState, StateKind, ValueState } from "./keyed_state.ts";
import { ttlListState, ttlMapState, ttlValueState } from "./heap_ttl_states.ts";
import { heapAggregatingState, heapListState, heapMapState, heapReducingState, heapValueState } from "./heap_views.ts";
import { pairEncoder } from "./number_pairs.ts";
import { HeapSnapshot, type HeapSnapshotOwner, type TableAtSnapshot } from "./heap_snapshot.ts";
import { HeapChangelog, readHeapChain } from "./heap_changelog.ts";
import { stateNotPersistable } from "./state_not_persistable.ts";
import { incrementalSnapshot, mostKeysWritten, takeChanges } from "./heap_incremental.ts";
import { type HeapChainFile, type RestoreTarget, restoreChain, restoreTables } from "./heap_restore.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { StateTable, type Versions } from "./heap_table.ts";
import { SlotList } from "./slot_list.ts";
import { ColumnPool } from "./column_builder.ts";
import { type StateOptions, TtlClock, type TtlEntry, checkTtl, snapshotTtlValue } from "./ttl.ts";
import { copyStateValue, copyStoredValue } from "./heap_value_copy.ts";
import { HeapMaterialization } from "./heap_materialization.ts";


/**
 * Holds every keyed state table of one operator in one subtask, on the heap.
 *
 * @example
 * ```ts
 * import { HeapKeyedStateBackend } from "./heap_backend.ts";
 * const b = new HeapKeyedStateBackend({ maxParallelism: 8, range: { start: 0, end: 7 } });
 * b.setCurrentKey("k");
 * b.valueState<number>("count").update(3);
 * const snap = b.snapshot(1);
 * snap.step(Infinity);
 * const r = new HeapKeyedStateBackend({ maxParallelism: 8, range: { start: 0, end: 7 } });
 * r.restore([snap.result()]);
 * snap.release();
 * r.setCurrentKey("k");
 * console.assert(r.valueState<number>("count").value() === 3);
 * ```
 */
export class HeapKeyedStateBackend implements KeyedStateBackend {
  readonly name = "heap";
  readonly maxParallelism: number;
  readonly range: KeyGroupRange;
  /** The key of the record being processed; set by the operator before user code runs. */
  currentKey: unknown = undefined;
  #currentCanonical: unknown = undefined;
  #tables = new Map<string, StateTable>();
  #kinds = new Map<string, StateKind>();
  readonly #snapshotOwner: HeapSnapshotOwner;
  readonly #versions: Versions = { current: 1, collecting: 0 };
  /**
   * The checkpoint's or savepoint's snapshot still visiting the tables (one at a time), and
   * the materialization's, which a changelog or a savepoint visits beside: the tables hand
   * old cells to both, each taking those of its version.
   */
  #collecting: HeapSnapshot | undefined;
  #materializing: HeapSnapshot | undefined;
  /**
   * A snapshot point (a materialization's or a savepoint's) came since the last checkpoint's,
   * which took the dirty lists: they may note a slot twice, once per version written.
   */
  #pointSinceCheckpoint = false;
  /** Original (non-canonical) keys, for object keys only. */
  #originalKeys = new Map<unknown, unknown>();
  /** Per table, a list of dirty slots a changelog visited, cleared, for the next snapshot point. */
  readonly #spareDirty = new Map<StateTable, SlotList>();

  /** Tables whose values are TtlEntry (declared or restored with TTL). */
  #ttlTables = new Set<string>();
  #ttlClock: TtlClock | undefined;
  /** The TTL each table was declared with in this run (restored-only tables have none yet). */
  #declaredTtl = new Map<string, number>();

  /** The operator uid, for error messages. */
  readonly #uid: string | undefined;

  /** The chain of shared files when checkpoints are incremental (and the job has storage). */
  readonly #changelog: HeapChangelog | undefined;
  readonly #storage: StorageAdapter | undefined;
  /** Writes bases between checkpoints (with a scheduler to run them on; else checkpoints write them). */
  readonly #materialization: HeapMaterialization | undefined;

  /**
   * `init.clock` is the processing-time clock state TTL uses; without it TTL cannot be
   * declared. With `incremental` and `storage`, checkpoints (not savepoints) write changelogs.
   */
  constructor(init: Pick<KeyedStateBackendInit, "maxParallelism" | "range" | "clock"> & Partial<KeyedStateBackendInit>) {
    this.#uid = init.uid;
    this.#storage = init.storage;
    if (init.incremental && init.storage) {
      const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");
      this.#changelog = new HeapChangelog({
        storage: init.storage,
        prefix: `${init.sharedDirectory ?? "shared"}/heap/${safe(init.jobId ?? "job")}/${safe(init.uid ?? "op")}/${init.subtaskIndex ?? 0}`,
        range: init.range,
        materializes: init.scheduler !== undefined,
      });
    }
    this.maxParallelism = init.maxParallelism;
    this.#snapshotOwner = {
      maxParallelism: init.maxParallelism,
      versions: this.#versions,
      original: (k) => this.#originalKeys.get(k) ?? k,
      copy: (name, v) => copyStateValue(v, name, this.#uid),
      notPersistable: (name, v, cause) => stateNotPersistable(name, this.#uid, v, cause),
      detach: (snap) => {
        if (this.#collecting === snap) this.#collecting = undefined;
        else if (this.#materializing === snap) this.#materializing = undefined;
        else return;
        this.#versions.collecting = Math.max(this.#collecting?.version ?? 0, this.#materializing?.version ?? 0);
      },
      columnPool: new ColumnPool(),
      hold: init.scheduler?.hold && ((work) => init.scheduler!.hold!(work)),
      visitedDirty: (table, list) => {
        list.clear();
        if (this.#tables.get(table.name) === table) this.#spareDirty.set(table, list);
      },
    };
    const log = this.#changelog;
    if (log && init.scheduler) {
      this.#materialization = new HeapMaterialization({
        log,
        scheduler: init.scheduler,
        clock: init.clock,
        owner: this.#snapshotOwner,
        snapshotPoint: () => this.#snapshotPoint(),
        startVisit: (snap) => void (this.#materializing = snap),
      });
    }
    this.range = init.range;
    this.#ttlClock = init.clock ? new TtlClock(init.clock) : undefined;
    // A subtask's backend: the encoder's thread starts now, not on the first large checkpoint's step.
    if (init.scheduler) pairEncoder()?.encoder.prepare?.();
  }

  /**
   * The TTL table of a declaration, checked against what was restored.
   * @throws {WeirError} `invalid_state_ttl`, `state_ttl_mismatch` when a state is declared with
   *   TTL and was stored without it or the other way round
   */
  #ttlTable(name: string, kind: StateKind, options: StateOptions | undefined): { table: StateTable; ttl: number | undefined } {
    const ttl = checkTtl(name, options);
    const existed = this.#tables.has(name);
    const table = this.#table(name, kind);
    const stored = this.#ttlTables.has(name);
    if (existed && table.size > 0 && stored !== (ttl !== undefined)) {
      throw new WeirError("state_ttl_mismatch", `Keyed state "${name}" was stored ${stored ? "with" : "without"} a TTL and is now declared ${ttl !== undefined ? `with ttl ${ttl}` : "without one"}`);
    }
    if (ttl !== undefined) {
      if (!this.#ttlClock) throw new WeirError("invalid_state_ttl", `Keyed state "${name}": this operator has no clock for a TTL`);
      this.#ttlTables.add(name);
      this.#declaredTtl.set(name, ttl);
    } else {
      this.#ttlTables.delete(name);
      this.#declaredTtl.delete(name);
    }
    return { table, ttl };
  }

  setCurrentKey(key: unknown): void {
    if (key === undefined || key === null) throw invalidKey(key);
    this.currentKey = key;
    this.#currentCanonical = this.#canonical(key);
  }

  /** The canonical form of a key, remembering a copy of an object key for snapshots. */
  #canonical(key: unknown): unknown {
    const c = canonicalKey(key);
    // The key object belongs to the record (or to user code), which may change it later:
    // state keeps a copy, so that a snapshot files it under the key group it hashed to.
    if (c !== key && !this.#originalKeys.has(c)) this.#originalKeys.set(c, copyValue(key));
    return c;
  }

  /**
   * The table for a state name, created on first use.
   * @throws {WeirError} `state_kind_mismatch` when the name was declared (or restored) as
   *   another kind of state
   */
  #table(name: string, kind: StateKind): StateTable {
    const known = this.#kinds.get(name);
    if (known !== undefined && known !== kind) {
      throw new WeirError("state_kind_mismatch", `Keyed state "${name}" is a ${known} state; it cannot be used as a ${kind} state`);
    }
    let t = this.#tables.get(name);
    if (!t) {
      const save = (table: StateTable, slot: number) => {
        this.#collecting?.save(table, slot);
        this.#materializing?.save(table, slot);
      };
      const groupOf = (k: unknown) => keyGroupOf(this.#originalKeys.get(k) ?? k, this.maxParallelism);
      this.#tables.set(name, (t = new StateTable(name, this.#versions, save, (v) => copyStoredValue(v, name, this.#uid), groupOf)));
      if (this.#changelog) {
        t.deleted = new Set();
        t.dirty = new SlotList();
      }
      this.#kinds.set(name, kind);
    }
    return t;
  }

  /** The current key (canonical) for an access to a table. */
  #key(name: string): unknown {
    if (this.currentKey === undefined) {
      throw new WeirError("state_no_key", `Keyed state "${name}" was used outside of a keyed context`);
    }
    return this.#currentCanonical;
  }

  valueState<T>(name: string, options?: StateOptions): ValueState<T> {
    const { table: t, ttl } = this.#ttlTable(name, "value", options);
    const key = () => this.#key(name);
    return ttl !== undefined ? ttlValueState<T>({ table: t, clock: this.#ttlClock!, ttl, key }) : heapValueState<T>(t, key);
  }

  listState<T>(name: string, options?: StateOptions): ListState<T> {
    const { table: t, ttl } = this.#ttlTable(name, "list", options);
    const key = () => this.#key(name);
    return ttl !== undefined ? ttlListState<T>({ table: t, clock: this.#ttlClock!, ttl, key }) : heapListState<T>(t, key);
  }

  mapState<K, V>(name: string, options?: StateOptions): MapState<K, V> {
    const { table: t, ttl } = this.#ttlTable(name, "map", options);
    const key = () => this.#key(name);
    return ttl !== undefined ? ttlMapState<K, V>({ table: t, clock: this.#ttlClock!, ttl, key }) : heapMapState<K, V>(t, key);
  }

  /**
   * A reducing state; in snapshots a value state of the same name, so a rolling reduce's
   * state restores into any backend and from savepoints of older weir versions.
   * @throws {WeirError} `state_kind_mismatch`, `state_ttl_mismatch` (a restored TTL state)
   */
  reducingState<T>(name: string, reduce: (acc: T, value: T) => T): ReducingState<T> {
    return heapReducingState(this.#foldTable(name, "a reducing"), () => this.#key(name), (k) => this.#canonical(k), reduce);
  }

  /**
   * An aggregating state; in snapshots a value state of the same name, as a reducing state.
   * @throws {WeirError} `state_kind_mismatch`, `state_ttl_mismatch` (a restored TTL state)
   */
  aggregatingState<IN, ACC>(name: string, aggregator: StateAggregator<IN, ACC>): AggregatingState<IN, ACC> {
    return heapAggregatingState(this.#foldTable(name, "an aggregating"), () => this.#key(name), (k) => this.#canonical(k), aggregator);
  }

  /** The value table a reducing or aggregating state folds into; never one stored with a TTL. */
  #foldTable(name: string, what: string): StateTable {
    const t = this.#table(name, "value");
    if (this.#ttlTables.has(name)) {
      throw new WeirError("state_ttl_mismatch", `Keyed state "${name}" was stored with a TTL and is now declared as ${what} state without one`);
    }
    return t;
  }

  /**
   * The snapshot point: notes the tables, nothing more; entries are collected by the
   * snapshot's steps, copy-on-write (heap_snapshot.ts).
   */
  snapshot(checkpointId: number, options?: SnapshotOptions): KeyedStateSnapshot {
    // One checkpoint visits at a time: an older one still visiting finishes now (rare: two
    // checkpoints of one subtask in flight).
    const finishing = this.#collecting?.step(Infinity);
    // Its wait for an encoder (if any) is the capture's to see: its next step returns the same promise.
    if (finishing instanceof Promise) finishing.catch(() => {});
    const log = options?.savepoint ? undefined : this.#changelog;
    const pointBetween = this.#pointSinceCheckpoint;
    const plan = log?.begin(checkpointId, () => mostKeysWritten(this.#tables.values(), pointBetween));
    // A base checkpoint makes the materialization's base redundant; a changelog or a
    // savepoint visits beside it, so that a visit longer than the checkpoint interval (a
    // million keys on a slow machine) still ends in a base.
    if (plan?.base) this.#materialization?.stop();
    const { tables, version } = this.#snapshotPoint();
    if (log) this.#pointSinceCheckpoint = false;
    const prior = this.#materializing;
    if (!log || !plan) {
      this.#changelog?.began(checkpointId);
      const snap = new HeapSnapshot(checkpointId, version, this.#snapshotOwner, tables, undefined, prior);
      this.#collecting = snap;
      return snap;
    }
    const changes = takeChanges(this.#tables.values(), this.#spareDirty, plan);
    const snap = new HeapSnapshot(checkpointId, version, this.#snapshotOwner, tables, changes, prior);
    this.#collecting = snap;
    // Once its file is written, a base may be due: materialized while no snapshot visits.
    return incrementalSnapshot(snap, log, plan, () => {
      if (!this.#collecting) this.#materialization?.maybeStart();
    });
  }

  /** The snapshot point: the tables as declared now, and the version that ends. */
  #snapshotPoint(): { tables: TableAtSnapshot[]; version: number } {
    // Cleanup in full snapshot: expired entries are not written; the live ones carry their
    // write time so that a restore expires them at the same instant.
    const now = this.#ttlClock?.now() ?? 0;
    const tables: TableAtSnapshot[] = [];
    for (const [name, table] of this.#tables) {
      const kind = this.#kinds.get(name)!;
      const at: TableAtSnapshot = { kind, table };
      if (this.#ttlTables.has(name)) {
        const ttlMs = this.#declaredTtl.get(name);
        const live = (e: TtlEntry) => ttlMs === undefined || now < e.writtenAt + ttlMs;
        at.ttlValue = (stored) => snapshotTtlValue(kind, stored, live);
      }
      tables.push(at);
    }
    const version = this.#versions.current;
    this.#pointSinceCheckpoint = true;
    this.#versions.current = version + 1;
    this.#versions.collecting = version;
    return { tables, version };
  }

  /**
   * Loads the key groups of this backend's range from one or more snapshots.
   * @throws {WeirError} `checkpoint_corrupt` when a table is neither format;
   *   `state_kind_mismatch` when snapshots disagree on a state's kind;
   *   `state_backend_mismatch` for another backend's own format
   */
  restore(states: KeyedStateHandle[]): void | Promise<void> {
    const own: IncrementalKeyedState[] = [];
    for (const state of states) {
      if (state.format === "canonical") continue;
      if (state.backend !== this.name) {
        throw new WeirError("state_backend_mismatch", `Keyed state written by the "${state.backend}" backend in its own format cannot be restored by the "heap" backend; restore from a savepoint instead`);
      }
      if (state.range.end >= this.range.start && state.range.start <= this.range.end) own.push(state);
    }
    const target = this.#restoreTarget();
    for (const state of states) if (state.format === "canonical") restoreTables(target, state.tables);
    this.#materialization?.stop();
    this.#changelog?.restored();
    if (own.length === 0) return;
    return (async () => {
      for (const h of own) {
        const storage = h.storage ?? this.#storage;
        if (!storage) throw new WeirError("storage_unavailable", `The "heap" backend of operator "${this.#uid}" was given no storage to read its checkpoint files from`);
        const files: HeapChainFile[] = [];
        await readHeapChain(storage, h, (file, version) => void files.push({ file, version }));
        restoreChain(target, files);
      }
    })();
  }

  /** What restoring needs of this backend (heap_restore.ts). */
  #restoreTarget(): RestoreTarget {
    return {
      range: this.range,
      table: (name, kind) => this.#table(name, kind),
      tableOf: (name) => this.#tables.get(name),
      markTtl: (name) => void this.#ttlTables.add(name),
      original: (c, key) => void this.#originalKeys.set(c, key),
    };
  }

  dispose(): void {
    this.#materialization?.close();
    this.#changelog?.close();
    this.#collecting?.release();
    this.#materializing?.release();
    this.#tables.clear();
    this.#spareDirty.clear();
    this.#kinds.clear();
    this.#originalKeys.clear();
  }
}
