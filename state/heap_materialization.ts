/**
 * Runs a heap backend's materializations (heap_changelog.ts): a full snapshot taken between
 * checkpoints, visited, encoded and written as a new base on turns of the subtask's
 * scheduler, between records, the way Flink's changelog backend materializes in the
 * background. One at a time. A changelog checkpoint or a savepoint that comes during its
 * visit visits beside it (heap_snapshot.ts, `visitNow`), so a visit may outlast several
 * checkpoint intervals; a checkpoint that writes a base stops it, and so do a restore and
 * the backend's end.
 * @module
 */
import type { Clock, Scheduler } from "../actors/time.ts";
import type { KeyedStateSnapshot } from "./backend.ts";
import { BackgroundSlot } from "./background_steps.ts";
import type { HeapChangelog } from "./heap_changelog.ts";
import { incrementalSnapshot } from "./heap_incremental.ts";
import { HeapSnapshot, type HeapSnapshotOwner, type TableAtSnapshot } from "./heap_snapshot.ts";

/** What a materialization needs from its backend. */
export interface MaterializationHost {
  readonly log: HeapChangelog;
  readonly scheduler: Scheduler;
  /** Times the turns (the job's processing-time clock); without it every turn takes FIRST_BUDGET. */
  readonly clock: Clock | undefined;
  readonly owner: HeapSnapshotOwner;
  /** Takes a snapshot point: the tables as declared now, and the version that ends. */
  snapshotPoint(): { tables: TableAtSnapshot[]; version: number };
  /** The snapshot that visits the tables from now on (they hand it the cells they replace). */
  startVisit(snap: HeapSnapshot): void;
}

/**
 * The materializations of one heap backend.
 *
 * @example
 * ```ts
 * import { HeapKeyedStateBackend } from "./heap_backend.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const turns: (() => void)[] = [];
 * const scheduler = { after: () => ({ cancel() {} }), defer: (fn: () => void) => void turns.push(fn) };
 * const b = new HeapKeyedStateBackend({ maxParallelism: 8, range: { start: 0, end: 7 }, incremental: true, storage: new MemoryStorage(), scheduler });
 * const n = b.valueState<number>("n");
 * for (let k = 0; k < 100; k++) {
 *   b.setCurrentKey(k);
 *   n.update(0);
 * }
 * for (let id = 1; id <= 10; id++) {
 *   b.setCurrentKey(id);
 *   n.update(id); // one key in 100 changes: changelogs, until the chain is long
 *   const snap = b.snapshot(id);
 *   while (!(await snap.step(100))) { }
 *   snap.release();
 * }
 * console.assert(turns.length > 0); // a base is being materialized
 * ```
 */
export class HeapMaterialization {
  readonly #host: MaterializationHost;
  readonly #slot = new BackgroundSlot<KeyedStateSnapshot>();

  constructor(host: MaterializationHost) {
    this.#host = host;
  }

  /** Begins one when it is due and none is running; the caller checked that no snapshot visits. */
  maybeStart(): void {
    if (this.#slot.running || this.#slot.closed) return;
    const { log, scheduler, clock, owner } = this.#host;
    const plan = log.beginMaterialization();
    if (!plan) return;
    const { tables, version } = this.#host.snapshotPoint();
    // Its file's id is chosen when it is written; the snapshot's id names it in errors only.
    const snap = new HeapSnapshot(0, version, owner, tables);
    this.#host.startVisit(snap);
    // However it ends (a value that cannot be copied fails the checkpoints too, which say
    // why; a failed write leaves the chain as it was), it is released and a later
    // materialization may follow.
    this.#slot.run({ scheduler, clock }, incrementalSnapshot(snap, log, plan));
  }

  /** Stops the one running, if any (a checkpoint that writes a base, a restore). */
  stop(): void {
    this.#slot.stop();
  }

  /** Stops the one running; none begins after. */
  close(): void {
    this.#slot.close();
  }
}
