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
    const deadline = this.#clock.now() + this.sliceMs;
    let n = 0;
    while (this.#ready.length > 0) {
      this.runOne();
      if (++n >= this.maxSteps) break;
      // Reading the clock every step would cost more than most steps.
      if ((n & 15) === 0 && this.#clock.now() >= deadline) break;
    }
    if (this.#ready.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      this.#scheduler.defer(this.#slice);
    }
  };

  /** Steps one ready actor; returns false when none was ready. */
  runOne(): boolean {
    const ready = this.#ready;
    if (ready.length === 0) return false;
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
    if (!actor.alive || actor.busy || !actor.runnable()) return true;
    this.steps++;
    let result: void | Promise<void>;
    try {
      this.#beforeStep?.(actor);
      result = actor.step();
    } catch (e) {
      actor.fail(e);
      return true;
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
    return true;
  }
}
