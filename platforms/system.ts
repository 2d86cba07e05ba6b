/**
 * The real clock and scheduler, from the globals that Bun, Deno, Node and workerd share.
 * The only place outside sim/ that turns time into timers.
 * @module
 */
import type { Clock, Scheduler, Timer } from "../actors/time.ts";

/** Epoch milliseconds, monotonic within the process (timeOrigin + performance.now()). */
export const systemClock: Clock = { now: () => performance.timeOrigin + performance.now() };

const deferImpl: (fn: () => void) => void = typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
  ? (fn) => (globalThis as unknown as { setImmediate(f: () => void): void }).setImmediate(fn)
  : (fn) => void setTimeout(fn, 0);

/** Timers on the host event loop; defer() uses setImmediate where the host has it. */
export const systemScheduler: Scheduler = {
  after(delayMs: number, fn: () => void): Timer {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(handle) };
  },
  defer: deferImpl,
};
