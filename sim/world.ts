/**
 * One simulated world: a virtual clock, its event queue, a PRNG-driven dispatcher pick
 * policy and a trace, and the loop that runs a job on them one event at a time.
 * @module
 */
import { setImmediate } from "node:timers";
import type { Runnable } from "../actors/dispatcher.ts";
import type { RuntimeOptions } from "../dataflow/environment_options.ts";
import type { Scheduler } from "../actors/time.ts";
import { SimClock, SimScheduler } from "./clock.ts";
import type { SimPrng } from "./prng.ts";
import { Trace } from "./trace.ts";

/**
 * Lets every pending promise reaction run before the next event, as a real event loop
 * does between two macrotasks. This is one turn of the host loop (setImmediate), not a
 * timer: no simulated time passes and nothing but the simulation is queued, so the
 * order of everything stays the seed's. (Granting a fixed number of microtask turns
 * instead let events cut into promise chains midway, interleavings no host produces.)
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** How a drive ended. */
export type DriveEnd = "done" | "stuck" | "limit";

/** What a drive checks before every event. */
export interface DriveControl {
  /** True once the run reached its goal (or a checker already failed it). */
  done(): boolean;
  /** A reason to stop (event or time budget exceeded), or undefined to go on. */
  limit(): string | undefined;
}

/**
 * A virtual clock and scheduler with a seeded dispatcher.
 *
 * @example
 * ```ts ignore
 * const world = new World(prng.fork("world"), { stepCostMaxMs: 0.5, timerLateMaxMs: 1 });
 * const env = new StreamEnvironment({ runtime: world.runtime() });
 * ```
 */
export class World {
  readonly clock = new SimClock();
  readonly scheduler: SimScheduler;
  readonly trace: Trace;
  readonly startTime: number;
  /** Events run so far. */
  events = 0;
  /** Why the last drive stopped on a limit. */
  limitReason: string | undefined;
  readonly #pick: SimPrng;

  constructor(prng: SimPrng, timing: { stepCostMaxMs: number; timerLateMaxMs: number }, traceKeep = 40) {
    const delays = prng.fork("delays");
    this.#pick = prng.fork("pick");
    this.scheduler = new SimScheduler(this.clock, {
      defer: () => delays.next() * timing.stepCostMaxMs,
      timerLate: () => delays.next() * timing.timerLateMaxMs,
    });
    this.trace = new Trace(traceKeep);
    this.startTime = this.clock.now();
  }

  /** Virtual ms since the world started. */
  get elapsedMs(): number {
    return this.clock.now() - this.startTime;
  }

  log(text: string): void {
    this.trace.log(this.elapsedMs, text.includes("savepoint-") ? this.#alias(text) : text);
  }

  /** Savepoint directory names end in a random suffix (job_handle.ts): the trace names them in order of appearance. */
  readonly #aliases = new Map<string, string>();
  #alias(text: string): string {
    return text.replace(/savepoint-[0-9a-f]{6}-[0-9a-f]{12}/g, (name) => {
      let a = this.#aliases.get(name);
      if (!a) this.#aliases.set(name, a = `savepoint#${this.#aliases.size + 1}`);
      return a;
    });
  }

  /**
   * A promise that resolves after a PRNG-drawn virtual delay in [0, maxMs): an async
   * operator's I/O, scheduled on `on` (a process's scheduler, so that it dies with it).
   */
  waiter(maxMs: number, prng: SimPrng, on: { schedule(delayMs: number, label: string, fn: () => void): unknown } = this.scheduler): () => Promise<void> {
    return () => new Promise((resolve) => on.schedule(prng.next() * maxMs, "io", resolve));
  }

  /** The runtime options that put a job on this world; beforeStep runs before every actor step. */
  runtime(jobId: string | undefined, beforeStep?: (actor: Runnable) => void, scheduler: Scheduler = this.scheduler): RuntimeOptions {
    return {
      clock: this.clock,
      scheduler,
      // Which ready actor steps next is the seed's choice; channels stay FIFO inside the actors.
      pick: (n) => this.#pick.int(n),
      sliceSteps: 1,
      jobId,
      beforeStep,
    };
  }

  /**
   * Runs events until control says done, a limit hits, or nothing is left to run.
   * `realIoWaits` is how many times an empty queue waits 1 real ms for real I/O (files)
   * to schedule more before the drive counts as stuck; the simulator's own runs use no
   * real I/O and keep the default 0, so they stay bit-for-bit replayable.
   */
  async drive(control: DriveControl, options: { realIoWaits?: number } = {}): Promise<DriveEnd> {
    const realIoWaits = options.realIoWaits ?? 0;
    let dry = 0;
    let waited = 0;
    for (;;) {
      if (control.done()) return "done";
      const reason = control.limit();
      if (reason) {
        this.limitReason = reason;
        return "limit";
      }
      // Virtual time waits for work on real threads (Scheduler.hold).
      const held = this.scheduler.held;
      if (held) {
        await held;
        continue;
      }
      const e = this.scheduler.next();
      if (!e) {
        // Nothing queued: one settle lets pending promise chains finish (and maybe schedule more).
        if (++dry > 1) {
          if (waited++ >= realIoWaits) return "stuck";
          await new Promise((resolve) => setTimeout(resolve, 1));
        } else await settle();
        continue;
      }
      dry = 0;
      waited = 0;
      this.events++;
      if (e.label !== "defer") this.log(e.label);
      e.fn();
      await settle();
    }
  }
}

/** A 32-hex-digit job id drawn from the seed (jobs must not draw ids from a real random source). */
export function simJobId(prng: SimPrng): string {
  let s = "";
  for (let i = 0; i < 32; i++) s += prng.int(16).toString(16);
  return s;
}
