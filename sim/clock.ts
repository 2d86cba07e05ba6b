/**
 * Virtual time: a Clock that only moves when the simulator says so, and a Scheduler
 * whose timers and deferred calls are events in one queue ordered by (virtual time,
 * sequence number). Nothing here touches a real timer.
 * @module
 */
import type { Clock, Scheduler, Timer } from "../actors/time.ts";

/** One scheduled call. */
export interface SimEvent {
  time: number;
  seq: number;
  label: string;
  fn: () => void;
  cancelled: boolean;
}

/**
 * The virtual clock: reads the time the event queue last advanced to.
 *
 * @example
 * ```ts
 * import { SimClock } from "./clock.ts";
 * const clock = new SimClock(1000);
 * clock.advanceTo(1005);
 * console.assert(clock.now() === 1005);
 * ```
 */
export class SimClock implements Clock {
  #now: number;
  constructor(start = 1_000_000) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  /** Moves time forward; time never goes backwards. */
  advanceTo(t: number): void {
    if (t > this.#now) this.#now = t;
  }
}

/** How the scheduler spaces events out; the driver draws these from the PRNG. */
export interface SimDelays {
  /** Virtual ms a deferred call waits: the cost of the step before it. */
  defer(): number;
  /** Extra virtual ms a timer fires late. */
  timerLate(): number;
}

const NO_DELAYS: SimDelays = { defer: () => 0, timerLate: () => 0 };

/**
 * The event queue behind virtual time. `defer` and `after` only enqueue; the driver
 * pops events one at a time with next().
 *
 * @example
 * ```ts
 * import { SimClock, SimScheduler } from "./clock.ts";
 * const s = new SimScheduler(new SimClock(0));
 * const seen: number[] = [];
 * s.after(5, () => seen.push(5));
 * s.defer(() => seen.push(0));
 * for (let e = s.next(); e; e = s.next()) e.fn();
 * console.assert(seen.join() === "0,5");
 * ```
 */
export class SimScheduler implements Scheduler {
  readonly clock: SimClock;
  delays: SimDelays;
  #heap: SimEvent[] = [];
  #seq = 0;

  constructor(clock: SimClock, delays: SimDelays = NO_DELAYS) {
    this.clock = clock;
    this.delays = delays;
  }

  after(delayMs: number, fn: () => void): Timer {
    const d = Math.max(0, Number.isFinite(delayMs) ? delayMs : 0) + this.delays.timerLate();
    const e = this.schedule(d, "timer", fn);
    return { cancel: () => void (e.cancelled = true) };
  }

  defer(fn: () => void): void {
    this.schedule(this.delays.defer(), "defer", fn);
  }

  readonly #held = new Set<Promise<void>>();

  hold(work: Promise<unknown>): void {
    const settled = work.then(() => {}, () => {});
    this.#held.add(settled);
    void settled.then(() => this.#held.delete(settled));
  }

  /** Settles once the work held now (hold()) has settled; undefined when none is. */
  get held(): Promise<void> | undefined {
    return this.#held.size === 0 ? undefined : Promise.all(this.#held).then(() => {});
  }

  /** Enqueues fn at now + delayMs under a label that the trace shows. */
  schedule(delayMs: number, label: string, fn: () => void): SimEvent {
    const e: SimEvent = { time: this.clock.now() + delayMs, seq: this.#seq++, label, fn, cancelled: false };
    this.#push(e);
    return e;
  }

  /** Live events still queued. */
  get size(): number {
    let n = 0;
    for (const e of this.#heap) if (!e.cancelled) n++;
    return n;
  }

  /** Pops the earliest live event and advances the clock to it; undefined when none is left. */
  next(): SimEvent | undefined {
    for (;;) {
      const e = this.#pop();
      if (!e) return undefined;
      if (e.cancelled) continue;
      this.clock.advanceTo(e.time);
      return e;
    }
  }

  #less(a: SimEvent, b: SimEvent): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  #push(e: SimEvent): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  #pop(): SimEvent | undefined {
    const h = this.#heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l], h[m])) m = l;
        if (r < h.length && this.#less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}
