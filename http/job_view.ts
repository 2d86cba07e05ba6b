/**
 * Jobs as GET /jobs and GET /jobs/:jobid show them, with Flink's field names
 * (`jid`, `state`, `start-time`, `read-records`…) over what `JobHandle` reports.
 * @module
 */
import type { JobHandle, VertexOverview } from "../runtime/job_handle.ts";
import type { JobRegistry } from "./registry.ts";

/** One row of GET /jobs. */
export interface JobSummary {
  id: string;
  name: string;
  status: string;
  "start-time": number;
  "end-time": number;
}

/**
 * The row of GET /jobs for a job.
 *
 * @example
 * ```ts
 * import { jobSummary } from "./job_view.ts";
 * // jobSummary(job, registry) → { id, name, status: "RUNNING", "start-time", "end-time": -1 }
 * ```
 */
export function jobSummary(job: JobHandle, registry: JobRegistry): JobSummary {
  return { id: job.id, name: job.name, status: job.status, "start-time": Math.round(job.startTime), "end-time": Math.round(registry.endTime(job.id)) };
}

/**
 * GET /jobs/:jobid: the job, its vertices with parallelism, and per-subtask figures.
 *
 * @example
 * ```ts
 * import { jobDetails } from "./job_view.ts";
 * // jobDetails(job, registry).vertices[0].subtasks[0]["read-records"]
 * ```
 */
export function jobDetails(job: JobHandle, registry: JobRegistry): Record<string, unknown> {
  const now = job.now();
  const end = registry.endTime(job.id);
  const status = job.status;
  return {
    jid: job.id,
    name: job.name,
    state: status,
    status,
    isStoppable: status === "RUNNING",
    "start-time": Math.round(job.startTime),
    "end-time": Math.round(end),
    duration: Math.round((end >= 0 ? end : now) - job.startTime),
    now: Math.round(now),
    restarts: job.restarts,
    vertices: job.vertices().map((v) => vertexView(v, status)),
  };
}

function vertexView(v: VertexOverview, jobStatus: string): Record<string, unknown> {
  const sum = (pick: (s: VertexOverview["subtasks"][number]) => number) => v.subtasks.reduce((n, s) => n + pick(s), 0);
  return {
    id: v.id,
    name: v.name,
    parallelism: v.parallelism,
    uids: v.uids,
    // Subtasks exist only while an execution is deployed; otherwise the vertex shares the job's state.
    status: v.subtasks.length > 0 && jobStatus === "RUNNING" ? "RUNNING" : jobStatus,
    metrics: {
      "read-records": sum((s) => s.recordsIn),
      "write-records": sum((s) => s.recordsOut),
      "queued-batches": sum((s) => s.queuedBatches),
      "output-buffered": sum((s) => s.outputBuffered),
    },
    subtasks: v.subtasks.map((s) => ({
      subtask: s.index,
      "read-records": s.recordsIn,
      "write-records": s.recordsOut,
      "busy-ms": Math.round(s.busyMs),
      "backpressured-ms": Math.round(s.backpressuredMs),
      "queued-batches": s.queuedBatches,
      "output-buffered": s.outputBuffered,
      "barrier-state": s.barrierState,
    })),
  };
}
