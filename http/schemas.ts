/**
 * One zod schema per request body that Flink's REST API takes, with Flink's field names and
 * enums (Flink 1.19, `rest_v1_dispatcher.yml`): the body a Flink client sends is accepted as
 * it is, and a field outside the schema is refused (strict objects) rather than ignored, so
 * a typo ("target_directory") is reported. The conformance test compares these schemas
 * with Flink's OpenAPI description, so the code and the contract cannot drift apart.
 * @module
 */
import { z } from "zod";

/** Flink's TriggerId: 32 hexadecimal digits, chosen by the client to make a trigger idempotent. */
export const triggerIdSchema = z.string().regex(/^[0-9a-fA-F]{32}$/, "must be 32 hexadecimal digits (Flink's TriggerId)");

/** POST /jobs/:jobid/checkpoints (Flink's CheckpointTriggerRequestBody, 1.19). */
export const checkpointTriggerBody = z.strictObject({
  checkpointType: z.enum(["CONFIGURED", "FULL", "INCREMENTAL"]).optional(),
  triggerId: triggerIdSchema.optional(),
});

/** POST /jobs/:jobid/savepoints (Flink's SavepointTriggerRequestBody). */
export const savepointTriggerBody = z.strictObject({
  "target-directory": z.string().min(1, "must be a non-empty string"),
  "cancel-job": z.boolean().optional(),
  formatType: z.enum(["CANONICAL", "NATIVE"]).optional(),
  triggerId: triggerIdSchema.optional(),
});

/** POST /jobs/:jobid/stop (Flink's StopWithSavepointRequestBody). */
export const stopWithSavepointBody = z.strictObject({
  targetDirectory: z.string().min(1, "must be a non-empty string"),
  drain: z.boolean().optional(),
  formatType: z.enum(["CANONICAL", "NATIVE"]).optional(),
  triggerId: triggerIdSchema.optional(),
});

/** POST /savepoint-disposal (Flink's SavepointDisposalRequest). */
export const savepointDisposalBody = z.strictObject({
  "savepoint-path": z.string().min(1, "must be a non-empty string"),
});

/**
 * Every request body schema by Flink's component name, for the conformance test.
 *
 * @example
 * ```ts
 * import { REQUEST_BODY_SCHEMAS } from "./schemas.ts";
 * console.assert(REQUEST_BODY_SCHEMAS.StopWithSavepointRequestBody.safeParse({ targetDirectory: "/tmp/sp" }).success);
 * ```
 */
export const REQUEST_BODY_SCHEMAS = {
  CheckpointTriggerRequestBody: checkpointTriggerBody,
  SavepointTriggerRequestBody: savepointTriggerBody,
  StopWithSavepointRequestBody: stopWithSavepointBody,
  SavepointDisposalRequest: savepointDisposalBody,
} as const;
