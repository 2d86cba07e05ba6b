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

/** One input of a plan node: the vertex it reads from and how records are shipped. */
export interface PlanInput {
  num: number;
  id: string;
  ship_strategy: string;
  exchange: "pipelined_bounded";
}

/** One vertex in the plan; sources have no `inputs`, as in Flink. */
export interface PlanNode {
  id: string;
  parallelism: number;
  operator: string;
  operator_strategy: string;
  description: string;
  inputs?: PlanInput[];
  optimizer_properties: Record<string, never>;
}

/** Flink's `plan` of GET /jobs/:jobid: the job graph as nodes and their inputs. */
export interface JobPlan {
  jid: string;
  name: string;
  type: "STREAMING";
  nodes: PlanNode[];
}

/** Flink's ship strategy names for weir's partitioning kinds. */
const SHIP_STRATEGY: Record<string, string> = { forward: "FORWARD", rebalance: "REBALANCE", broadcast: "BROADCAST", hash: "HASH" };

/**
 * The job graph in the shape of Flink's `plan`: every vertex a node, every edge an entry
 * of its target's `inputs` (numbered in edge order), so fan-in and fan-out are explicit.
 *
 * @example
 * ```ts
 * import { jobPlan } from "./job_view.ts";
 * // jobPlan(job).nodes[1].inputs → [{ num: 0, id: "v0", ship_strategy: "HASH", exchange: "pipelined_bounded" }]
 * ```
 */
export function jobPlan(job: JobHandle): JobPlan {
  const edges = job.edges();
  const nodes = job.vertices().map((v): PlanNode => {
    const inputs = edges.filter((e) => e.target === v.id).map((e, num): PlanInput => ({
      num,
      id: e.source,
      // An unknown kind passes through in upper case rather than hiding the edge.
      ship_strategy: SHIP_STRATEGY[e.partitioning] ?? e.partitioning.toUpperCase(),
      exchange: "pipelined_bounded",
    }));
    const node: PlanNode = { id: v.id, parallelism: v.parallelism, operator: "", operator_strategy: "", description: v.name, optimizer_properties: {} };
    if (inputs.length > 0) node.inputs = inputs;
    return node;
  });
  return { jid: job.id, name: job.name, type: "STREAMING", nodes };
}

/**
 * GET /jobs/:jobid: the job, its vertices with parallelism, per-subtask figures, and the
 * job graph as Flink's `plan`.
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
    plan: jobPlan(job),
    // weir's own: what the job warns about (stateful operators without uid, a restore without checksums).
    "weir-warnings": job.warnings().map((w) => ({ code: w.code, message: w.message })),
    // weir's own: what `weir stop` appends --from-savepoint to (absent when no CLI started the job).
    ...(job.launchCommand ? { "weir-launch-command": job.launchCommand } : {}),
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
