/**
 * The keyed state backend contract (Flink's `CheckpointableKeyedStateBackend`): what a
 * keyed operator sees of its state, whatever keeps it — the heap (`heap_backend.ts`) or an
 * on-disk database (`sqlite`). Operators get their backend from
 * `OperatorContext.keyedStateBackend()`, never build one, and never see a concrete table.
 *
 * ## The contract a backend implements
 * - **One backend per keyed operator per subtask**, owning the key groups `range` of
 *   `maxParallelism`. `setCurrentKey(k)` scopes every state accessor to `k` until the next
 *   call; a `null`/`undefined` key is `invalid_key`. Keys are compared by value
 *   (`canonicalKey`); a key object the caller changes later stays filed as it was.
 * - **States are declared by name** on first use: `valueState`, `listState`, `mapState`
 *   (each with `StateOptions`, TTL included: see `ttl.ts`), `reducingState(name, fn)` and
 *   `aggregatingState(name, aggregator)`. A name keeps its kind: declaring it as another
 *   kind is `state_kind_mismatch`. Reducing and aggregating states are value states in
 *   snapshots (kind `"value"`), so a rolling reduce's savepoint restores into any backend.
 * - **Values are values.** What `update`/`add`/`put` stored is the state's own; a backend
 *   may keep the reference (heap) or encode it (sqlite). A value read back may be the
 *   stored object itself: user code that changes it in place must write it back to be
 *   sure it is kept (as in Flink), but the heap backend also keeps in-place changes.
 * - **snapshot(checkpointId)** is the synchronous part of a checkpoint (the snapshot point):
 *   it must be cheap, and from that call on the state may change while the returned
 *   {@link KeyedStateSnapshot} is stepped to completion: no change made after the call may
 *   show in its result (copy-on-write, a database snapshot…). Several snapshots may be in
 *   flight; each is released exactly once (`release()`), after its result was taken or
 *   when the checkpoint is aborted.
 * - **The canonical form** is {@link KeyedTableSnapshot} per state name: `{kind, groups}`,
 *   entries grouped by key group, map states as lists of `[mapKey, value]`, TTL states as
 *   `[writtenAt, value]` with `ttl: true`. Savepoints are always canonical
 *   (`snapshot(id, { savepoint: true })`), so a savepoint restores into any backend at any
 *   parallelism. An incremental checkpoint may instead return handles to files of its own
 *   (`IncrementalKeyedState`); restoring those into another backend, or from a newer format
 *   version, is refused naming both (`state_backend_mismatch`).
 * - **restore(states)** loads, before any record, the key groups of `range` from every
 *   restored subtask state overlapping it (a rescale hands several); entries of other key
 *   groups are skipped. Restored TTL entries keep their write time.
 * - **dispose()** frees what the backend holds (files, connections); it is called when the
 *   operator closes, and no call follows.
 *
 * `tests/state/backend_conformance.ts` runs a backend factory through this contract.
 *
 * @module
 */
import type { Clock, Scheduler } from "../actors/time.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import type { KeyGroupRange } from "./key_group.ts";
import type { KeyedTableSnapshot, ListState, MapState, StateKind, StateOptions, ValueState } from "./keyed_state.ts";

/**
 * A per-key accumulator folded by a reduce function (Flink's `ReducingState`).
 * `addFor(key, value)` is the fast path of a rolling reduce: one lookup per record, no
 * `setCurrentKey` needed for a primitive key.
 */
export interface ReducingState<T> {
  /** The current key's accumulator, or undefined. */
  get(): T | undefined;
  /** Folds value into the current key's accumulator (the first value becomes it). */
  add(value: T): void;
  /** Folds value into `key`'s accumulator and returns the new accumulator (still owned by state). */
  addFor(key: unknown, value: T): T;
  clear(): void;
  /**
   * A hint that the accumulators of `keys` are about to be folded, in that order (a rolling
   * reduce's batch): a backend on disk reads the missing ones in batches rather than one
   * read each (the sqlite backend; Flink 2.0's ForSt backend batches state reads likewise,
   * FLIP-426). Changes nothing a later call sees. Optional: the heap backend has none.
   * @throws {WeirError} `invalid_key` for an undefined or null key, as addFor()
   */
  prefetch?(keys: readonly unknown[]): void;
}

/**
 * How an aggregating state folds its inputs (the part of Flink's `AggregateFunction` a
 * state runs): `createAccumulator` for a key without one, then `add`, which may change
 * `acc` in place and returns the accumulator to keep.
 */
export interface StateAggregator<IN, ACC> {
  createAccumulator(): ACC;
  add(value: IN, acc: ACC): ACC;
}

/**
 * A per-key accumulator folded from inputs of another type (Flink's `AggregatingState`,
 * except that get() is the accumulator itself, not a result taken from it). `addFor(key,
 * value)` is the fast path: one lookup per input, no `setCurrentKey` needed for a
 * primitive key.
 */
export interface AggregatingState<IN, ACC> {
  /** The current key's accumulator, or undefined. */
  get(): ACC | undefined;
  /** Folds value into the current key's accumulator (created first when it has none). */
  add(value: IN): void;
  /** Folds value into `key`'s accumulator and returns the new accumulator (still owned by state). */
  addFor(key: unknown, value: IN): ACC;
  clear(): void;
  /**
   * A hint that the accumulators of `keys` are about to be folded, in that order (a rolling
   * reduce's batch): a backend on disk reads the missing ones in batches rather than one
   * read each (the sqlite backend; Flink 2.0's ForSt backend batches state reads likewise,
   * FLIP-426). Changes nothing a later call sees. Optional: the heap backend has none.
   * @throws {WeirError} `invalid_key` for an undefined or null key, as addFor()
   */
  prefetch?(keys: readonly unknown[]): void;
}

/** Options of {@link KeyedStateBackend.snapshot}. */
export interface SnapshotOptions {
  /** A savepoint: always full and canonical, whatever `incremental` says. */
  savepoint?: boolean;
}

/** Keyed state in the canonical, backend-independent form (full; a savepoint is always this). */
export interface CanonicalKeyedState {
  format: "canonical";
  tables: Record<string, KeyedTableSnapshot>;
}

/**
 * A file in the job's shared state directory that an incremental checkpoint refers to
 * (a materialized base or a changelog segment), reference-counted across retained
 * checkpoints (Flink's `SharedStateRegistry`).
 */
export interface SharedStateRef {
  /** Storage key of the file. */
  key: string;
  /** Bytes and checksum (checksum.ts) as written. */
  size: number;
  checksum: string;
  /**
   * Written by a materialization between checkpoints, not by the checkpoint that first
   * refers to it, whose checkpointed_size leaves it out (as Flink's changelog backend counts
   * only a checkpoint's delta). Never stored: a restored ref has it not.
   */
  materialized?: true;
}

/**
 * Keyed state of an incremental checkpoint in a backend's own format: handles to shared
 * files (replayed in order) plus what this checkpoint wrote inline. Restorable only by
 * the backend that wrote it, up to its format version.
 */
export interface IncrementalKeyedState {
  format: "incremental";
  /** The backend that wrote it ("heap", "sqlite"). */
  backend: string;
  /** That backend's format version. */
  version: number;
  range: KeyGroupRange;
  shared: SharedStateRef[];
  /** Bytes written with this checkpoint's state file rather than as a shared file. */
  inline?: Uint8Array;
  /**
   * Where the shared files are, when a restore read the checkpoint from a storage of its
   * own (checkpoint/restore.ts sets it; never encoded); else the backend's storage.
   */
  storage?: StorageAdapter;
}

/** What a keyed snapshot results in. */
export type KeyedStateHandle = CanonicalKeyedState | IncrementalKeyedState;

/** One key group of an {@link EncodedTable}: its entries as CBOR `[key, value]` items back to back. */
export interface EncodedGroup {
  keyGroup: number;
  /** How many entries the chunks hold. */
  entries: number;
  /** The entries' bytes, in order, cut anywhere between entries. */
  chunks: Uint8Array[];
}

/**
 * A canonical table (KeyedTableSnapshot) whose entries are encoded already: what decoding
 * `[{array: entries}, ...chunks]` per group gives is the table's group entries.
 */
export interface EncodedTable {
  kind: StateKind;
  ttl?: true;
  groups: EncodedGroup[];
}

/** A key group of an {@link EncodedStream}: how many entries and bytes its chunks will hold. */
export interface EncodedGroupSize {
  keyGroup: number;
  entries: number;
  bytes: number;
}

/**
 * Canonical tables whose encoded entries are read again while they are written (sqlite):
 * the layout (sizes) is known once step() finished, the bytes come from `chunks()`, so a
 * state larger than memory is never held whole, in the heap or outside it.
 */
export interface EncodedStream {
  tables: Record<string, { kind: StateKind; ttl?: true; groups: EncodedGroupSize[] }>;
  /**
   * The entries of table `name` as CBOR `[key, value]` items, key group by key group in the
   * layout's order, in chunks of at most about 1 MB (views of buffers never written again)
   * that never span two groups.
   * @throws {WeirError} `invariant_broken` when the bytes differ from the layout
   */
  chunks(name: string): Iterable<{ keyGroup: number; bytes: Uint8Array }>;
}

/**
 * The asynchronous part of one keyed snapshot. The owner calls `step` between records
 * until it returns true, then takes `result()` and calls `release()`.
 */
export interface KeyedStateSnapshot {
  readonly checkpointId: number;
  /**
   * Does about `budget` entries of work (copying, encoding, writing); true once the result
   * is ready. `Infinity` finishes in one call. A promise when the work waits for I/O.
   */
  step(budget: number): boolean | Promise<boolean>;
  /**
   * True when a promise step() returns only waits for storage (an upload of what the
   * snapshot already holds): the subtask goes on with records, and may take the next
   * snapshot, while it waits. Absent: the subtask waits for the promise. Read after each
   * step: it may hold in one phase and not in another.
   */
  readonly awaitsStorageOnly?: boolean;
  /**
   * The state at the snapshot point.
   * @throws {WeirError} `invariant_broken` when step() has not finished
   */
  result(): KeyedStateHandle;
  /**
   * The canonical result with its entries already encoded, when the backend holds them
   * encoded (sqlite): the checkpoint writer copies those bytes as they are, and state
   * larger than the heap never sits decoded in it. Absent or undefined: use result().
   * @throws {WeirError} `invariant_broken` when step() has not finished
   */
  encodedTables?(): Record<string, EncodedTable> | undefined;
  /**
   * Asks the snapshot to encode its entries (canonical `[key, value]` pairs, CBOR) as it
   * collects them and to hand them over by encodedTables(), not as tables: no copy of a
   * value and no table of entries on the heap in between. True when it will; only before
   * the first step (false after). `what` names the state in errors.
   */
  encodeAsCollected?(what: string): boolean;
  /**
   * Preferred over encodedTables() when present: the layout now, the bytes read while the
   * file is written; valid until release().
   * @throws {WeirError} `invariant_broken` when step() has not finished
   */
  encodedStream?(): EncodedStream;
  /** Drops the marks or copies held for this snapshot; idempotent. */
  release(): void;
}

/** The keyed state of one operator in one subtask; see the module doc for the contract. */
export interface KeyedStateBackend {
  /** The backend's name ("heap", "sqlite"), recorded in what it writes in its own format. */
  readonly name: string;
  readonly maxParallelism: number;
  readonly range: KeyGroupRange;
  /** The key set by setCurrentKey(), as given. */
  readonly currentKey: unknown;
  /** @throws {WeirError} `invalid_key` for null, undefined or an unencodable key */
  setCurrentKey(key: unknown): void;
  /** @throws {WeirError} `state_kind_mismatch`, `invalid_state_ttl`, `state_ttl_mismatch` */
  valueState<T>(name: string, options?: StateOptions): ValueState<T>;
  listState<T>(name: string, options?: StateOptions): ListState<T>;
  mapState<K, V>(name: string, options?: StateOptions): MapState<K, V>;
  reducingState<T>(name: string, reduce: (acc: T, value: T) => T): ReducingState<T>;
  /** @throws {WeirError} `state_kind_mismatch`, `state_ttl_mismatch` (a restored TTL state) */
  aggregatingState<IN, ACC>(name: string, aggregator: StateAggregator<IN, ACC>): AggregatingState<IN, ACC>;
  /** The snapshot point; see KeyedStateSnapshot. */
  snapshot(checkpointId: number, options?: SnapshotOptions): KeyedStateSnapshot;
  /**
   * Loads this backend's key groups from restored subtask states: canonical tables (from
   * any backend), or handles in this backend's own format.
   * @throws {WeirError} `checkpoint_corrupt`, `state_kind_mismatch`, `state_backend_mismatch`
   */
  restore(states: KeyedStateHandle[]): void | Promise<void>;
  /**
   * Checkpoint `checkpointId` completed (Flink's `notifyCheckpointComplete`). Shared files
   * are not the backend's to delete: the checkpoint coordinator counts their references
   * across retained checkpoints and deletes them (checkpoint/shared_state.ts).
   */
  notifyCheckpointComplete?(checkpointId: number): void;
  dispose(): void;
}

/** What a backend is created with. */
export interface KeyedStateBackendInit {
  maxParallelism: number;
  range: KeyGroupRange;
  /** Processing-time clock for TTL; without it a TTL declaration is `invalid_state_ttl`. */
  clock?: Clock;
  /** The subtask's scheduler: a backend tells it of work on threads of its own (Scheduler.hold). */
  scheduler?: Scheduler;
  /** Write changelogs rather than full snapshots to checkpoints. */
  incremental: boolean;
  /** The job's storage, for backends that write shared files or keep a database. */
  storage?: StorageAdapter;
  /**
   * Storage key prefix of the job's shared state (Flink's `<checkpoint-dir>/<job-id>/shared`),
   * no trailing slash; default `shared`. Every file a backend writes under it must be named
   * `<prefix>/<backend>/…/<checkpoint id>-…`: the coordinator deletes files by that id once
   * no checkpoint that may still be restored refers to them (checkpoint/shared_state.ts).
   */
  sharedDirectory?: string;
  /** Operator uid, subtask index and job run: what names this backend's files. */
  uid: string;
  subtaskIndex: number;
  jobId: string;
}

/** Creates a backend for one operator in one subtask. */
export interface KeyedStateBackendFactory {
  (init: KeyedStateBackendInit): KeyedStateBackend;
  /**
   * Checkpoints are incremental unless `state.incremental` is false: a backend whose files
   * are incremental by nature (sqlite, as Flink's RocksDB backend). Default false.
   */
  readonly incrementalByDefault?: boolean;
}
