/**
 * One job vertex as Flink's web UI and tools read it: details with per-subtask attempts,
 * backpressure, watermarks, metrics in Flink's metric query form, subtask times and
 * accumulators. A vertex is named by its 32-hex id (or weir's `v<n>`).
 * @module
 */
import { Hono } from "hono";
import { WeirError } from "../../errors.ts";
import type { JobHandle, VertexOverview } from "../../runtime/job_handle.ts";
import type { ApiDeps } from "../deps.ts";

import { findVertex, vertexHexId } from "../flink_ids.ts";
import { ioMetrics, vertexState, vertexTaskManagers } from "../job_view.ts";
import { aggregateMetrics, selectMetrics, selectNamedMetrics, subtaskMetricValues, watermarkMetrics } from "../vertex_metrics.ts";
import { localTaskManagerId } from "./taskmanagers.ts";

/**
 * GET /jobs/:jobid/vertices/:vertexid and its …/backpressure, …/watermarks, …/metrics,
 * …/subtasks/metrics, …/subtasks/:subtaskindex, …/subtasktimes, …/accumulators.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { vertexRoutes } from "./vertices.ts";
 * // new Hono().route("/", vertexRoutes(deps));
 * ```
 */
export function vertexRoutes(deps: ApiDeps): Hono {
  const { registry, sampler } = deps;
  const app = new Hono();
  const lookup = (jobId: string, vertexId: string) => {
    const job = registry.job(jobId);
    return { job, vertex: findVertex(job, vertexId) };
  };

  app.get("/jobs/:jobid/vertices/:vertexid", (c) => {
    const { job, vertex } = lookup(c.req.param("jobid"), c.req.param("vertexid"));
    const since = runningSince(deps, job);
    return c.json({
      id: vertexHexId(vertex),
      "weir-id": vertex.id,
      name: vertex.name,
      parallelism: vertex.parallelism,
      maxParallelism: job.maxParallelism,
      now: Math.round(job.now()),
      subtasks: vertex.subtasks.map((s) => subtaskAttempt(job, vertex, s, since)),
      aggregated: { metrics: {}, "status-duration": {} },
    });
  });

  // The vertex's subtasks by task manager: all on the one (taskmanagers.ts).
  app.get("/jobs/:jobid/vertices/:vertexid/taskmanagers", (c) => {
    const { job, vertex } = lookup(c.req.param("jobid"), c.req.param("vertexid"));
    return c.json(vertexTaskManagers(job, vertex, registry, localTaskManagerId()));
  });

  app.get("/jobs/:jobid/vertices/:vertexid/backpressure", async (c) => {
    const { job, vertex } = lookup(c.req.param("jobid"), c.req.param("vertexid"));
    const sample = await sampler.sample(job);
    const v = sample.vertices.find((x) => x.id === vertex.id);
    const subtasks = (v?.subtasks ?? []).map((s) => ({
      subtask: s.subtask,
      "attempt-number": 0,
      // Flink writes "backpressure-level"; its generated OpenAPI file calls it backpressureLevel.
      "backpressure-level": s["backpressure-level"],
      backpressureLevel: s["backpressure-level"],
      ratio: s.ratio,
      busyRatio: s.busyRatio,
      idleRatio: s.idleRatio,
      "other-concurrent-attempts": [],
    }));
    const level = v?.["backpressure-level"] ?? "ok";
    return c.json({ status: "ok", "backpressure-level": level, backpressureLevel: level, "end-timestamp": Math.round(v?.["end-timestamp"] ?? job.now()), subtasks });
  });

  app.get("/jobs/:jobid/vertices/:vertexid/watermarks", (c) => {
    const { job, vertex } = lookup(c.req.param("jobid"), c.req.param("vertexid"));
    return c.json(watermarkMetrics(subtaskMetricValues(job.id, vertex, deps.rates, job.now())));
  });

  app.get("/jobs/:jobid/vertices/:vertexid/metrics", (c) => {
    const { job, vertex } = lookup(c.req.param("jobid"), c.req.param("vertexid"));
    return c.json(selectMetrics(subtaskMetricValues(job.id, vertex, deps.rates, job.now()), c.req.query("get")));
  });

  app.get("/jobs/:jobid/vertices/:vertexid/subtasks/metrics", (c) => {
    const { job, vertex } = lookup(c.req.param("jobid"), c.req.param("vertexid"));
    return c.json(aggregateMetrics(subtaskMetricValues(job.id, vertex, deps.rates, job.now()), { get: c.req.query("get"), agg: c.req.query("agg"), subtasks: c.req.query("subtasks") }));
  });

  app.get("/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/metrics", (c) => {
    const { job, vertex } = lookup(c.req.param("jobid"), c.req.param("vertexid"));
    const raw = c.req.param("subtaskindex");
    const values = subtaskMetricValues(job.id, vertex, deps.rates, job.now()).get(/^\d{1,6}$/.test(raw) ? Number(raw) : -1);
    if (!values) throw new WeirError("subtask_not_found", `Subtask ${JSON.stringify(raw)} of vertex ${vertex.name} not found; it has ${vertex.subtasks.length} running subtasks (0-${vertex.subtasks.length - 1})`);
    return c.json(selectNamedMetrics(values, c.req.query("get")));
  });

  // After …/subtasks/metrics, so that "metrics" is never taken for a subtask index.
  app.get("/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex", (c) => {
    const { job, vertex } = lookup(c.req.param("jobid"), c.req.param("vertexid"));
    const raw = c.req.param("subtaskindex");
    const s = /^\d{1,6}$/.test(raw) ? vertex.subtasks.find((x) => x.index === Number(raw)) : undefined;
    if (!s) throw new WeirError("subtask_not_found", `Subtask ${JSON.stringify(raw)} of vertex ${vertex.name} not found; it has ${vertex.subtasks.length} running subtasks (0-${vertex.subtasks.length - 1})`);
    return c.json(subtaskAttempt(job, vertex, s, runningSince(deps, job)));
  });

  app.get("/jobs/:jobid/vertices/:vertexid/subtasktimes", (c) => {
    const { job, vertex } = lookup(c.req.param("jobid"), c.req.param("vertexid"));
    const since = Math.round(runningSince(deps, job));
    const now = Math.round(job.now());
    return c.json({
      id: vertexHexId(vertex),
      name: vertex.name,
      now,
      subtasks: vertex.subtasks.map((s) => ({ subtask: s.index, host: "localhost", duration: now - since, timestamps: { RUNNING: since } })),
    });
  });

  app.get("/jobs/:jobid/vertices/:vertexid/accumulators", (c) => {
    const { vertex } = lookup(c.req.param("jobid"), c.req.param("vertexid"));
    return c.json({ id: vertexHexId(vertex), "user-accumulators": [] });
  });

  return app;
}

function runningSince(deps: ApiDeps, job: JobHandle): number {
  return deps.registry.timestamps(job.id).RUNNING ?? job.startTime;
}

/** Flink's SubtaskExecutionAttemptDetailsInfo for one subtask (weir runs every subtask in this process). */
function subtaskAttempt(job: JobHandle, vertex: VertexOverview, s: VertexOverview["subtasks"][number], since: number): Record<string, unknown> {
  const now = job.now();
  const state = vertexState(vertex, job.status);
  return {
    subtask: s.index,
    status: state,
    attempt: job.restarts,
    host: "localhost",
    endpoint: "localhost",
    "taskmanager-id": localTaskManagerId(),
    "start-time": Math.round(since),
    "end-time": -1,
    duration: Math.round(now - since),
    metrics: ioMetrics([s], Math.max(0, now - since)),
    "status-duration": { [state]: Math.round(now - since) },
    "other-concurrent-attempts": [],
  };
}


