import type { Clock, Scheduler } from "./time.ts";

/** What the dispatcher runs: an actor that processes one message per step. */
export interface Runnable {
  /** True when a step would do work. */
  runnable(): boolean;
  /** Processes one message; a promise means the actor is busy until it settles. */
  step(): void | Promise<void>;
  /** A step threw or rejected. */
  fail(error: unknown): void;
  /** Set by the dispatcher; the actor must not be stepped while busy. */
  busy: boolean;
  /** Set by the dispatcher while queued as ready. */
  queued: boolean;
  /** False once the actor was stopped; it is then never stepped again. */
  alive: boolean;
  /**
   * The clock as the actor read it at the end of its last synchronous step, or -1 (an
   * async step, or no reading). An actor that reads the clock anyway hands its reading
   * over, so the dispatcher can hold its slice deadline after every step at no cost.
   */
  readonly clockAfterStep?: number;
}

/** Steps between clock readings when steps are cheap. */
const CLOCK_CHECK_STEPS = 16;

/**
 * How many steps may run before the clock is read again: about half of what fits in
 * the time left at the average step cost so far, at least 1, at most CLOCK_CHECK_STEPS.
 */
function stepsUntilCheck(meanStepMs: number, leftMs: number): number {
  if (!(meanStepMs > 0)) return CLOCK_CHECK_STEPS;
  return Math.max(1, Math.min(CLOCK_CHECK_STEPS, Math.floor(leftMs / meanStepMs / 2)));
}

/** Chooses which of n ready actors runs next (0 = the oldest). */
export type PickPolicy = (readyCount: number) => number;

/**
 * Called right before an actor steps. A throw counts as that step failing, so the
 * simulator can crash a subtask at any message; production leaves it unset.
 */
export type BeforeStep = (actor: Runnable) => void;

/**
 * Runs actors on one thread, one message at a time each. Actors that may have work
 * call wake(); the dispatcher queues them and steps them in turn, yielding to the host
 * event loop every `sliceMs` so that timers, I/O and HTTP requests get their turn.
 * The pick policy is the simulator's lever: FIFO in production, a seeded PRNG in sim/.
 */
export class Dispatcher {
  #ready: Runnable[] = [];
  #scheduled = false;
  #clock: Clock;
  #scheduler: Scheduler;
  #pick: PickPolicy | undefined;
  #beforeStep: BeforeStep | undefined;
  readonly sliceMs: number;
  /** Steps per slice at most; the simulator sets 1 so that every step is an event. */
  readonly maxSteps: number;
  /** Steps run so far; the simulator reads it for its traces. */
  steps = 0;

  constructor(clock: Clock, scheduler: Scheduler, options: { pick?: PickPolicy; sliceMs?: number; maxSteps?: number; beforeStep?: BeforeStep } = {}) {
    this.#clock = clock;
    this.#scheduler = scheduler;
    this.#pick = options.pick;
    this.#beforeStep = options.beforeStep;
    this.sliceMs = options.sliceMs ?? 8;
    this.maxSteps = options.maxSteps ?? Infinity;
  }

  /** Queues an actor that may have work; cheap to call often. */
  wake(actor: Runnable): void {
    if (actor.queued || actor.busy || !actor.alive) return;
    actor.queued = true;
    this.#ready.push(actor);
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#scheduler.defer(this.#slice);
    }
  }

  #slice = (): void => {
    this.#scheduled = false;
    const start = this.#clock.now();
    const deadline = start + this.sliceMs;
    let n = 0;
    // The first step's cost tells how often the clock must be read in this slice.
    let untilCheck = 1;
    while (this.#ready.length > 0) {
      const stepped = this.#runNext();
      if (++n >= this.maxSteps) break;
      const reported = stepped?.clockAfterStep;
      if (reported !== undefined && reported >= 0) {
        if (reported >= deadline) break;
        continue;
      }
      // Reading the clock every step would cost more than most steps, so it is read every
      // few steps, and more often when steps are heavy, so that the deadline holds for them too.
      if (--untilCheck > 0) continue;
      const now = this.#clock.now();
      if (now >= deadline) break;
      untilCheck = stepsUntilCheck((now - start) / n, deadline - now);
    }
    if (this.#ready.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      this.#scheduler.defer(this.#slice);
    }
  };

  /** Steps one ready actor; returns false when none was ready. */
  runOne(): boolean {
    return this.#ready.length > 0 && (this.#runNext(), true);
  }

  /** Takes one ready actor and steps it if it still has work; returns the actor stepped. */
  #runNext(): Runnable | undefined {
    const ready = this.#ready;
    if (ready.length === 0) return undefined;
    let actor: Runnable;
    if (this.#pick) {
      const i = this.#pick(ready.length);
      actor = ready[i];
      ready[i] = ready[ready.length - 1];
      ready.pop();
    } else {
      actor = ready.shift()!;
    }
    actor.queued = false;
    if (!actor.alive || actor.busy || !actor.runnable()) return undefined;
    this.steps++;
    let result: void | Promise<void>;
    try {
      this.#beforeStep?.(actor);
      result = actor.step();
    } catch (e) {
      actor.fail(e);
      return undefined;
    }
    if (result instanceof Promise) {
      actor.busy = true;
      result.then(
        () => {
          actor.busy = false;
          if (actor.alive && actor.runnable()) this.wake(actor);
        },
        (e) => {
          actor.busy = false;
          actor.fail(e);
        },
      );
    } else if (actor.alive && actor.runnable()) {
      this.wake(actor);
    }
    return actor;
  }
}
