/**
 * Reading request bodies: JSON only, an object at the top, then checked by the endpoint's
 * zod schema (schemas.ts) through hono's validator. Every refusal is a WeirError that names
 * the field, so clients get Flink's `{"errors": [...]}` with weir's `code`.
 * @module
 */
import { zValidator } from "@hono/zod-validator";
import type { Context, MiddlewareHandler } from "hono";
import type { z } from "zod";
import { WeirError, describe } from "../errors.ts";
import { badRequest } from "./errors.ts";

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Middleware for a JSON body checked by `schema`; the handler reads the parsed value with
 * `c.req.valid("json")`. An empty body is `{}` (Flink's CLI sends none for defaults);
 * malformed JSON is `invalid_json`; a body of another media type is `unsupported_media_type`
 * (hono's validator would otherwise ignore it silently); a non-object body, an unknown
 * field or a wrong value is `invalid_request` naming the field.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { z } from "zod";
 * import { jsonBody } from "./body.ts";
 * const app = new Hono().post("/x", ...jsonBody(z.strictObject({ drain: z.boolean().optional() })), (c) => c.json(c.req.valid("json")));
 * const res = await app.request("/x", { method: "POST", body: '{"drain":true}', headers: { "content-type": "application/json" } });
 * console.assert(res.status === 200);
 * ```
 */
export function jsonBody<S extends z.ZodObject>(schema: S) {
  const known = Object.keys(schema.shape);
  const parse: MiddlewareHandler = async (c, next) => {
    await preParse(c, known);
    return next();
  };
  const validate = zValidator("json", schema, (result) => {
    if (!result.success) throw badRequest(describeIssues(result.error.issues as unknown as Issue[], result.data, known));
  });
  return [parse, validate] as const;
}

/** Reads the body once, so that refusals come before the schema and name the real problem. */
async function preParse(c: Context, known: readonly string[]): Promise<void> {
  const text = await c.req.text();
  const contentType = c.req.header("content-type")?.split(";")[0].trim() ?? "";
  if (text.trim().length === 0) {
    // hono's validator would fail on an empty JSON body; Flink treats it as all defaults.
    // hono's json() parses its cached text (older versions read a cached json): both say {}.
    const cache = c.req.bodyCache as { json?: Promise<unknown>; text?: Promise<string> };
    cache.json = Promise.resolve({});
    cache.text = Promise.resolve("{}");
    return;
  }
  if (!JSON_MEDIA_TYPE.test(contentType)) {
    throw new WeirError("unsupported_media_type", `Request body must be sent as Content-Type: application/json, got ${contentType ? JSON.stringify(contentType) : "none"}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new WeirError("invalid_json", `Request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw badRequest(`Request body must be a JSON object, got ${describe(body)}`);
  }
  // Flink's own client (Jackson) writes a field it leaves unset as null ("triggerId": null):
  // such a field is absent, and a required one is then reported as missing. An unknown
  // field stays, to be refused by name.
  const fields = body as Record<string, unknown>;
  const unset = (k: string, v: unknown) => v === null && known.includes(k);
  if (Object.entries(fields).some(([k, v]) => unset(k, v))) {
    const present = Object.fromEntries(Object.entries(fields).filter(([k, v]) => !unset(k, v)));
    const cache = c.req.bodyCache as { json?: Promise<unknown>; text?: Promise<string> };
    cache.json = Promise.resolve(present);
    cache.text = Promise.resolve(JSON.stringify(present));
  }
}

interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  values?: unknown[];
  expected?: string;
}

/** One sentence per issue, each naming the field: zod's own texts do not say which one. */
function describeIssues(issues: readonly Issue[], body: unknown, known: readonly string[]): string {
  return issues.map((i) => {
    const field = i.path.length > 0 ? `Field "${i.path.map(String).join(".")}"` : "Request body";
    const got = valueAt(body, i.path);
    switch (i.code) {
      case "unrecognized_keys": {
        const expected = known.length > 0 ? `; known fields: ${known.map((k) => `"${k}"`).join(", ")}` : "; this endpoint takes none";
        return `Unknown field${i.keys!.length > 1 ? "s" : ""} ${i.keys!.map((k) => `"${k}"`).join(", ")}${expected}`;
      }
      case "invalid_value":
        return `${field} must be one of ${i.values!.map((v) => JSON.stringify(v)).join(", ")}, got ${describe(got)}`;
      case "invalid_type":
        return got === undefined ? `${field} is required` : `${field} must be a ${i.expected}, got ${describe(got)}`;
      default:
        return `${field} ${i.message}, got ${describe(got)}`;
    }
  }).join("; ");
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let v = body;
  for (const k of path) v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}
