/**
 * Jobs as Flink's REST API shows them (Flink 1.19's JobDetailsInfo, JobDetails,
 * JobIdWithStatus, JobPlanInfo…): Flink's field names and states over what `JobHandle`
 * reports, 32-hex vertex ids, and weir's own figures beside them under names Flink does
 * not use (`weir-status`, `uids`, `subtasks`, `restarts`).
 * @module
 */
import type { JobHandle, VertexOverview } from "../runtime/job_handle.ts";
import type { JobStatus } from "../runtime/job_status.ts";
import { type FlinkJobStatus, flinkJobStatus, hexIdsOf, vertexHexId } from "./flink_ids.ts";
import type { JobRegistry } from "./registry.ts";

/** Flink's ExecutionState values, in Flink's order. */
export const EXECUTION_STATES = ["CREATED", "SCHEDULED", "DEPLOYING", "RUNNING", "FINISHED", "CANCELING", "CANCELED", "FAILED", "RECONCILING", "INITIALIZING"] as const;
/** One of Flink's ExecutionState values. */
export type ExecutionState = (typeof EXECUTION_STATES)[number];

/** One row of GET /jobs: Flink's JobIdWithStatus, plus name and times. */
export interface JobSummary {
  id: string;
  status: FlinkJobStatus;
  "weir-status": JobStatus;
  name: string;
  "start-time": number;
  "end-time": number;
  /** ms from start to end, or to now (the job's clock) while it runs; as in Flink's job overview. */
  duration: number;
}

/**
 * The row of GET /jobs for a job.
 *
 * @example
 * ```ts
 * import { jobSummary } from "./job_view.ts";
 * // jobSummary(job, registry) → { id, status: "RUNNING", "weir-status": "RUNNING", name, "start-time", "end-time": -1 }
 * ```
 */
export function jobSummary(job: JobHandle, registry: JobRegistry): JobSummary {
  const status = job.status;
  const end = registry.endTime(job.id);
  return {
    id: job.id,
    status: flinkJobStatus(status),
    "weir-status": status,
    name: job.name,
    "start-time": Math.round(job.startTime),
    "end-time": Math.round(end),
    duration: Math.round((end >= 0 ? end : job.now()) - job.startTime),
  };
}

/**
 * A row of GET /jobs/overview (Flink's JobDetails): times, state and the count of subtasks
 * per execution state (lower-case keys and a `total`, as Flink writes them).
 *
 * @example
 * ```ts
 * import { jobOverview } from "./job_view.ts";
 * // jobOverview(job, registry).tasks → { total: 4, running: 4, finished: 0, … }
 * ```
 */
export function jobOverview(job: JobHandle, registry: JobRegistry): Record<string, unknown> {
  const status = job.status;
  const end = registry.endTime(job.id);
  const vertices = job.vertices();
  const counts = Object.fromEntries(EXECUTION_STATES.map((s) => [s.toLowerCase(), 0])) as Record<string, number>;
  let total = 0;
  for (const v of vertices) {
    counts[vertexState(v, status).toLowerCase()] += v.parallelism;
    total += v.parallelism;
  }
  const times = Object.values(registry.timestamps(job.id));
  return {
    jid: job.id,
    name: job.name,
    state: flinkJobStatus(status),
    "weir-status": status,
    "start-time": Math.round(job.startTime),
    "end-time": Math.round(end),
    duration: Math.round((end >= 0 ? end : job.now()) - job.startTime),
    "last-modification": Math.round(Math.max(job.startTime, ...times)),
    tasks: { total, ...counts },
  };
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

/** Flink's `plan` of GET /jobs/:jobid and GET /jobs/:jobid/plan: the job graph as nodes and their inputs. */
export interface JobPlan {
  jid: string;
  name: string;
  type: "STREAMING";
  nodes: PlanNode[];
}

/** Flink's ship strategy names for weir's partitioning kinds. */
const SHIP_STRATEGY: Record<string, string> = { forward: "FORWARD", rebalance: "REBALANCE", broadcast: "BROADCAST", hash: "HASH" };

/**
 * The job graph in the shape of Flink's `plan`: every vertex a node (named by its 32-hex
 * id), every edge an entry of its target's `inputs` (numbered in edge order), so fan-in
 * and fan-out are explicit.
 *
 * @example
 * ```ts
 * import { jobPlan } from "./job_view.ts";
 * // jobPlan(job).nodes[1].inputs → [{ num: 0, id: "<32 hex>", ship_strategy: "HASH", exchange: "pipelined_bounded" }]
 * ```
 */
export function jobPlan(job: JobHandle): JobPlan {
  const edges = job.edges();
  const hex = hexIdsOf(job);
  const nodes = job.vertices().map((v): PlanNode => {
    const inputs = edges.filter((e) => e.target === v.id).map((e, num): PlanInput => ({
      num,
      id: hex.get(e.source) ?? e.source,
      // An unknown kind passes through in upper case rather than hiding the edge.
      ship_strategy: SHIP_STRATEGY[e.partitioning] ?? e.partitioning.toUpperCase(),
      exchange: "pipelined_bounded",
    }));
    const node: PlanNode = { id: hex.get(v.id)!, parallelism: v.parallelism, operator: "", operator_strategy: "", description: v.name, optimizer_properties: {} };
    if (inputs.length > 0) node.inputs = inputs;
    return node;
  });
  return { jid: job.id, name: job.name, type: "STREAMING", nodes };
}

/**
 * GET /jobs/:jobid (Flink's JobDetailsInfo): the job, its vertices with parallelism,
 * execution state and I/O metrics, the status timestamps, and the plan; per-subtask
 * figures under `subtasks` of each vertex.
 *
 * @example
 * ```ts
 * import { jobDetails } from "./job_view.ts";
 * // jobDetails(job, registry).vertices[0].metrics["read-records"]
 * ```
 */
export function jobDetails(job: JobHandle, registry: JobRegistry): Record<string, unknown> {
  const now = job.now();
  const end = registry.endTime(job.id);
  const status = job.status;
  const vertices = job.vertices();
  const statusCounts = Object.fromEntries(EXECUTION_STATES.map((s) => [s, 0])) as Record<ExecutionState, number>;
  for (const v of vertices) statusCounts[vertexState(v, status)] += v.parallelism;
  const timestamps: Record<string, number> = {};
  for (const [s, t] of Object.entries(registry.timestamps(job.id))) timestamps[flinkJobStatus(s as JobStatus)] ??= Math.round(t);
  const runningSince = registry.timestamps(job.id).RUNNING ?? job.startTime;
  return {
    jid: job.id,
    name: job.name,
    isStoppable: status === "RUNNING",
    state: flinkJobStatus(status),
    // DESIGN.md's field; Flink's name is `state`. Both carry Flink's states.
    status: flinkJobStatus(status),
    "weir-status": status,
    "job-type": "STREAMING",
    "start-time": Math.round(job.startTime),
    "end-time": Math.round(end),
    duration: Math.round((end >= 0 ? end : now) - job.startTime),
    maxParallelism: job.maxParallelism,
    now: Math.round(now),
    timestamps,
    "status-counts": statusCounts,
    restarts: job.restarts,
    vertices: vertices.map((v) => vertexView(job, v, status, runningSince, end >= 0 ? end : now)),
    plan: jobPlan(job),
    // weir's own: what the job warns about (stateful operators without uid, a restore without checksums).
    "weir-warnings": job.warnings().map((w) => ({ code: w.code, message: w.message })),
    // weir's own: what `weir stop` appends --from-savepoint to (absent when no CLI started the job).
    ...(job.launchCommand ? { "weir-launch-command": job.launchCommand } : {}),
  };
}

/**
 * The execution state of a vertex's subtasks: they run while the job runs and an
 * execution is deployed; otherwise they share the job's fate.
 */
export function vertexState(v: VertexOverview, jobStatus: JobStatus): ExecutionState {
  switch (jobStatus) {
    case "RUNNING":
      return v.subtasks.length > 0 ? "RUNNING" : "DEPLOYING";
    case "FINISHED":
    case "STOPPED":
      return "FINISHED";
    case "CANCELED":
      return "CANCELED";
    case "FAILED":
      return "FAILED";
    case "INITIALIZING":
      return "INITIALIZING";
    default:
      return "CREATED";
  }
}

/**
 * Flink's IOMetricsInfo of a vertex (or one subtask): records are counted, bytes are not
 * (weir passes records between subtasks in memory), so byte figures are 0 and flagged
 * incomplete. Idle time is the rest of the wall time the subtasks ran.
 *
 * @example
 * ```ts
 * import { ioMetrics } from "./job_view.ts";
 * console.assert(ioMetrics([], 1000)["read-records"] === 0);
 * ```
 */
export function ioMetrics(subtasks: readonly VertexOverview["subtasks"][number][], ranMs: number): Record<string, number | boolean> {
  let readRecords = 0, writeRecords = 0, busy = 0, backpressured = 0, idle = 0, queued = 0, buffered = 0;
  for (const s of subtasks) {
    readRecords += s.recordsIn;
    writeRecords += s.recordsOut;
    busy += s.busyMs;
    backpressured += s.backpressuredMs;
    idle += Math.max(0, ranMs - s.busyMs - s.backpressuredMs);
    queued += s.queuedBatches;
    buffered += s.outputBuffered;
  }
  return {
    "read-bytes": 0,
    "read-bytes-complete": false,
    "write-bytes": 0,
    "write-bytes-complete": false,
    "read-records": readRecords,
    "read-records-complete": true,
    "write-records": writeRecords,
    "write-records-complete": true,
    "accumulated-backpressured-time": Math.round(backpressured),
    "accumulated-idle-time": Math.round(idle),
    "accumulated-busy-time": Math.round(busy * 1000) / 1000,
    "queued-batches": queued,
    "output-buffered": buffered,
  };
}

/**
 * Flink's JobVertexTaskManagersInfo for a vertex: its subtasks all on the one task manager
 * `taskManagerId` (routes/taskmanagers.ts), with the state, times, counts and metrics of the
 * vertex's row in jobDetails().
 *
 * @example
 * ```ts
 * import { vertexTaskManagers } from "./job_view.ts";
 * // vertexTaskManagers(job, vertex, registry, id) → { id, name, now, taskmanagers: [{ "taskmanager-id": id, status, "status-counts", … }] }
 * ```
 */
export function vertexTaskManagers(job: JobHandle, v: VertexOverview, registry: JobRegistry, taskManagerId: string): Record<string, unknown> {
  const now = job.now();
  const end = registry.endTime(job.id);
  const runningSince = registry.timestamps(job.id).RUNNING ?? job.startTime;
  const row = vertexView(job, v, job.status, runningSince, end >= 0 ? end : now);
  return {
    id: row.id,
    name: v.name,
    now: Math.round(now),
    taskmanagers: [{
      host: "localhost",
      "taskmanager-id": taskManagerId,
      status: row.status,
      "start-time": row["start-time"],
      "end-time": row["end-time"],
      duration: row.duration,
      metrics: row.metrics,
      "status-counts": row.tasks,
      aggregated: { metrics: {}, "status-duration": {} },
    }],
  };
}

function vertexView(job: JobHandle, v: VertexOverview, jobStatus: JobStatus, runningSince: number, until: number): Record<string, unknown> {
  const state = vertexState(v, jobStatus);
  const tasks = Object.fromEntries(EXECUTION_STATES.map((s) => [s, 0])) as Record<ExecutionState, number>;
  tasks[state] = v.parallelism;
  const ranMs = Math.max(0, until - runningSince);
  return {
    id: vertexHexId(v),
    "weir-id": v.id,
    name: v.name,
    maxParallelism: job.maxParallelism,
    parallelism: v.parallelism,
    uids: v.uids,
    status: state,
    "start-time": Math.round(runningSince),
    "end-time": isFinal(state) ? Math.round(until) : -1,
    duration: Math.round(ranMs),
    tasks,
    metrics: ioMetrics(v.subtasks, ranMs),
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

function isFinal(state: ExecutionState): boolean {
  return state === "FINISHED" || state === "CANCELED" || state === "FAILED";
}
