/**
 * Whether JSON carries a record as it is: sinks that write JSON (FileSink's JSON lines,
 * PostgresSink's rows, NATS and Redis message bodies) refuse a record JSON would change
 * without a word (NaN and ±Infinity become null, a Map or Set an empty object, a function
 * in an array null), as weir refuses state it cannot persist faithfully (values.ts).
 * `undefined` as a property is left out, as an absent property (a row's unset column).
 * @module
 */

import { DEPTH_MAX } from "./values.ts";

/**
 * The first part of `value` JSON would not carry as it is, as a message naming where it
 * sits under `path`, or undefined when JSON.stringify() keeps all of it (a Date and any
 * object with toJSON() are written as they say).
 *
 * @example
 * ```ts
 * import { jsonUnfaithfulPart } from "./json_values.ts";
 * console.assert(jsonUnfaithfulPart({ a: [1, "x", null], d: new Date(0) }) === undefined);
 * console.assert(jsonUnfaithfulPart({ a: NaN }) === "record.a is NaN, which JSON writes as null");
 * console.assert(jsonUnfaithfulPart({ m: new Map() }) === "record.m is a Map, which JSON writes as {}");
 * ```
 */
export function jsonUnfaithfulPart(value: unknown, path = "record"): string | undefined {
  return check(value, path, 0, false);
}

function check(v: unknown, path: string, depth: number, inArray: boolean): string | undefined {
  switch (typeof v) {
    case "number":
      return Number.isFinite(v) ? undefined : `${path} is ${v}, which JSON writes as null`;
    case "bigint":
      return `${path} is a BigInt, which JSON cannot write`;
    case "function":
    case "symbol":
      return `${path} is a ${typeof v}, which JSON ${inArray ? "writes as null" : "leaves out"}`;
    case "undefined":
      return inArray ? `${path} is undefined, which JSON writes as null` : undefined;
    case "object":
      break;
    default:
      return undefined;
  }
  if (v === null || typeof (v as { toJSON?: unknown }).toJSON === "function") return undefined;
  if (depth > DEPTH_MAX) return `${path} nests deeper than ${DEPTH_MAX} levels (a cycle?)`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = check(v[i], `${path}[${i}]`, depth + 1, true);
      if (bad) return bad;
    }
    return undefined;
  }
  if (v instanceof Map || v instanceof Set) return `${path} is a ${v instanceof Map ? "Map" : "Set"}, which JSON writes as {}`;
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return `${path} is a ${v.constructor.name}, which JSON does not write as bytes`;
  for (const k of Object.keys(v)) {
    const bad = check((v as Record<string, unknown>)[k], `${path}.${k}`, depth + 1, false);
    if (bad) return bad;
  }
  return undefined;
}
