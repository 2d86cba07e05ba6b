/**
 * NATS subject matching: whether every subject a filter (with `*` and `>` wildcards) can
 * match is one a stream's subject pattern captures, as the server checks a consumer's
 * filter against its stream (it refused one outside with an error that read as the server
 * being down).
 * @module
 */

/**
 * True when every subject `filter` matches is matched by `pattern` (`*`: one token, `>`:
 * one or more tokens, last).
 *
 * @example
 * ```ts
 * import { subjectWithin } from "./nats_subjects.ts";
 * console.assert(subjectWithin("orders.eu.*", "orders.>") && subjectWithin("orders.eu", "orders.*"));
 * console.assert(!subjectWithin("orders.>", "orders.*") && !subjectWithin("other.x", "orders.>"));
 * ```
 */
export function subjectWithin(filter: string, pattern: string): boolean {
  const f = filter.split(".");
  const p = pattern.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return f.length > i;
    if (i >= f.length) return false;
    if (p[i] === "*") {
      if (f[i] === ">") return false;
      continue;
    }
    if (f[i] !== p[i]) return false;
  }
  return f.length === p.length;
}
