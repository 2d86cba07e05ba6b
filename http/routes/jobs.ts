/**
 * Jobs: list, overview, details, status, execution result, config, plan, cancel,
 * exceptions and backpressure.
 * @module
 */
import { Hono } from "hono";
import { WeirError } from "../../errors.ts";
import type { JobHandle } from "../../runtime/job_handle.ts";
import type { ApiDeps } from "../deps.ts";
import { badRequest } from "../errors.ts";
import { flinkJobStatus, hexIdsOf } from "../flink_ids.ts";
import { jobDetails, jobOverview, jobPlan, jobSummary } from "../job_view.ts";
import { isTerminal } from "../registry.ts";
import { base64 } from "../../codec/base64.ts";
import { jobMetricValues } from "../job_metrics.ts";
import { selectNamedMetrics } from "../vertex_metrics.ts";
import { localTaskManagerId } from "./taskmanagers.ts";

/**
 * GET /jobs, /jobs/overview, /jobs/:jobid, …/status, …/execution-result, …/config, …/plan,
 * …/exceptions, …/accumulators, …/backpressure and PATCH /jobs/:jobid?mode=cancel.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { jobRoutes } from "./jobs.ts";
 * // new Hono().route("/", jobRoutes(deps));
 * ```
 */
export function jobRoutes(deps: ApiDeps): Hono {
  const { registry, sampler, reads } = deps;
  const app = new Hono();
  /** A client that saw a job's final status got what a cancel made it wait for. */
  const seen = (job: JobHandle) => {
    if (isTerminal(job.status)) reads.served(job.id, "status");
  };

  app.get("/jobs", (c) => {
    const jobs = registry.list();
    jobs.forEach(seen);
    return c.json({ jobs: jobs.map((job) => jobSummary(job, registry)) });
  });

  app.get("/jobs/:jobid/metrics", (c) => {
    const job = registry.job(c.req.param("jobid"));
    return c.json(selectNamedMetrics(jobMetricValues(job, registry.statusSince(job.id)), c.req.query("get")));
  });

  app.get("/jobs/overview", (c) => {
    const jobs = registry.list();
    jobs.forEach(seen);
    return c.json({ jobs: jobs.map((job) => jobOverview(job, registry)) });
  });

  app.get("/jobs/:jobid", (c) => {
    const job = registry.job(c.req.param("jobid"));
    seen(job);
    return c.json(jobDetails(job, registry));
  });

  app.get("/jobs/:jobid/status", (c) => {
    const job = registry.job(c.req.param("jobid"));
    seen(job);
    return c.json({ status: flinkJobStatus(job.status), "weir-status": job.status });
  });

  app.get("/jobs/:jobid/execution-result", (c) => {
    const job = registry.job(c.req.param("jobid"));
    if (!isTerminal(job.status)) return c.json({ status: { id: "IN_PROGRESS" } });
    seen(job);
    const failure = registry.exceptions(job.id).findLast((e) => e.kind === "terminal");
    const end = registry.endTime(job.id);
    const result: Record<string, unknown> = {
      id: job.id,
      jobId: job.id,
      applicationStatus: job.status === "FAILED" ? "FAILED" : job.status === "CANCELED" ? "CANCELED" : "SUCCEEDED",
      success: job.status === "FINISHED" || job.status === "STOPPED",
      "net-runtime": Math.round(end - job.startTime),
      netRuntime: Math.round(end - job.startTime),
      "accumulator-results": {},
      accumulatorResults: {},
      "weir-status": job.status,
    };
    if (failure) result["failure-cause"] = result.serializedThrowable = serializedThrowable(failure.name, failure.message);
    return c.json({ status: { id: "COMPLETED" }, "job-execution-result": result });
  });

  app.get("/jobs/:jobid/config", (c) => {
    const job = registry.job(c.req.param("jobid"));
    return c.json({
      jid: job.id,
      jobId: job.id,
      name: job.name,
      jobName: job.name,
      "execution-config": executionConfig(job),
      executionConfigInfo: executionConfig(job),
    });
  });

  app.get("/jobs/:jobid/plan", (c) => c.json({ plan: jobPlan(registry.job(c.req.param("jobid"))) }));

  app.get("/jobs/:jobid/accumulators", (c) => {
    registry.job(c.req.param("jobid"));
    // weir has no accumulators; Flink's web UI asks anyway.
    return c.json({ "job-accumulators": [], "user-task-accumulators": [], "serialized-user-task-accumulators": {} });
  });

  app.patch("/jobs/:jobid", (c) => {
    const job = registry.job(c.req.param("jobid"));
    // Flink's client sends "cancel"; its enum spells it CANCEL. "stop" went away in Flink 1.9.
    const mode = c.req.query("mode") ?? "cancel";
    if (mode.toLowerCase() !== "cancel") throw badRequest(`Query parameter mode must be "cancel", got ${JSON.stringify(mode)}; use POST /jobs/:jobid/stop to stop with a savepoint`);
    if (isTerminal(job.status)) throw new WeirError("job_not_running", `Job ${job.id} is ${job.status}, nothing to cancel`);
    reads.expect(job.id, "status");
    // Answered before the job ends: cancel() resolves only once it has ended.
    void job.cancel();
    return c.json({}, 202);
  });

  app.get("/jobs/:jobid/exceptions", (c) => {
    const job = registry.job(c.req.param("jobid"));
    const raw = c.req.query("maxExceptions");
    if (raw !== undefined && !/^\d{1,6}$/.test(raw)) throw badRequest(`Query parameter maxExceptions must be a non-negative integer, got ${JSON.stringify(raw)}`);
    const all = registry.exceptions(job.id).reverse();
    const max = raw === undefined ? all.length : Number(raw);
    const shown = all.slice(0, max);
    const root = all[0];
    const body: Record<string, unknown> = {
      "all-exceptions": shown.map((e) => ({ exception: `${e.name}: ${e.message}`, task: job.name, location: "(weir)", taskManagerId: localTaskManagerId(), timestamp: Math.round(e.timestamp) })),
      truncated: shown.length < all.length,
      exceptionHistory: {
        entries: shown.map((e) => ({
          exceptionName: e.name,
          message: e.message,
          stacktrace: `${e.name}: ${e.message}`,
          timestamp: Math.round(e.timestamp),
          taskName: job.name,
          location: "(weir)",
          taskManagerId: localTaskManagerId(),
          failureLabels: {},
          concurrentExceptions: [],
          kind: e.kind,
        })),
        truncated: shown.length < all.length,
      },
    };
    // Flink leaves these out (rather than null) when nothing failed.
    if (root) {
      body["root-exception"] = `${root.name}: ${root.message}`;
      body.timestamp = Math.round(root.timestamp);
    }
    return c.json(body);
  });

  app.get("/jobs/:jobid/backpressure", async (c) => {
    const job = registry.job(c.req.param("jobid"));
    const sample = await sampler.sample(job);
    const hex = hexIdsOf(job);
    // Vertices by Flink's 32-hex id, as everywhere else in the API; weir's own id beside it.
    return c.json({ ...sample, vertices: sample.vertices.map((v) => ({ ...v, id: hex.get(v.id) ?? v.id, "weir-id": v.id })) });
  });

  return app;
}

function executionConfig(job: JobHandle): Record<string, unknown> {
  return {
    "execution-mode": "PIPELINED",
    "restart-strategy": job.restartStrategy,
    "job-parallelism": Math.max(1, ...job.vertices().map((v) => v.parallelism)),
    "object-reuse-mode": false,
    "user-config": {},
  };
}

/** Flink's SerializedThrowable: the Java object is not there, so its bytes carry the text. */
export function serializedThrowable(name: string, message: string): Record<string, string> {
  const text = `${name}: ${message}`;
  return { class: name, message, "stack-trace": text, "serialized-throwable": base64(new TextEncoder().encode(text)) };
}
