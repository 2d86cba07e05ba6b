/**
 * What a failed step of an operator's state capture means for its checkpoint: a failed
 * write (storage_failed) declines that checkpoint alone, with a message that does not say
 * the operator failed.
 * @module
 */
import { OperatorError, WeirError } from "../errors.ts";

/**
 * True when `e`, or an error it wraps (an operator's), is a `storage_failed` one.
 *
 * @example
 * ```ts
 * import { isStorageFailure } from "./capture_failure.ts";
 * import { OperatorError, WeirError } from "../errors.ts";
 * console.assert(isStorageFailure(new OperatorError("sum", "sum", new WeirError("storage_failed", "ENOSPC"))));
 * console.assert(!isStorageFailure(new TypeError("x")));
 * ```
 */
export function isStorageFailure(e: unknown): boolean {
  for (let x = e, depth = 0; x instanceof Error && depth < 8; x = x.cause, depth++) {
    if (x instanceof WeirError && x.code === "storage_failed") return true;
  }
  return false;
}

/**
 * Why a capture failed: only the checkpoint fails, so an operator's error is not said to fail the operator.
 *
 * @example
 * ```ts
 * import { captureFailure } from "./capture_failure.ts";
 * import { OperatorError } from "../errors.ts";
 * console.assert(captureFailure(new OperatorError("sum", "s", new Error("disk full"))) === 'operator "sum" (uid "s") could not write its state: disk full');
 * ```
 */
export function captureFailure(e: unknown): string {
  const message = (x: unknown) => (x as Error)?.message ?? String(x);
  return e instanceof OperatorError ? `operator "${e.operator}" (uid "${e.uid}") could not write its state: ${message(e.cause)}` : message(e);
}
