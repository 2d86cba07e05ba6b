/**
 * The REST API and dashboard as one hono app, independent of any server: serve its
 * `fetch` with Bun.serve, Deno.serve or a Worker.
 * @module
 */
import { Hono } from "hono";
import { ingestResponse } from "../connectors/ingest_endpoints.ts";
import { bodyLimit } from "hono/body-limit";
import { WeirError } from "../errors.ts";
import { dashboardAsset } from "./assets.ts";
import { guardMutations } from "./auth.ts";
import { BackpressureSampler } from "./backpressure.ts";
import { DASHBOARD_CSP, dashboardHtml } from "./dashboard.ts";
import type { ApiDeps } from "./deps.ts";
import { errorResponse } from "./errors.ts";
import { FinalStatusReads } from "./final_status.ts";
import { notFoundOrNotAllowed } from "./methods.ts";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import { type JobRegistry, jobRegistry, isTerminal } from "./registry.ts";
import { checkpointRoutes } from "./routes/checkpoints.ts";
import { clusterRoutes } from "./routes/cluster.ts";
import { taskManagerRoutes } from "./routes/taskmanagers.ts";
import { disposalRoutes } from "./routes/disposal.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { savepointRoutes } from "./routes/savepoints.ts";
import { vertexRoutes } from "./routes/vertices.ts";
import { TriggerStore } from "./triggers.ts";
import { RateMeter } from "./vertex_metrics.ts";

/** Request bodies are a few small JSON fields; anything bigger is refused. */
export const BODY_LIMIT_BYTES_DEFAULT = 64 * 1024;

/** Options of {@link createApp}. */
export interface AppOptions {
  /** The jobs to serve; the process-wide registry by default. */
  registry?: JobRegistry;
  /** Bearer token for mutating endpoints; none means they are open (still same-origin only). */
  token?: string;
  bodyLimitBytes?: number;
  sampler?: BackpressureSampler;
  /**
   * Learns which clients still wait for a job's final answer; the server keeps an ended
   * job's API up until they were served (see server.ts).
   */
  finalReads?: FinalStatusReads;
  /**
   * A platform's own checks of a request, after the token guard and the body limit and
   * before any route (Cloudflare's: a savepoint target it cannot honour, an event for an
   * ended job): a Response answers the request, undefined passes it on.
   */
  before?: (request: Request) => Response | undefined | Promise<Response | undefined>;
}

/**
 * Builds the app: Flink's REST paths (answers that validate against Flink 1.19's OpenAPI
 * description), GET /metrics and the dashboard at GET /. A path that exists under other
 * methods answers 405 with `Allow`.
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * import { JobRegistry } from "./registry.ts";
 * const app = createApp({ registry: new JobRegistry() });
 * const res = await app.request("/jobs");
 * console.assert(res.status === 200);
 * ```
 */
export function createApp(options: AppOptions = {}): Hono {
  const reads = options.finalReads ?? new FinalStatusReads();
  const deps: ApiDeps = {
    registry: options.registry ?? jobRegistry,
    triggers: new TriggerStore(reads),
    sampler: options.sampler ?? new BackpressureSampler(),
    reads,
    rates: new RateMeter(),
  };
  const limit = options.bodyLimitBytes ?? BODY_LIMIT_BYTES_DEFAULT;
  // Not strict: "/jobs/" is "/jobs", as for Flink (and as the 405 check already read it).
  const app = new Hono({ strict: false });
  app.onError(errorResponse);
  app.notFound(notFoundOrNotAllowed(app));
  app.use("*", guardMutations(options.token));
  app.use("*", bodyLimit({
    maxSize: limit,
    onError: (c) => c.json({ errors: [`Request body is larger than ${limit} bytes`], code: "payload_too_large" }, 413),
  }));

  const before = options.before;
  if (before) app.use("*", async (c, next) => (await before(c.req.raw)) ?? next());
  // HttpIngestSource endpoints (connectors/): behind the token and the body limit.
  app.use("*", async (c, next) => (await ingestResponse(c.req.raw, c.req.path)) ?? next());

  app.get("/", (c) => {
    c.header("Content-Security-Policy", DASHBOARD_CSP);
    return c.html(dashboardHtml());
  });
  app.get("/assets/:name", (c) => {
    const asset = dashboardAsset(c.req.param("name"));
    if (!asset) throw new WeirError("not_found", `No asset ${JSON.stringify(c.req.param("name"))}`);
    return c.body(asset.body, 200, { "Content-Type": asset.contentType, "Cache-Control": "public, max-age=3600" });
  });
  app.get("/metrics", async (c) => {
    const jobs = deps.registry.list();
    const running = jobs.filter((j) => !isTerminal(j.status));
    const ratios = new Map(await Promise.all(running.map(async (j) => [j.id, await deps.sampler.sample(j)] as const)));
    return c.body(renderMetrics(jobs, ratios), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
  });
  app.route("/", clusterRoutes(deps, { authRequired: options.token !== undefined }));
  app.route("/", taskManagerRoutes(deps));
  app.route("/", jobRoutes(deps));
  app.route("/", vertexRoutes(deps));
  app.route("/", checkpointRoutes(deps));
  app.route("/", savepointRoutes(deps));
  app.route("/", disposalRoutes(deps));
  return app;
}
