/**
 * Reading request bodies: JSON only, an object at the top, every field checked, and
 * unknown fields refused so that a typo ("target_directory") is reported, not ignored.
 * @module
 */
import type { Context } from "hono";
import { WeirError, describe } from "../errors.ts";
import { badRequest } from "./errors.ts";

/** A parsed JSON object body. */
export type JsonObject = Record<string, unknown>;

/**
 * Parses the body as a JSON object; an empty body is `{}`. Throws `invalid_json` on bad
 * JSON and `invalid_request` on a non-object or on fields outside `allowed`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { readJsonObject } from "./body.ts";
 * new Hono().post("/x", async (c) => c.json(await readJsonObject(c, ["drain"])));
 * ```
 */
export async function readJsonObject(c: Context, allowed: readonly string[]): Promise<JsonObject> {
  const text = await c.req.text();
  if (text.trim().length === 0) return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new WeirError("invalid_json", `Request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw badRequest(`Request body must be a JSON object, got ${describe(body)}`);
  }
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    const expected = allowed.length > 0 ? `; known fields: ${allowed.map((k) => `"${k}"`).join(", ")}` : "; this endpoint takes none";
    throw badRequest(`Unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")}${expected}`);
  }
  return body as JsonObject;
}

/**
 * The field as a boolean; `fallback` when absent.
 *
 * @example
 * ```ts
 * import { booleanField } from "./body.ts";
 * console.assert(booleanField({ drain: true }, "drain", false) === true);
 * ```
 */
export function booleanField(body: JsonObject, field: string, fallback: boolean): boolean {
  const v = body[field];
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") throw badRequest(`Field "${field}" must be a boolean, got ${describe(v)}`);
  return v;
}

/**
 * The field as a non-empty string; `undefined` when absent and not `required`.
 *
 * @example
 * ```ts
 * import { stringField } from "./body.ts";
 * console.assert(stringField({ "target-directory": "/tmp/sp" }, "target-directory", { required: true }) === "/tmp/sp");
 * ```
 */
export function stringField(body: JsonObject, field: string, options: { required: true }): string;
export function stringField(body: JsonObject, field: string, options?: { required?: false }): string | undefined;
export function stringField(body: JsonObject, field: string, options: { required?: boolean } = {}): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) {
    if (options.required) throw badRequest(`Field "${field}" is required`);
    return undefined;
  }
  if (typeof v !== "string" || v.length === 0) throw badRequest(`Field "${field}" must be a non-empty string, got ${describe(v)}`);
  return v;
}
