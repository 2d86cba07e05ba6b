/**
 * Time, timers and randomness as contracts. The core never reads the wall clock or
 * starts a timer itself: it is handed these, so that the simulator can drive the same
 * code on virtual time with a seeded PRNG.
 * @module
 */

/** Monotonic milliseconds. */
export interface Clock {
  now(): number;
}

/** A pending timer; cancel() is idempotent. */
export interface Timer {
  cancel(): void;
}

/** Schedules work: timers, and a deferred call that lets the host's event loop breathe. */
export interface Scheduler {
  /** Runs fn after delayMs milliseconds of this scheduler's clock. */
  after(delayMs: number, fn: () => void): Timer;
  /** Runs fn soon, after pending I/O and timers had their turn. */
  defer(fn: () => void): void;
  /**
   * Work done outside this scheduler's time (on a thread of its own) that its clock must not
   * run past: a virtual scheduler runs no event until `work` settles, so that virtual time
   * does not race ahead of real work (a checkpoint expiring in virtual minutes while a
   * thread writes for real milliseconds). Real time needs nothing, and may leave it out.
   */
  hold?(work: Promise<unknown>): void;
}

/** A source of uniform random numbers in [0, 1). */
export interface Prng {
  next(): number;
}
