/**
 * Checkpoints: statistics, history, details (per task and subtask), config, and
 * trigger-then-poll, in the shape of Flink's REST API.
 * @module
 */
import { Hono } from "hono";
import { WeirError } from "../../errors.ts";
import type { JobHandle } from "../../runtime/job_handle.ts";
import { jsonBody } from "../body.ts";
import { flinkTaskDetails } from "../../checkpoint/flink_view.ts";
import type { ApiDeps } from "../deps.ts";
import { badRequest } from "../errors.ts";
import { findVertex, vertexHexId } from "../flink_ids.ts";
import { isTerminal } from "../registry.ts";
import { checkpointTriggerBody } from "../schemas.ts";

/**
 * GET /jobs/:jobid/checkpoints, …/config, …/details/:checkpointid,
 * …/details/:checkpointid/subtasks/:vertexid, POST /jobs/:jobid/checkpoints and
 * GET /jobs/:jobid/checkpoints/:triggerid.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { checkpointRoutes } from "./checkpoints.ts";
 * // new Hono().route("/", checkpointRoutes(deps));
 * ```
 */
export function checkpointRoutes(deps: ApiDeps): Hono {
  const { registry, triggers } = deps;
  const app = new Hono();

  app.get("/jobs/:jobid/checkpoints", (c) => {
    const job = registry.job(c.req.param("jobid"));
    return c.json(job.checkpointStats());
  });

  // Registered before "/:triggerid" so that "config" and "details" are never taken for trigger ids.
  app.get("/jobs/:jobid/checkpoints/config", (c) => c.json(flinkCheckpointConfig(registry.job(c.req.param("jobid")))));

  app.get("/jobs/:jobid/checkpoints/details/:checkpointid", (c) => {
    const job = registry.job(c.req.param("jobid"));
    return c.json(details(job, c.req.param("checkpointid"), true));
  });

  app.get("/jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid", (c) => {
    const job = registry.job(c.req.param("jobid"));
    const d = details(job, c.req.param("checkpointid"), false);
    const vertex = findVertex(job, c.req.param("vertexid"));
    const task = d.tasks[vertex.id];
    if (!task) throw new WeirError("vertex_not_found", `Checkpoint ${d.id} of job ${job.id} has no task for vertex ${vertex.name}`);
    return c.json(flinkTaskDetails(d, task, vertexHexId(vertex)));
  });

  app.post("/jobs/:jobid/checkpoints", ...jsonBody(checkpointTriggerBody), (c) => {
    const job = registry.job(c.req.param("jobid"));
    const body = c.req.valid("json");
    // A checkpoint is what `state.incremental` says (Flink's CONFIGURED); FULL or INCREMENTAL
    // is only taken when it is that, never silently the other kind.
    const configured = job.stateOptions.incremental ? "INCREMENTAL" : "FULL";
    if (body.checkpointType !== undefined && body.checkpointType !== "CONFIGURED" && body.checkpointType !== configured) {
      throw badRequest(
        `Field "checkpointType" must be "CONFIGURED" or "${configured}", got "${body.checkpointType}": this job's checkpoints are ` +
          (configured === "FULL" ? `full (state.incremental is false)` : `incremental (state.incremental, or the ${job.stateOptions.backend} backend's default); a full, self-contained copy is a savepoint (POST /jobs/${job.id}/savepoints)`),
      );
    }
    mustRun(job);
    const requestId = triggers.start(job.id, "checkpoint", () => checkpointNow(job), body.triggerId);
    return c.json({ "request-id": requestId }, 202);
  });

  app.get("/jobs/:jobid/checkpoints/:triggerid", (c) => {
    const job = registry.job(c.req.param("jobid"));
    return c.json(triggers.state(job.id, "checkpoint", c.req.param("triggerid")));
  });

  return app;
}

function details(job: JobHandle, raw: string, flink: boolean) {
  if (!/^\d{1,15}$/.test(raw)) throw badRequest(`Checkpoint id must be a non-negative integer, got ${JSON.stringify(raw)}`);
  const d = flink ? job.checkpointDetails(Number(raw)) : job.rawCheckpointDetails(Number(raw));
  if (!d) throw new WeirError("checkpoint_not_found", `Checkpoint ${raw} of job ${job.id} not found (only the latest 100 are kept)`);
  return d;
}

/**
 * Flink's CheckpointConfigInfo over weir's: the mode as Flink writes it on the wire
 * (lower case, `exactly_once`), and the state backend and changelog fields Flink's web UI
 * shows. `state_backend` is Flink's class name for heap state (`HashMapStateBackend`) and
 * `SqliteStateBackend` for sqlite (RocksDB's role); `state_changelog_enabled` is true for
 * incremental heap checkpoints (a changelog on the checkpoint storage, Flink 1.15's
 * generalized incremental checkpoints), false for sqlite's own incremental files (as
 * RocksDB's). weir materializes a base every few changelogs, not on a timer: the interval is 0.
 *
 * @example
 * ```ts
 * import { flinkCheckpointConfig } from "./checkpoints.ts";
 * // flinkCheckpointConfig(job).state_backend → "HashMapStateBackend" (state: { backend: "heap" })
 * ```
 */
export function flinkCheckpointConfig(job: JobHandle): Record<string, unknown> {
  const { backend, incremental } = job.stateOptions;
  const changelog = backend === "heap" && incremental;
  return {
    ...job.checkpointConfig(),
    state_backend: backend === "heap" ? "HashMapStateBackend" : `${backend[0].toUpperCase()}${backend.slice(1)}StateBackend`,
    checkpoints_after_tasks_finish: true,
    state_changelog_enabled: changelog,
    changelog_storage: changelog ? job.checkpointConfig().checkpoint_storage : "",
    changelog_periodic_materialization_interval: 0,
  };
}

/** Refuses work on an ended job at once, rather than as an asynchronous failure. */
export function mustRun(job: JobHandle): void {
  if (isTerminal(job.status)) throw new WeirError("job_not_running", `Job ${job.id} is ${job.status}, not running`);
}

async function checkpointNow(job: JobHandle): Promise<Record<string, unknown>> {
  const d = await job.triggerCheckpoint();
  if (d.status !== "COMPLETED") {
    throw new WeirError(d.failure_reason ?? "checkpoint_failed", d.failure_message ?? `Checkpoint ${d.id} failed`);
  }
  return { checkpointId: d.id };
}
