/**
 * Steps a snapshot-like job on turns of the subtask's scheduler, between records: a
 * backend's materialization (heap_materialization.ts, sqlite_materialization.ts), the way
 * Flink's changelog backend materializes in the background. Each turn's budget adapts to
 * the time it took, so the job's turns stay short on a slow machine and few on a fast one.
 * @module
 */
import type { Clock, Scheduler } from "../actors/time.ts";

/**
 * Units (entries visited, rows copied) of the first turn; later turns double it while a
 * turn takes under TURN_MS of the clock and halve it above twice that. At a fixed 4 096 a
 * turn, the visit of 1 M keys outlasted the 300 ms between two checkpoints on a slow machine.
 */
const FIRST_BUDGET = 4096;
const BUDGET_MAX = 1 << 18;
const TURN_MS = 3;

/** One step of `budget` units: true once done, false for more, or a promise of either (the turns wait for it). */
export type BackgroundStep = (budget: number) => boolean | Promise<boolean>;

/**
 * Runs `step` on turns of `scheduler` (timed by `clock`; without it every turn has
 * FIRST_BUDGET) until it is done or fails, then calls `end` once with how it ended. The
 * budget grows to `budgetMax` at most (2^18 units unless given): a job whose phases cost
 * differently per unit should cap it, since a turn's time tells only the phase it ran.
 * Returns a function that stops it (no `end` call then).
 *
 * @example
 * ```ts
 * import { stepInTurns } from "./background_steps.ts";
 * const turns: (() => void)[] = [];
 * const scheduler = { after: () => ({ cancel() {} }), defer: (fn: () => void) => void turns.push(fn) };
 * let left = 3;
 * let ended: boolean | undefined;
 * stepInTurns({ scheduler }, () => --left === 0, (done) => (ended = done));
 * while (turns.length > 0) turns.shift()!();
 * console.assert(ended === true && left === 0);
 * ```
 */
export function stepInTurns(host: { scheduler: Scheduler; clock?: Clock; budgetMax?: number }, step: BackgroundStep, end: (done: boolean, error?: unknown) => void): () => void {
  const { scheduler, clock } = host;
  const budgetMax = host.budgetMax ?? BUDGET_MAX;
  let running = true;
  let budget = FIRST_BUDGET;
  const finish = (done: boolean, error?: unknown) => {
    if (!running) return;
    running = false;
    end(done, error);
  };
  const turn = (): void => {
    if (!running) return;
    let r: boolean | Promise<boolean>;
    const started = clock?.now() ?? 0;
    try {
      r = step(budget);
      // A clock that does not move within a turn (virtual time) lets the budget grow to its cap.
      const ms = (clock?.now() ?? 0) - started;
      if (ms < TURN_MS) budget = Math.min(budgetMax, budget * 2);
      else if (ms > 2 * TURN_MS) budget = Math.max(FIRST_BUDGET, budget >> 1);
    } catch (e) {
      finish(false, e);
      return;
    }
    if (r === true) finish(true);
    else if (r === false) next();
    else r.then((done) => (done ? finish(true) : next()), (e) => finish(false, e));
  };
  const next = () => {
    if (!running) return;
    try {
      scheduler.defer(turn);
    } catch (e) {
      // A scheduler shut down: the job never runs to its end.
      finish(false, e);
    }
  };
  next();
  return () => {
    running = false;
  };
}

/** A job a {@link BackgroundSlot} runs: stepped in turns, released once it ended or was stopped. */
export interface BackgroundJob {
  step: BackgroundStep;
  release(): void;
}

/**
 * At most one job at a time stepped on turns of a scheduler (a backend's materializations):
 * the job is released when it ends, when it is stopped, and when the slot closes.
 *
 * @example
 * ```ts
 * import { BackgroundSlot } from "./background_steps.ts";
 * const turns: (() => void)[] = [];
 * const scheduler = { after: () => ({ cancel() {} }), defer: (fn: () => void) => void turns.push(fn) };
 * const slot = new BackgroundSlot();
 * let released = false;
 * slot.run({ scheduler }, { step: () => true, release: () => void (released = true) });
 * console.assert(slot.running);
 * while (turns.length > 0) turns.shift()!();
 * console.assert(!slot.running && released);
 * ```
 */
export class BackgroundSlot<J extends BackgroundJob = BackgroundJob> {
  #current: { job: J; stopTurns: () => void } | undefined;
  #closed = false;

  /** The job running now, if any. */
  get current(): J | undefined {
    return this.#current?.job;
  }

  get running(): boolean {
    return this.#current !== undefined;
  }

  /** Closed: run() takes no job. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs `job` (none may be running) on turns of `host`'s scheduler (stepInTurns()); once
   * it ends, `ended` is told how (not when it is stopped), then the job is released.
   */
  run(host: Parameters<typeof stepInTurns>[0], job: J, ended?: (done: boolean) => void): void {
    const m = { job, stopTurns: () => {} };
    this.#current = m;
    m.stopTurns = stepInTurns(host, (budget) => job.step(budget), (done) => {
      if (this.#current !== m) return;
      ended?.(done);
      this.#end(m);
    });
  }

  /** Stops the job running, if any, and releases it. */
  stop(): void {
    if (this.#current) this.#end(this.#current);
  }

  /** Stops the job running; none runs after. */
  close(): void {
    this.#closed = true;
    this.stop();
  }

  #end(m: { job: J; stopTurns: () => void }): void {
    if (this.#current !== m) return;
    this.#current = undefined;
    m.stopTurns();
    m.job.release();
  }
}
