/**
 * 405 Method Not Allowed: a path that exists under other methods is answered with the
 * methods it takes in an `Allow` header (RFC 9110 §15.5.6), not with a 404 that suggests
 * the path is wrong.
 * @module
 */
import type { Context, Hono } from "hono";

interface RoutePattern {
  pattern: RegExp;
  method: string;
}

/**
 * The methods the app's routes take for `path`, sorted (HEAD where GET is, as hono answers
 * HEAD with the GET route); empty when no route matches it under any method.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { allowedMethods } from "./methods.ts";
 * const app = new Hono().get("/jobs/:id", (c) => c.text("ok"));
 * console.assert(allowedMethods(app, "/jobs/1").join() === "GET,HEAD");
 * ```
 */
export function allowedMethods(app: Hono, path: string): string[] {
  const methods = new Set<string>();
  for (const r of patterns(app)) if (r.pattern.test(path)) methods.add(r.method);
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}

const cache = new WeakMap<Hono, { count: number; routes: RoutePattern[] }>();

function patterns(app: Hono): RoutePattern[] {
  const cached = cache.get(app);
  if (cached && cached.count === app.routes.length) return cached.routes;
  // Middleware (app.use) is registered as method "ALL" and matches every path: not a route.
  const routes = app.routes.filter((r) => r.method !== "ALL").map((r) => ({ pattern: toRegExp(r.path), method: r.method }));
  cache.set(app, { count: app.routes.length, routes });
  return routes;
}

function toRegExp(path: string): RegExp {
  const source = path.split("/").map((part) => {
    if (part === "*") return ".*";
    if (part.startsWith(":")) return "[^/]+";
    return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }).join("/");
  return new RegExp(`^${source}/?$`);
}

/**
 * The app's not-found answer: a 405 with `Allow` when the path exists under another
 * method, else Flink's 404 body.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { notFoundOrNotAllowed } from "./methods.ts";
 * const app = new Hono().get("/jobs", (c) => c.text("ok"));
 * app.notFound(notFoundOrNotAllowed(app));
 * const res = await app.request("/jobs", { method: "DELETE" });
 * console.assert(res.status === 405 && res.headers.get("allow") === "GET, HEAD");
 * ```
 */
export function notFoundOrNotAllowed(app: Hono): (c: Context) => Response {
  return (c) => {
    const allow = allowedMethods(app, c.req.path);
    if (allow.length > 0) {
      c.header("Allow", allow.join(", "));
      return c.json({ errors: [`Method ${c.req.method} is not allowed on ${c.req.path}; allowed: ${allow.join(", ")}`], code: "method_not_allowed" }, 405);
    }
    return c.json({ errors: [`Not found: ${c.req.method} ${c.req.path}`], code: "not_found" }, 404);
  };
}
