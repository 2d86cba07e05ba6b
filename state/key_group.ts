/**
 * Keys to key groups to subtasks, as in Flink: a key hashes (stably, the same on every
 * runtime and weir version) to one of `maxParallelism` key groups; a subtask owns a
 * contiguous range of key groups. Rescaling moves whole key groups.
 * @module
 */
import { isBuiltin, registeredType } from "../codec/type_registry.ts";
import { classOf, DEPTH_MAX, typeName } from "../codec/values.ts";
import { WeirError } from "../errors.ts";

/** Inclusive range of key groups [start, end]. */
export interface KeyGroupRange {
  start: number;
  end: number;
}

const encoder = new TextEncoder();

/** The error for a key that cannot be hashed to a key group; `part` names the offending part. */
export function invalidKey(key: unknown, part: unknown = key): WeirError {
  const what = key === undefined || key === null ? String(key) : typeName(key);
  const inner = part === key ? "" : ` holding a ${typeName(part)}`;
  return new WeirError(
    "invalid_key",
    `The key selector returned ${what}${inner}; a key must be a number, string, boolean, bigint, JSON value, ` +
      `Map, Set, Date, typed array, or an instance of a type registered with registerType`,
  );
}

/** murmur3's 32-bit finalizer: spreads every input bit over the output. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashBytes(bytes: Uint8Array): number {
  // FNV-1a over the UTF-8 bytes, finished with murmur3's mix for avalanche.
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return mix32(h);
}

function hashString(s: string): number {
  let ascii = true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
  if (!ascii) return hashBytes(encoder.encode(s));
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h);
}

/** A stable 32-bit hash of a key: numbers, strings, booleans, bigints, or JSON-able values. */
export function hashKey(key: unknown): number {
  if (key === undefined || key === null || typeof key === "function" || typeof key === "symbol") throw invalidKey(key);
  if (typeof key === "number") {
    if ((key | 0) === key) return mix32(key);
    return hashString(`n:${key}`);
  }
  if (typeof key === "string") return hashString(key);
  if (typeof key === "boolean") return key ? 0x2c1b3c6d : 0x297a2d39;
  if (typeof key === "bigint") return hashString(`b:${key}`);
  return hashString(canonicalKey(key) as string);
}

/**
 * Keys are compared by value: primitives as they are; a JSON tree (plain objects, arrays,
 * strings, finite numbers, booleans, null) by its JSON text, so that [1, 2] and [1, 2]
 * land on the same state (and on the key group they always did); anything else by a
 * tagged text of its content: a Map or Set by its entries in a canonical order, a Date by
 * its time, a typed array by its elements, a registered class by its encoding.
 *
 * Origin: Flink hashes a key through its TypeSerializer; types without a deterministic
 * form (Flink's "key type is not a valid key": POJOs without hashCode, arrays) are refused.
 *
 * @throws {WeirError} `invalid_key` naming the type of a key (or part) that has no value
 *   form: an unregistered class instance (for example one with `#private` fields), a
 *   function, a symbol, a WeakMap
 *
 * @example
 * ```ts
 * import { canonicalKey } from "./key_group.ts";
 * console.assert(canonicalKey(new Set([1, 2])) === canonicalKey(new Set([2, 1])));
 * console.assert(canonicalKey(new Set([1])) !== canonicalKey(new Set([2])));
 * ```
 */
export function canonicalKey(key: unknown): unknown {
  if (key === null || typeof key !== "object") {
    if (typeof key === "function" || typeof key === "symbol") throw invalidKey(key);
    return key;
  }
  if (isJsonTree(key, 0)) return "\u0000" + JSON.stringify(key);
  return "\u0001" + canonicalText(key, key, 0);
}

function isJsonTree(v: unknown, depth: number): boolean {
  if (depth > DEPTH_MAX) return false;
  switch (typeof v) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(v) && !Object.is(v, -0);
    case "object": {
      if (v === null) return true;
      const ctor = classOf(v as object);
      if (ctor === Array) {
        for (const e of v as unknown[]) if (!isJsonTree(e, depth + 1)) return false;
        // A hole reads as undefined and is not JSON.
        return (v as unknown[]).length === Object.keys(v as unknown[]).length;
      }
      if (ctor !== Object && ctor !== undefined) return false;
      for (const k in v) if (Object.hasOwn(v, k) && !isJsonTree((v as Record<string, unknown>)[k], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

function canonicalText(key: unknown, v: unknown, depth: number): string {
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "number":
      return Object.is(v, -0) ? "n0" : `n${v}`;
    case "bigint":
      return `b${v}`;
    case "boolean":
      return v ? "t" : "f";
    case "undefined":
      return "u";
    case "object":
      if (v === null) return "z";
      break;
    default:
      throw invalidKey(key, v);
  }
  if (depth > DEPTH_MAX) throw new WeirError("invalid_key", `The key selector returned a ${typeName(key)} nested deeper than ${DEPTH_MAX} levels (a cycle?); a key must be a value weir can compare by content`);
  const d = depth + 1;
  const obj = v as object;
  const ctor = classOf(obj);
  if (ctor === Array) return `[${(obj as unknown[]).map((e) => canonicalText(key, e, d)).join(",")}]`;
  if (ctor === Object || ctor === undefined) {
    const parts: string[] = [];
    for (const k in obj) if (Object.hasOwn(obj, k)) parts.push(`${JSON.stringify(k)}:${canonicalText(key, (obj as Record<string, unknown>)[k], d)}`);
    return `{${parts.join(",")}}`;
  }
  // Maps and Sets are equal by their entries whatever the insertion order.
  if (ctor === Map) {
    const parts = [...(obj as Map<unknown, unknown>)].map(([k, e]) => `${canonicalText(key, k, d)}=>${canonicalText(key, e, d)}`);
    return `M{${parts.sort().join(",")}}`;
  }
  if (ctor === Set) return `S{${[...(obj as Set<unknown>)].map((e) => canonicalText(key, e, d)).sort().join(",")}}`;
  if (ctor === Date) return `D${(obj as Date).getTime()}`;
  if (ctor === RegExp) return `R${String(obj)}`;
  if (ctor === ArrayBuffer) return `A[${new Uint8Array(obj as ArrayBuffer).join(",")}]`;
  if (ctor === DataView) {
    const dv = obj as DataView;
    return `V[${new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength).join(",")}]`;
  }
  if (ArrayBuffer.isView(obj) && isBuiltin(ctor)) return `${(ctor as { name: string }).name}[${(obj as Uint8Array).join(",")}]`;
  const registered = registeredType(ctor);
  if (registered) return `C${registered.tag}(${canonicalText(key, registered.encode(obj), d)})`;
  throw invalidKey(key, v);
}

/** The key group a key belongs to. */
export function keyGroupOf(key: unknown, maxParallelism: number): number {
  return hashKey(key) % maxParallelism;
}

/** The subtask that owns a key group (Flink's formula, so ranges are contiguous). */
export function subtaskForKeyGroup(keyGroup: number, parallelism: number, maxParallelism: number): number {
  return Math.floor((keyGroup * parallelism) / maxParallelism);
}

/** The key groups owned by one subtask. */
export function keyGroupRangeFor(subtask: number, parallelism: number, maxParallelism: number): KeyGroupRange {
  const start = Math.ceil((subtask * maxParallelism) / parallelism);
  const end = Math.ceil(((subtask + 1) * maxParallelism) / parallelism) - 1;
  return { start, end };
}
