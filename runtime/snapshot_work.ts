/**
 * The asynchronous part of a subtask's checkpoints (Flink's async snapshot phase, which
 * runs on a thread pool; here a queue stepped on the subtask's own actor between its data
 * steps): operator state captures, then checksumming the state file. Each job is stepped
 * in slices sized by time, so records keep flowing while a large state is written.
 * @module
 */
import { StepSlice } from "./step_slice.ts";

/** One piece of background work of a checkpoint. */
export interface SnapshotJob {
  readonly checkpointId: number;
  /** Does about `budget` units of work; true once done. */
  step(budget: number): boolean | Promise<boolean>;
  /** Called once step() returned true. */
  done(): void;
  /** Called when the job is dropped (its checkpoint aborted, the subtask stopped). */
  drop(): void;
  /**
   * True when a promise its step returns only waits for storage: the job is parked and the
   * subtask goes on meanwhile. Otherwise the subtask waits for the promise (a sqlite native
   * snapshot's chain assumes no other snapshot begins during its upload). Read after each
   * step, which may change it (a sqlite base waits parked for its page image, not for its upload).
   */
  readonly parkable?: boolean;
  /** Units of the first slice and at most per slice. */
  readonly firstBudget: number;
  readonly maxBudget: number;
  /** Told how long each slice ran on the subtask's clock, ms (a pause of the subtask's records). */
  stepTook?(ms: number): void;
}

/**
 * Background snapshot work in order of arrival, stepped one slice at a time. A parkable
 * job's step that returns a promise (a heap changelog upload) parks the job: the subtask
 * goes on with records, and the job's end is taken up when the promise settles (`wake`). Awaiting it held every
 * record up for the whole write, 25–100 ms for an 8 MB base in MemoryStorage, longer on a
 * remote store.
 *
 * @example
 * ```ts
 * import { SnapshotWork } from "./snapshot_work.ts";
 * let t = 0;
 * const work = new SnapshotWork({ now: () => t }, 4);
 * let left = 10, finished = false;
 * work.add({ checkpointId: 1, firstBudget: 4, maxBudget: 8, step: (n) => (left -= n) <= 0, done: () => (finished = true), drop: () => {} });
 * while (work.pending) work.run();
 * console.assert(finished);
 * ```
 */
export class SnapshotWork {
  readonly #clock: { now(): number };
  readonly #budgetMs: number;
  readonly #jobs: { job: SnapshotJob; slice: StepSlice; parked: boolean }[] = [];
  readonly #wake: () => void;
  readonly #fail: (error: unknown) => void;

  /**
   * `wake` is called when a parked job's promise settled (work may go on), `fail` when it
   * rejected (a job that throws fails the subtask); both default to doing nothing.
   */
  constructor(clock: { now(): number }, budgetMs: number, o?: { wake?: () => void; fail?: (error: unknown) => void }) {
    this.#clock = clock;
    this.#budgetMs = budgetMs;
    this.#wake = o?.wake ?? (() => {});
    this.#fail = o?.fail ?? (() => {});
  }

  /** A job can be stepped now (the oldest one is not waiting for its promise). */
  get pending(): boolean {
    return this.#jobs.length > 0 && !this.#jobs[0].parked;
  }

  /** A job waits for its promise (an upload in flight). */
  get parked(): boolean {
    return this.#jobs.length > 0 && this.#jobs[0].parked;
  }

  add(job: SnapshotJob): void {
    const slice = new StepSlice(job.maxBudget, this.#budgetMs);
    slice.records = job.firstBudget;
    this.#jobs.push({ job, slice, parked: false });
  }

  /**
   * Steps the oldest job by one slice; a job that throws fails the subtask (its caller).
   * A promise when a job that is not parkable waits for I/O.
   */
  run(): void | Promise<void> {
    const head = this.#jobs[0];
    if (!head || head.parked) return;
    const { job, slice } = head;
    const started = this.#clock.now();
    const n = slice.records;
    slice.took(n);
    const r = job.step(n);
    const ended = () => {
      const ms = this.#clock.now() - started;
      slice.stepEnded(ms);
      job.stepTook?.(ms);
    };
    if (r instanceof Promise && job.parkable !== true) {
      // The subtask waits for it: the whole wait holds its records up.
      return r.then((finished) => {
        ended();
        if (finished) this.#finish(head);
      });
    }
    // Only the synchronous part holds records up: a parked promise's wait is the store's time.
    ended();
    if (r instanceof Promise) {
      head.parked = true;
      r.then(
        (finished) => {
          head.parked = false;
          if (this.#jobs[0] !== head) return;
          if (finished) this.#finish(head);
          this.#wake();
        },
        (e) => {
          head.parked = false;
          if (this.#jobs[0] === head) this.#fail(e);
        },
      );
      return;
    }
    if (r) this.#finish(head);
  }

  #finish(head: { job: SnapshotJob }): void {
    if (this.#jobs[0] !== head) return;
    this.#jobs.shift();
    head.job.done();
  }

  /** Drops the jobs of one checkpoint (aborted). */
  drop(checkpointId: number): void {
    for (let i = this.#jobs.length - 1; i >= 0; i--) {
      if (this.#jobs[i].job.checkpointId !== checkpointId) continue;
      const [{ job }] = this.#jobs.splice(i, 1);
      job.drop();
    }
  }

  /** Drops every job (the subtask stopped). */
  clear(): void {
    for (const { job } of this.#jobs.splice(0)) job.drop();
  }
}
