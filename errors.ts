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
import type { CheckpointFailureReason } from "./checkpoint/failure_reason.ts";

/**
 * Every `code` a {@link WeirError} can carry: one stable snake_case string per cause, so
 * callers, the REST API (which maps codes to HTTP statuses) and logs tell causes apart
 * without parsing messages. A checkpoint's failure reason is also a code, since a failed
 * trigger rejects with it.
 */
export type WeirErrorCode =
  // Bad input, refused before anything runs.
  | "invalid_option"
  | "invalid_job"
  | "invalid_key"
  | "invalid_storage_key"
  | "invalid_result"
  | "invalid_json"
  | "invalid_request"
  | "usage"
  // Running jobs and their lifecycle.
  | "operator_failed"
  | "job_failed"
  | "job_finishing"
  | "job_not_running"
  | "job_not_found"
  | "no_job"
  | "already_stopping"
  | "timeout"
  | "state_no_key"
  | "invariant_broken"
  // Checkpoints, savepoints and restores.
  | "checkpoint_failed"
  | "checkpoint_not_found"
  | "checkpoint_corrupt"
  | "checkpoint_tolerance_exceeded"
  | "final_checkpoint_failed"
  | "savepoint_failed"
  | "trigger_not_found"
  | "incompatible_restore"
  | "state_not_restored"
  | "record_not_serializable"
  | "sink_transaction_lost"
  | "coordinator_crash"
  // Offline savepoint tools (weir savepoint inspect|read|rewrite).
  | "uid_not_found"
  | "state_not_found"
  | "savepoint_exists"
  | "invalid_rewrite"
  | CheckpointFailureReason
  // Storage, encoding and connectors.
  | "storage_corrupt"
  | "storage_unavailable"
  | "storage_fenced"
  | "format_unsupported"
  | "connector_unavailable"
  | "ingest_log_full"
  | "ingest_unavailable"
  | "bad_record"
  | "file_not_found"
  | "stream_not_found"
  // Sinks: a record a sink cannot write, a failed write, a table that does not fit.
  | "sink_record_invalid"
  | "sink_write_failed"
  | "sink_table_invalid"
  // Values: records, keys and state weir cannot copy or persist faithfully; the type registry.
  | "record_not_copyable"
  | "value_not_persistable"
  | "state_kind_mismatch"
  | "state_backend_mismatch"
  | "invalid_state_ttl"
  | "invalid_state_access"
  // Event time: a timestamp that is not a finite number, or a record without one where event time needs it.
  | "invalid_timestamp"
  | "state_ttl_mismatch"
  | "invalid_type"
  | "type_conflict"
  // HTTP and the CLI's client.
  | "http_listen_failed"
  | "http_unavailable"
  // Cloudflare: a Worker without a binding its job needs (platforms/cloudflare/).
  | "binding_missing"
  | "api_error"
  | "api_unreachable"
  | "unauthorized"
  | "unsupported_media_type"
  | "not_found"
  | "vertex_not_found"
  | "taskmanager_not_found"
  | "subtask_not_found"
  | "savepoint_not_found"
  // A channel message that could not be delivered (a failed RPC, a dead worker, bytes
  // that do not decode as a message): the job attempt fails and restarts.
  | "transport_failed"
  // A remote host (worker thread, Durable Object) died, could not be reached, or refused a
  // deploy (its graph differs from the master's): the job attempt fails and restarts.
  | "host_failed"
  // A deploying remote host sent nothing for `runtime.deployTimeoutMs` (a dead or hung
  // worker): the job attempt fails and restarts; the host is started anew.
  | "deploy_timeout"
  // The simulator's injected crash.
  | "sim_crash";

/** weir's one error type: a stable {@link WeirErrorCode}, a message naming the offending value, and the cause. */
export class WeirError extends Error {
  /** Stable, machine-readable cause, e.g. `invalid_option`, `storage_corrupt`. */
  readonly code: WeirErrorCode;
  constructor(code: WeirErrorCode, message: string, options?: { cause?: unknown }) {
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

/**
 * Checks an invariant where state changes: a broken one throws `invariant_broken` at once,
 * loudly, instead of letting a wrong count travel on (TigerBeetle's assertions).
 * `message` may be a function so that a hot path builds no string while the invariant holds.
 *
 * @example
 * ```ts
 * import { assert } from "./errors.ts";
 * const credit = 2;
 * assert(credit >= 0, () => `Credit went negative: ${credit}`);
 * ```
 * @throws {WeirError} `invariant_broken` when `condition` is falsy.
 */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new WeirError("invariant_broken", typeof message === "string" ? message : message());
}

/** Builds the `invalid_option` error for an option and its offending value. */
export function invalidOption(option: string, value: unknown, expected: string): WeirError {
  return new WeirError("invalid_option", `Option ${option} ${expected}, got ${describe(value)}`);
}

/** Renders a value for an error message without risking a throw. */
export function describe(value: unknown): string {
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  if (typeof value === "string") return JSON.stringify(value);
  // JSON writes NaN and ±Infinity as null.
  if (typeof value === "number") return String(value);
  try {
    const json = JSON.stringify(value);
    // JSON drops function members: { onTimer() {} } would read "{}".
    if (json === "{}" && value !== null && typeof value === "object" && Object.keys(value).length > 0) {
      return `{ ${Object.entries(value).map(([k, v]) => `${k}: ${typeof v}`).join(", ")} }`;
    }
    return json ?? String(value);
  } catch {
    return String(value);
  }
}
