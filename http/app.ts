/**
 * The REST API and dashboard as one hono app, independent of any server: serve its
 * `fetch` with Bun.serve, Deno.serve or a Worker.
 * @module
 */
import { Hono } from "hono";
import { ingestResponse } from "../connectors/ingest_endpoints.ts";
import { bodyLimit } from "hono/body-limit";
import { guardMutations } from "./auth.ts";
import { BackpressureSampler } from "./backpressure.ts";
import { DASHBOARD_CSP, dashboardHtml } from "./dashboard.ts";
import type { ApiDeps } from "./deps.ts";
import { errorResponse } from "./errors.ts";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import { type JobRegistry, jobRegistry, isTerminal } from "./registry.ts";
import { checkpointRoutes } from "./routes/checkpoints.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { savepointRoutes } from "./routes/savepoints.ts";
import { TriggerStore } from "./triggers.ts";

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
}

/**
 * Builds the app: Flink's REST paths, GET /metrics and the dashboard at GET /.
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
  const deps: ApiDeps = {
    registry: options.registry ?? jobRegistry,
    triggers: new TriggerStore(),
    sampler: options.sampler ?? new BackpressureSampler(),
  };
  const limit = options.bodyLimitBytes ?? BODY_LIMIT_BYTES_DEFAULT;
  const app = new Hono();
  app.onError(errorResponse);
  app.notFound((c) => c.json({ errors: [`Not found: ${c.req.method} ${c.req.path}`], code: "not_found" }, 404));
  app.use("*", guardMutations(options.token));
  app.use("*", bodyLimit({
    maxSize: limit,
    onError: (c) => c.json({ errors: [`Request body is larger than ${limit} bytes`], code: "payload_too_large" }, 413),
  }));

  // HttpIngestSource endpoints (connectors/): behind the token and the body limit.
  app.use("*", async (c, next) => (await ingestResponse(c.req.raw, c.req.path)) ?? next());

  app.get("/", (c) => {
    c.header("Content-Security-Policy", DASHBOARD_CSP);
    return c.html(dashboardHtml());
  });
  app.get("/config", (c) => c.json({ "refresh-interval": 1000, "weir-version": "0.1.0", "auth-required": options.token !== undefined }));
  app.get("/metrics", async (c) => {
    const jobs = deps.registry.list();
    const running = jobs.filter((j) => !isTerminal(j.status));
    const ratios = new Map(await Promise.all(running.map(async (j) => [j.id, await deps.sampler.sample(j)] as const)));
    return c.body(renderMetrics(jobs, ratios), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
  });
  app.route("/", jobRoutes(deps));
  app.route("/", checkpointRoutes(deps));
  app.route("/", savepointRoutes(deps));
  return app;
}
