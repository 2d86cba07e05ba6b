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
import type { HeapChangelog } from "./heap_changelog.ts";
import { incrementalSnapshot } from "./heap_incremental.ts";
import { HeapSnapshot, type HeapSnapshotOwner, type TableAtSnapshot } from "./heap_snapshot.ts";

/**
 * Entries a materialization visits or encodes in its first turn of the scheduler; later
 * turns double it while a turn takes under TURN_MS of the backend's clock and halve it
 * above twice that. Its turns alternate with the subtask's: at a fixed 4096 entries a
 * turn, the visit of 1 M keys outlasted the 300 ms between two checkpoints on a slow
 * machine, and every checkpoint stopped it.
 */
const FIRST_BUDGET = 4096;
const BUDGET_MAX = 1 << 18;
const TURN_MS = 3;

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
  #current: { snap: HeapSnapshot; writer: KeyedStateSnapshot } | undefined;
  #closed = false;

  constructor(host: MaterializationHost) {
    this.#host = host;
  }

  /** Begins one when it is due and none is running; the caller checked that no snapshot visits. */
  maybeStart(): void {
    if (this.#current || this.#closed) return;
    const { log, scheduler, clock, owner } = this.#host;
    const plan = log.beginMaterialization();
    if (!plan) return;
    const { tables, version } = this.#host.snapshotPoint();
    // Its file's id is chosen when it is written; the snapshot's id names it in errors only.
    const snap = new HeapSnapshot(0, version, owner, tables);
    this.#host.startVisit(snap);
    const m = { snap, writer: incrementalSnapshot(snap, log, plan) };
    this.#current = m;
    let budget = FIRST_BUDGET;
    const step = (): void => {
      if (this.#current !== m) return;
      let r: boolean | Promise<boolean>;
      const started = clock?.now() ?? 0;
      try {
        r = m.writer.step(budget);
        // A clock that does not move within a turn (virtual time) lets the budget grow to its cap.
        const ms = (clock?.now() ?? 0) - started;
        if (ms < TURN_MS) budget = Math.min(BUDGET_MAX, budget * 2);
        else if (ms > 2 * TURN_MS) budget = Math.max(FIRST_BUDGET, budget >> 1);
      } catch {
        // A value that cannot be copied fails the checkpoints too, which say why.
        this.#end(m);
        return;
      }
      if (r === false) scheduler.defer(step);
      else if (r === true) this.#end(m);
      // A failed write leaves the chain as it was: a later materialization tries again.
      else r.then(() => this.#end(m), () => this.#end(m));
    };
    try {
      scheduler.defer(step);
    } catch {
      // A scheduler shut down: this materialization never runs (a later one may).
      this.#end(m);
    }
  }

  /** Stops the one running, if any (a checkpoint that writes a base, a restore). */
  stop(): void {
    if (this.#current) this.#end(this.#current);
  }

  /** Stops the one running; none begins after. */
  close(): void {
    this.#closed = true;
    this.stop();
  }

  /** Ends a materialization, written or not, and frees its buffers. */
  #end(m: { writer: KeyedStateSnapshot }): void {
    if (this.#current !== m) return;
    this.#current = undefined;
    m.writer.release();
  }
}
