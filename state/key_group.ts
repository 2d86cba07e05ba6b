/**
 * Keys to key groups to subtasks, as in Flink: a key hashes (stably, the same on every
 * runtime and weir version) to one of `maxParallelism` key groups; a subtask owns a
 * contiguous range of key groups. Rescaling moves whole key groups.
 * @module
 */
import { WeirError } from "../errors.ts";

/** Inclusive range of key groups [start, end]. */
export interface KeyGroupRange {
  start: number;
  end: number;
}

const encoder = new TextEncoder();

/** The error for a key that cannot be hashed to a key group. */
export function invalidKey(key: unknown): WeirError {
  return new WeirError("invalid_key", `The key selector returned ${key}; a key must be a number, string, boolean, bigint or JSON value`);
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
  if (key === undefined || key === null) throw invalidKey(key);
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
 * Keys are compared by value: primitives as they are, anything else by its JSON text,
 * so that [1, 2] and [1, 2] land on the same state.
 */
export function canonicalKey(key: unknown): unknown {
  if (key === null || typeof key !== "object") return key;
  return "\u0000" + JSON.stringify(key);
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
