/**
 * The one error type weir throws. Every error carries a stable snake_case `code`
 * so that callers (and the REST API) can tell causes apart without parsing text.
 *
 * @example
 * ```ts
 * import { WeirError } from "./errors.ts";
 * const e = new WeirError("invalid_option", "Option checkpoint.interval must be >= 0, got -1");
 * console.assert(e.code === "invalid_option");
 * ```
 * @module
 */
export class WeirError extends Error {
  /** Stable, machine-readable cause, e.g. `invalid_option`, `storage_corrupt`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WeirError";
    this.code = code;
  }
}

/** Raised when a user function throws; names the operator so the failure can be traced. */
export class OperatorError extends WeirError {
  readonly operator: string;
  readonly uid: string;
  constructor(operator: string, uid: string, cause: unknown) {
    const inner = cause instanceof Error ? cause.message : String(cause);
    super("operator_failed", `Operator "${operator}" (uid "${uid}") failed: ${inner}`, { cause });
    this.operator = operator;
    this.uid = uid;
  }
}

/** Builds the `invalid_option` error for an option and its offending value. */
export function invalidOption(option: string, value: unknown, expected: string): WeirError {
  return new WeirError("invalid_option", `Option ${option} ${expected}, got ${describe(value)}`);
}

/** Renders a value for an error message without risking a throw. */
export function describe(value: unknown): string {
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  if (typeof value === "string") return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
