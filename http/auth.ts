/**
 * Guards the endpoints that change something (POST, PATCH, PUT, DELETE): an optional
 * bearer token, and a same-origin check so that a web page in the user's browser cannot
 * trigger savepoints on a localhost API through a cross-site form post.
 * @module
 */
import type { MiddlewareHandler } from "hono";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Middleware refusing mutating requests without `Authorization: Bearer <token>` (401)
 * when a token is set, and mutating requests from another origin (403) always.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { guardMutations } from "./auth.ts";
 * const app = new Hono().use("*", guardMutations("secret"));
 * ```
 */
export function guardMutations(token: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (SAFE_METHODS.has(c.req.method)) return next();
    const origin = c.req.header("origin");
    if (origin !== undefined && origin !== new URL(c.req.url).origin) {
      return c.json({ errors: [`Cross-origin ${c.req.method} from ${origin} refused`], code: "forbidden_origin" }, 403);
    }
    if (token !== undefined && !sameToken(bearerOf(c.req.header("authorization")), token)) {
      // An unread body makes workerd reset the connection the 401 goes on: a small one is
      // read and dropped, a larger (or unsized) one let go.
      const size = Number(c.req.header("content-length"));
      await (size <= 64 * 1024 ? c.req.raw.arrayBuffer() : c.req.raw.body?.cancel())?.catch(() => {});
      c.header("WWW-Authenticate", 'Bearer realm="weir"');
      return c.json({ errors: [`${c.req.method} ${c.req.path} needs the bearer token: send "Authorization: Bearer <token>" (WEIR_TOKEN)`], code: "unauthorized" }, 401);
    }
    return next();
  };
}

function bearerOf(header: string | undefined): string | undefined {
  const m = header?.match(/^Bearer\s+(.+)$/i);
  return m?.[1].trim();
}

/** Compares in time independent of where the strings differ, so the token cannot be guessed byte by byte. */
function sameToken(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i] ?? 0) ^ b[i];
  return diff === 0;
}
