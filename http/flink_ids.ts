/**
 * Flink's identifiers over weir's: a job vertex is named by 32 hex digits derived from its
 * operators' uids (Flink hashes the uid into the JobVertexID the same way, so the id stays
 * the same across runs and restores), and weir's job statuses become Flink's JobStatus.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { JobHandle, VertexOverview } from "../runtime/job_handle.ts";
import type { JobStatus } from "../runtime/job_status.ts";

export { vertexHexId } from "../runtime/vertex_id.ts";
import { vertexHexId } from "../runtime/vertex_id.ts";

/**
 * Maps weir's vertex ids (`v0`, `v1`…) of a job to their hex ids.
 *
 * @example
 * ```ts
 * import { hexIdsOf } from "./flink_ids.ts";
 * // hexIdsOf(job).get("v0") → "5d4c…" (32 hex digits)
 * ```
 */
export function hexIdsOf(job: JobHandle): Map<string, string> {
  return new Map(job.vertices().map((v) => [v.id, vertexHexId(v)]));
}

/**
 * The vertex a path parameter names: its 32-hex id, or weir's own `v<n>` id (kept working
 * for clients written against earlier releases). Throws `vertex_not_found`.
 *
 * @example
 * ```ts
 * import { findVertex } from "./flink_ids.ts";
 * // findVertex(job, "v0").id === "v0"
 * ```
 */
export function findVertex(job: JobHandle, param: string): VertexOverview {
  const id = param.toLowerCase();
  const vertex = job.vertices().find((v) => v.id === param || vertexHexId(v) === id);
  if (!vertex) throw new WeirError("vertex_not_found", `Vertex "${param}" not found in job ${job.id}; GET /jobs/${job.id} lists its vertices`);
  return vertex;
}

/** Flink's JobStatus values; weir's STOPPED is not one of them. */
export type FlinkJobStatus = "INITIALIZING" | "CREATED" | "RUNNING" | "FAILING" | "FAILED" | "CANCELLING" | "CANCELED" | "FINISHED" | "RESTARTING" | "SUSPENDED" | "RECONCILING";

/**
 * A weir job status as Flink reports it: a job stopped with a savepoint ends FINISHED in
 * Flink (the stop is visible only in its savepoint), so STOPPED becomes FINISHED and the
 * REST views carry weir's own status beside it (`weir-status`).
 *
 * @example
 * ```ts
 * import { flinkJobStatus } from "./flink_ids.ts";
 * console.assert(flinkJobStatus("STOPPED") === "FINISHED");
 * ```
 */
export function flinkJobStatus(status: JobStatus): FlinkJobStatus {
  return status === "STOPPED" ? "FINISHED" : status;
}
