/**
 * Runs the SQLite backend's materializations: a base of the whole state (a page image of
 * the working file, or its rows copied, with the dirty cached values captured at its point)
 * written and uploaded between checkpoints on turns of the subtask's scheduler, so that no
 * checkpoint writes the whole state for a chain that grew long (Flink 1.15's periodic
 * materialization; sqlite_native_chain.ts decides when and takes the base in). One at a
 * time. A checkpoint that writes a base stops it, and so does one that comes while its
 * capture's pass still has many keys to go (the cache follows one pass at a time: the
 * checkpoint's would finish it at once); a restore and the backend's end stop it too.
 * @module
 */
import type { Clock, Scheduler } from "../actors/time.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { BackgroundSlot } from "./background_steps.ts";
import type { MaterializationStart, NativeChainTracker } from "./sqlite_native_chain.ts";
import type { SqliteNativeSnapshot } from "./sqlite_native.ts";
import type { NativeChain } from "./sqlite_native_format.ts";

/**
 * Keys of its capture's pass a materialization may have left when a checkpoint comes, which
 * the checkpoint's capture then passes over at once (about a microsecond each); with more
 * left the materialization stops instead, and a later one tries again.
 */
const PASS_LEFT_FINISHED_MAX = 4096;

/**
 * The most units a turn is given: a budget grown on turns of the capture's pass (a unit is
 * four dirty keys, most of them clean and cheap) would otherwise reach the row copy that
 * follows, at 0.4–0.7 µs a row; 16 384 rows take 7–11 ms.
 */
const BUDGET_MAX = 1 << 14;

/** What a materialization needs from its backend. */
export interface SqliteMaterializationHost {
  readonly chains: NativeChainTracker;
  readonly scheduler: Scheduler;
  /** Times the turns (the job's processing-time clock). */
  readonly clock: Clock | undefined;
  readonly storage: StorageAdapter;
  /** Takes its snapshot point: a base snapshot with `start`'s file id and callbacks. */
  snapshot(start: MaterializationStart, onResult: (chain: NativeChain) => void, onAbort: () => void): SqliteNativeSnapshot;
}

/**
 * The materializations of one SQLite backend.
 *
 * @example
 * ```ts
 * import { SqliteKeyedStateBackend } from "./sqlite_backend.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const turns: (() => void)[] = [];
 * const scheduler = { after: () => ({ cancel() {} }), defer: (fn: () => void) => void turns.push(fn) };
 * const b = new SqliteKeyedStateBackend({ maxParallelism: 8, range: { start: 0, end: 7 }, incremental: true, storage: new MemoryStorage(), scheduler, uid: "doc", subtaskIndex: 0, jobId: "doc-materialization" }, { driver: sqliteDriver, backgroundWrites: false });
 * const n = b.valueState<number>("n");
 * for (let id = 1; id <= 12; id++) {
 *   b.setCurrentKey(id);
 *   n.update(id);
 *   const snap = b.snapshot(id);
 *   while (!(await snap.step(100))) { }
 *   snap.result();
 *   snap.release();
 *   while (turns.length > 0) await turns.shift()!();
 * }
 * console.assert(b.materializations > 0);
 * b.dispose();
 * ```
 */
export class SqliteMaterialization {
  readonly #host: SqliteMaterializationHost;
  readonly #slot = new BackgroundSlot<SqliteNativeSnapshot>();
  #taken = 0;

  constructor(host: SqliteMaterializationHost) {
    this.#host = host;
  }

  /** Whether one runs now. */
  get running(): boolean {
    return this.#slot.running;
  }

  /** Materializations whose base was taken into the chain. */
  get taken(): number {
    return this.#taken;
  }

  /** Begins one when it is due and none runs (sqlite_native_chain.ts decides). */
  maybeStart(): void {
    if (this.#slot.running || this.#slot.closed) return;
    const { chains, scheduler, clock, storage } = this.#host;
    const start = chains.beginMaterialization();
    if (!start) return;
    let taken = false;
    // Released without a result: a failure (its write, its storage) counts against the
    // materializations; a stop (a checkpoint came, a restore) does not.
    let failed = false;
    let snap: SqliteNativeSnapshot;
    try {
      snap = this.#host.snapshot(start, (chain) => void (taken = start.onResult(chain)), () => start.onAbort(failed));
    } catch {
      // Its point failed (a full disk): nothing was taken; a later one tries again.
      start.onAbort(true);
      return;
    }
    this.#slot.run({ scheduler, clock, budgetMax: BUDGET_MAX }, snap, (done) => {
      failed = !done;
      if (!done) return;
      const { shared } = snap.result();
      if (taken) this.#taken++;
      // Not taken into the chain: no checkpoint will refer to its parts.
      else for (const ref of shared) storage.delete(ref.key).catch(() => {});
    });
  }

  /**
   * A checkpoint's snapshot point comes: one that writes a base stops the materialization,
   * and so does one whose capture would have to finish a long pass of the materialization's.
   */
  beforeCheckpoint(base: boolean): void {
    const snap = this.#slot.current;
    if (snap && (base || snap.passLeft > PASS_LEFT_FINISHED_MAX)) this.#slot.stop();
  }

  /** Stops the one running, if any (a restore). */
  stop(): void {
    this.#slot.stop();
  }

  /** Stops the one running; none begins after. */
  close(): void {
    this.#slot.close();
  }
}
