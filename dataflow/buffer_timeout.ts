/**
 * The buffer timeout's values (Flink's `execution.buffer-timeout`, `setBufferTimeout`), checked
 * where a user sets them: the environment option and the per-operator override.
 * @module
 */
import { BUFFER_TIMEOUT_MAX_MS } from "../actors/output_gate.ts";
import { invalidOption } from "../errors.ts";

/**
 * Checks a buffer timeout: -1 (send a batch only when full or an event follows), 0 (at the
 * end of every step) or whole ms up to one hour.
 *
 * @example
 * ```ts
 * import { checkBufferTimeout } from "./buffer_timeout.ts";
 * console.assert(checkBufferTimeout("bufferTimeout", 5) === 5);
 * let refused = false;
 * try { checkBufferTimeout("bufferTimeout", -2); } catch { refused = true; }
 * console.assert(refused);
 * ```
 * @throws {WeirError} `invalid_option` naming `option` for anything else (NaN, -2, 1.5, "5", …)
 */
export function checkBufferTimeout(option: string, value: unknown): number {
  if (value === -1 || (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= BUFFER_TIMEOUT_MAX_MS)) return value;
  throw invalidOption(option, value, `must be -1 (only full batches), 0 (after every step) or whole ms up to ${BUFFER_TIMEOUT_MAX_MS}`);
}
