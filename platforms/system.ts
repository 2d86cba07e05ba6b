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

/**
 * setTimeout takes its delay as a signed 32-bit integer: a longer one (about 24.8 days) is
 * set to 1 ms on Bun, Deno, Node and workerd, so it fires at once.
 */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Timers on the host event loop; defer() uses setImmediate where the host has it. A delay
 * longer than setTimeout takes waits in steps of at most MAX_TIMEOUT_MS (a processing-time
 * timer 30 days ahead, a deploy timeout of a month), instead of firing at once.
 */
export const systemScheduler: Scheduler = {
  after(delayMs: number, fn: () => void): Timer {
    let handle: ReturnType<typeof setTimeout>;
    const arm = (left: number): void => {
      handle = left > MAX_TIMEOUT_MS ? setTimeout(() => arm(left - MAX_TIMEOUT_MS), MAX_TIMEOUT_MS) : setTimeout(fn, Math.max(0, left));
    };
    arm(delayMs);
    return { cancel: () => clearTimeout(handle) };
  },
  defer: deferImpl,
};
