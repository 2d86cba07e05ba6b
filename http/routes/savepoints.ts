/**
 * Savepoints and stop-with-savepoint, both polled at GET /jobs/:jobid/savepoints/:triggerid
 * (as in Flink, where a stop's trigger id is a savepoint trigger id).
 * @module
 */
import { Hono } from "hono";
import { WeirError } from "../../errors.ts";
import type { JobHandle } from "../../runtime/job_handle.ts";
import { jsonBody } from "../body.ts";
import type { ApiDeps } from "../deps.ts";
import { badRequest } from "../errors.ts";
import { savepointTriggerBody, stopWithSavepointBody } from "../schemas.ts";
import { openDirectory } from "../../storage/directory.ts";
import { mustRun } from "./checkpoints.ts";

/**
 * POST /jobs/:jobid/savepoints, GET /jobs/:jobid/savepoints/:triggerid, POST /jobs/:jobid/stop.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { savepointRoutes } from "./savepoints.ts";
 * // new Hono().route("/", savepointRoutes(deps));
 * ```
 */
export function savepointRoutes(deps: ApiDeps): Hono {
  const { registry, triggers } = deps;
  const app = new Hono();

  app.post("/jobs/:jobid/savepoints", ...jsonBody(savepointTriggerBody), (c) => {
    const job = registry.job(c.req.param("jobid"));
    const body = c.req.valid("json");
    canonicalOnly(body.formatType);
    mustRun(job);
    targetDirectory(body["target-directory"]);
    const requestId = triggers.start(job.id, "savepoint", () => savepoint(job, body["target-directory"], body["cancel-job"] ?? false), body.triggerId);
    return c.json({ "request-id": requestId }, 202);
  });

  app.get("/jobs/:jobid/savepoints/:triggerid", (c) => {
    const job = registry.job(c.req.param("jobid"));
    return c.json(triggers.state(job.id, "savepoint", c.req.param("triggerid")));
  });

  app.post("/jobs/:jobid/stop", ...jsonBody(stopWithSavepointBody), (c) => {
    const job = registry.job(c.req.param("jobid"));
    const body = c.req.valid("json");
    canonicalOnly(body.formatType);
    mustRun(job);
    targetDirectory(body.targetDirectory);
    const work = async () => ({ location: await job.stop({ savepoint: body.targetDirectory, drain: body.drain ?? false }) });
    const requestId = triggers.start(job.id, "savepoint", work, body.triggerId);
    return c.json({ "request-id": requestId }, 202);
  });

  return app;
}

/**
 * Refuses at once (400) a target directory the runtime's storage cannot open, such as a URI
 * of a scheme it has no storage for (`s3://…`), rather than in the trigger's outcome.
 */
function targetDirectory(dir: string): void {
  try {
    openDirectory(dir, "Field target-directory");
  } catch (e) {
    if (e instanceof WeirError && e.code === "invalid_option") throw badRequest(e.message);
    // Anything else (no file system here, say) is the trigger's outcome, as before.
  }
}

/** weir savepoints are always in the canonical, relocatable format; NATIVE is refused, not ignored. */
function canonicalOnly(format: string | undefined): void {
  if (format !== undefined && format !== "CANONICAL") throw badRequest(`Field "formatType" must be "CANONICAL", got ${JSON.stringify(format)}: weir writes canonical savepoints only`);
}

async function savepoint(job: JobHandle, target: string, cancelJob: boolean): Promise<Record<string, unknown>> {
  const d = await job.triggerSavepoint(target, { cancelJob });
  // With cancel-job the handle may answer with the location only, so a missing status is a success.
  if (d.status !== undefined && d.status !== "COMPLETED") {
    throw new WeirError(d.failure_reason ?? "savepoint_failed", d.failure_message ?? `Savepoint ${d.id} failed`);
  }
  if (!d.external_path) throw new WeirError("savepoint_failed", `Savepoint ${d.id} completed without a location`);
  return { location: d.external_path };
}
