/**
 * Checks of the functions a job is built with, made when the job is built: a clear error
 * naming what the function is for, not a failure at the first record.
 * @module
 */
import { invalidOption } from "../errors.ts";

/**
 * Throws unless fn is a function, naming what it is for.
 * @throws {WeirError} `invalid_option`
 *
 * @example
 * ```ts
 * import { requireFunction } from "./function_checks.ts";
 * requireFunction((n: number) => n + 1, "map function");
 * ```
 */
export function requireFunction(fn: unknown, what: string): void {
  if (typeof fn !== "function") throw invalidOption(what, fn, "must be a function");
}

/**
 * Refuses an `async` function where weir needs a synchronous one (a reduce function: its
 * result is the state, kept between records), naming `what`; one failed at every record.
 * @throws {WeirError} `invalid_option` when fn is not a function, or is async
 *
 * @example
 * ```ts
 * import { requireSyncFunction } from "./function_checks.ts";
 * requireSyncFunction((a: number, b: number) => a + b, "reduce function");
 * try {
 *   requireSyncFunction(async (a: number, b: number) => a + b, "reduce function");
 *   console.assert(false);
 * } catch (e) {
 *   console.assert((e as Error).message.includes("synchronous"));
 * }
 * ```
 */
export function requireSyncFunction(fn: unknown, what: string): void {
  requireFunction(fn, what);
  if ((fn as { constructor?: { name?: string } }).constructor?.name === "AsyncFunction") {
    throw invalidOption(what, fn, "must be synchronous (Flink's ReduceFunction): its result is the state; for async work use process() with valueState");
  }
}
