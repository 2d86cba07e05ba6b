/**
 * The cluster-level endpoints Flink's web UI and tools read first: GET /config (web UI
 * configuration, versions), GET /overview (cluster overview) and GET /jobmanager/config.
 * weir runs in one process, which serves as its own job and task manager (taskmanagers.ts).
 * @module
 */
import { Hono } from "hono";
import type { ApiDeps } from "../deps.ts";
import { isTerminal } from "../registry.ts";
import { totalSlots } from "./taskmanagers.ts";

/** weir's version, reported beside the Flink REST version it follows. */
export const WEIR_VERSION = "0.1.0";
/** The Flink release whose REST API weir answers as. */
export const FLINK_REST_VERSION = "1.19.0";

/**
 * GET /config, /overview, /jobmanager/config.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { clusterRoutes } from "./cluster.ts";
 * // new Hono().route("/", clusterRoutes(deps, { authRequired: false }));
 * ```
 */
export function clusterRoutes(deps: ApiDeps, options: { authRequired: boolean }): Hono {
  const { registry } = deps;
  const app = new Hono();

  app.get("/config", (c) => {
    const offsetMinutes = -new Date().getTimezoneOffset();
    return c.json({
      "refresh-interval": 1000,
      "timezone-name": Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC",
      "timezone-offset": offsetMinutes * 60_000,
      "flink-version": FLINK_REST_VERSION,
      "flink-revision": `weir-${WEIR_VERSION}`,
      features: { "web-submit": false, "web-cancel": true, "web-rescale": false, "web-history": false },
      "weir-version": WEIR_VERSION,
      "auth-required": options.authRequired,
    });
  });

  app.get("/overview", (c) => {
    const jobs = registry.list();
    const count = (pred: (s: string) => boolean) => jobs.filter((j) => pred(j.status)).length;
    const slots = totalSlots(registry);
    return c.json({
      taskmanagers: 1,
      "taskmanagers-blocked": 0,
      "slots-total": slots,
      "slots-available": 0,
      "slots-free-and-blocked": 0,
      "jobs-running": count((s) => !isTerminal(s as never)),
      "jobs-finished": count((s) => s === "FINISHED" || s === "STOPPED"),
      "jobs-cancelled": count((s) => s === "CANCELED"),
      "jobs-failed": count((s) => s === "FAILED"),
      "flink-version": FLINK_REST_VERSION,
      "flink-commit": `weir-${WEIR_VERSION}`,
      "weir-version": WEIR_VERSION,
    });
  });

  app.get("/jobmanager/config", (c) => c.json([
    { key: "rest.flink-version", value: FLINK_REST_VERSION },
    { key: "weir.version", value: WEIR_VERSION },
    { key: "web.refresh-interval", value: "1000" },
  ]));

  return app;
}
