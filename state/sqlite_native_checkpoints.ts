/**
 * The native checkpoints of one SQLite backend (sqlite_native.ts): which comes next, a base
 * or a changelog, and the chain a changelog extends (sqlite_native_chain.ts), and the bases
 * materialized between them on turns of the subtask's scheduler
 * (sqlite_materialization.ts).
 * @module
 */
import type { Clock, Scheduler } from "../actors/time.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import type { KeyedStateSnapshot } from "./backend.ts";
import type { KeyGroupRange } from "./key_group.ts";
import type { SqliteDriver } from "./sqlite_driver.ts";
import { SqliteMaterialization } from "./sqlite_materialization.ts";
import { type NativeSnapshotInit, SqliteNativeSnapshot } from "./sqlite_native.ts";
import { NativeChainTracker } from "./sqlite_native_chain.ts";
import type { NativeChain, NativeState } from "./sqlite_native_format.ts";
import type { SqliteStateStore } from "./sqlite_store.ts";

/** Where a backend's native checkpoints go, and what each snapshot point reads of the backend. */
export interface NativeCheckpointsInit {
  store: SqliteStateStore;
  driver: SqliteDriver;
  storage: StorageAdapter;
  /** Storage key prefix of the backend's shared files (no trailing slash). */
  keyPrefix: string;
  range: KeyGroupRange;
  /** The subtask's scheduler: without one, no materialization runs and checkpoints write the bases. */
  scheduler?: Scheduler;
  /** Times a materialization's turns (the job's processing-time clock). */
  clock?: Clock;
  /** The states declared now. */
  states(): NativeState[];
  /** The TTL (ms) declared per state id, and the processing time now: a base leaves expired rows out. */
  ttls(): ReadonlyMap<number, number>;
  now(): number | undefined;
}

/**
 * The native checkpoints and materializations of one SQLite backend.
 *
 * @example
 * ```ts
 * import { SqliteKeyedStateBackend } from "./sqlite_backend.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * // A backend with `incremental` and storage makes one of these for its checkpoints.
 * const b = new SqliteKeyedStateBackend({ maxParallelism: 8, range: { start: 0, end: 7 }, incremental: true, storage: new MemoryStorage(), uid: "doc", subtaskIndex: 0, jobId: "doc-native" }, { driver: sqliteDriver, backgroundWrites: false });
 * b.setCurrentKey("k");
 * b.valueState<number>("n").update(1);
 * const snap = b.snapshot(1);
 * while (!(await snap.step(100))) { }
 * console.assert(snap.result().format === "incremental");
 * snap.release();
 * b.dispose();
 * ```
 */
export class NativeCheckpoints {
  readonly #init: NativeCheckpointsInit;
  readonly #chains: NativeChainTracker;
  readonly #materialization: SqliteMaterialization | undefined;
  /** Materializations begun: each names its local files and its parts. */
  #materializations = 0;

  constructor(init: NativeCheckpointsInit) {
    this.#init = init;
    const { storage, scheduler } = init;
    this.#chains = new NativeChainTracker({ materializes: scheduler !== undefined, drop: (refs) => refs.forEach((r) => storage.delete(r.key).catch(() => {})) });
    if (scheduler) {
      this.#materialization = new SqliteMaterialization({
        chains: this.#chains,
        scheduler,
        clock: init.clock,
        storage,
        snapshot: (materialization, onResult, onAbort) => new SqliteNativeSnapshot({ ...this.#snapshotInit(++this.#materializations), previous: undefined, materialization, onResult, onAbort }),
      });
    }
  }

  /**
   * A checkpoint: a changelog extending the chain of the previous one, or a base when there
   * is none, one is still in flight, or the chain is far too long.
   */
  snapshot(checkpointId: number): KeyedStateSnapshot {
    const { previous, onResult, onAbort } = this.#chains.begin(checkpointId);
    const m = this.#materialization;
    m?.beforeCheckpoint(previous === undefined);
    const taken = (chain: NativeChain) => {
      onResult(chain);
      // Once a changelog is written, a base may be due: materialized between checkpoints.
      if (m) this.#init.scheduler!.defer(() => m.maybeStart());
    };
    try {
      return new SqliteNativeSnapshot({ ...this.#snapshotInit(checkpointId), previous, onResult: taken, onAbort });
    } catch (e) {
      // Failed at its snapshot point (its capture taken): no release() will come for it.
      onAbort();
      throw e;
    }
  }

  /** What every native snapshot starts with; `checkpointId` names its local files. */
  #snapshotInit(checkpointId: number): Omit<NativeSnapshotInit, "previous" | "onResult" | "onAbort"> {
    const { store, driver, storage, keyPrefix, range, scheduler } = this.#init;
    return { store, driver, storage, keyPrefix, checkpointId, range, states: this.#init.states(), ttls: this.#init.ttls(), now: this.#init.now(), scheduler };
  }

  /** State was restored (the working file changed): a materialization stops, and the next checkpoint is a base. */
  restored(): void {
    this.#materialization?.stop();
    this.#chains.restored();
  }

  /** The backend ends: a materialization stops, and a materialized base no checkpoint extended goes. */
  close(): void {
    this.#materialization?.close();
    this.#chains.close();
  }

  /** Whether a materialization runs now. */
  get materializing(): boolean {
    return this.#materialization?.running ?? false;
  }

  /** Materializations whose base was taken into the chain. */
  get materializations(): number {
    return this.#materialization?.taken ?? 0;
  }
}
