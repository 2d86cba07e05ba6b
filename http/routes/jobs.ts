/**
 * Jobs: list, details, cancel, exceptions and backpressure.
 * @module
 */
import { Hono } from "hono";
import { WeirError } from "../../errors.ts";
import type { ApiDeps } from "../deps.ts";
import { badRequest } from "../errors.ts";
import { jobDetails, jobSummary } from "../job_view.ts";
import { isTerminal } from "../registry.ts";

/**
 * GET /jobs, GET /jobs/:jobid, PATCH /jobs/:jobid?mode=cancel, GET /jobs/:jobid/exceptions,
 * GET /jobs/:jobid/backpressure.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { jobRoutes } from "./jobs.ts";
 * // new Hono().route("/", jobRoutes(deps));
 * ```
 */
export function jobRoutes(deps: ApiDeps): Hono {
  const { registry, sampler } = deps;
  const app = new Hono();

  app.get("/jobs", (c) => c.json({ jobs: registry.list().map((job) => jobSummary(job, registry)) }));

  app.get("/jobs/:jobid", (c) => c.json(jobDetails(registry.job(c.req.param("jobid")), registry)));

  app.patch("/jobs/:jobid", (c) => {
    const job = registry.job(c.req.param("jobid"));
    const mode = c.req.query("mode") ?? "cancel";
    if (mode !== "cancel") throw badRequest(`Query parameter mode must be "cancel", got ${JSON.stringify(mode)}; use POST /jobs/:jobid/stop to stop with a savepoint`);
    if (isTerminal(job.status)) throw new WeirError("job_not_running", `Job ${job.id} is ${job.status}, nothing to cancel`);
    // Answered before the job ends: cancel() resolves only once it has ended.
    void job.cancel();
    return c.json({}, 202);
  });

  app.get("/jobs/:jobid/exceptions", (c) => {
    const job = registry.job(c.req.param("jobid"));
    const all = registry.exceptions(job.id);
    const root = all.at(-1);
    return c.json({
      "root-exception": root ? `${root.name}: ${root.message}` : null,
      timestamp: root ? Math.round(root.timestamp) : null,
      exceptionHistory: {
        entries: all.reverse().map((e) => ({ exceptionName: e.name, message: e.message, timestamp: Math.round(e.timestamp), kind: e.kind })),
        truncated: false,
      },
    });
  });

  app.get("/jobs/:jobid/backpressure", async (c) => c.json(await sampler.sample(registry.job(c.req.param("jobid")))));

  return app;
}
