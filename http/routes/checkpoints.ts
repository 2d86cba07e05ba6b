/**
 * Checkpoints: statistics, history, details, config, and trigger-then-poll.
 * @module
 */
import { Hono } from "hono";
import { WeirError } from "../../errors.ts";
import type { JobHandle } from "../../runtime/job_handle.ts";
import { readJsonObject, stringField } from "../body.ts";
import type { ApiDeps } from "../deps.ts";
import { badRequest } from "../errors.ts";
import { isTerminal } from "../registry.ts";

/**
 * GET /jobs/:jobid/checkpoints, …/config, …/details/:checkpointid, POST /jobs/:jobid/checkpoints
 * and GET /jobs/:jobid/checkpoints/:triggerid.
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

  app.get("/jobs/:jobid/checkpoints", (c) => c.json(registry.job(c.req.param("jobid")).checkpointStats()));

  // Registered before "/:triggerid" so that "config" and "details" are never taken for trigger ids.
  app.get("/jobs/:jobid/checkpoints/config", (c) => c.json(registry.job(c.req.param("jobid")).checkpointConfig()));

  app.get("/jobs/:jobid/checkpoints/details/:checkpointid", (c) => {
    const job = registry.job(c.req.param("jobid"));
    const raw = c.req.param("checkpointid");
    if (!/^\d{1,15}$/.test(raw)) throw badRequest(`Checkpoint id must be a non-negative integer, got ${JSON.stringify(raw)}`);
    const details = job.checkpointDetails(Number(raw));
    if (!details) throw new WeirError("checkpoint_not_found", `Checkpoint ${raw} of job ${job.id} not found (only the latest 100 are kept)`);
    return c.json(details);
  });

  app.post("/jobs/:jobid/checkpoints", async (c) => {
    const job = registry.job(c.req.param("jobid"));
    const body = await readJsonObject(c, ["checkpointType", "triggerId"]);
    const type = stringField(body, "checkpointType");
    // weir checkpoints are always full; Flink's CONFIGURED and FULL both mean exactly that.
    if (type !== undefined && type !== "CONFIGURED" && type !== "FULL") {
      throw badRequest(`Field "checkpointType" must be "CONFIGURED" or "FULL", got ${JSON.stringify(type)}`);
    }
    mustRun(job);
    const requestId = triggers.start(job.id, "checkpoint", () => checkpointNow(job), stringField(body, "triggerId"));
    return c.json({ "request-id": requestId }, 202);
  });

  app.get("/jobs/:jobid/checkpoints/:triggerid", (c) => {
    const job = registry.job(c.req.param("jobid"));
    return c.json(triggers.state(job.id, "checkpoint", c.req.param("triggerid")));
  });

  return app;
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
