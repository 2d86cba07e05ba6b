/**
 * How failures become HTTP answers: every error leaves the API as a 4xx or 5xx with
 * Flink's `{"errors": [...]}` body, plus weir's stable `code` so clients need not parse text.
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { WeirError } from "../errors.ts";

/** The HTTP status each error code maps to; anything not listed is a 500. */
const STATUS_BY_CODE: Record<string, ContentfulStatusCode> = {
  invalid_request: 400,
  invalid_json: 400,
  invalid_option: 400,
  unauthorized: 401,
  not_found: 404,
  job_not_found: 404,
  checkpoint_not_found: 404,
  trigger_not_found: 404,
  vertex_not_found: 404,
  taskmanager_not_found: 404,
  subtask_not_found: 404,
  savepoint_not_found: 404,
  method_not_allowed: 405,
  job_not_running: 409,
  already_stopping: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
};

/** The HTTP status for a WeirError code. */
export function statusForCode(code: string): ContentfulStatusCode {
  return STATUS_BY_CODE[code] ?? 500;
}

/**
 * An error answered with a 400: the request itself is wrong.
 *
 * @example
 * ```ts
 * import { badRequest } from "./errors.ts";
 * console.assert(badRequest("Field \"drain\" must be a boolean, got 1").code === "invalid_request");
 * ```
 */
export function badRequest(message: string): WeirError {
  return new WeirError("invalid_request", message);
}

/**
 * Renders an error as `{"errors": [message], "code"}` with the status its code maps to.
 * Errors that are not WeirErrors are internal: their text is still shown, since this API
 * binds to localhost by default and the message is what an operator needs.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { errorResponse } from "./errors.ts";
 * const app = new Hono().onError(errorResponse);
 * ```
 */
export function errorResponse(error: unknown, c: Context): Response {
  if (error instanceof WeirError) return c.json({ errors: [error.message], code: error.code }, statusForCode(error.code));
  const message = error instanceof Error ? error.message : String(error);
  return c.json({ errors: [`Internal error: ${message}`], code: "internal_error" }, 500);
}
