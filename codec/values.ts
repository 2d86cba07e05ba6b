/**
 * Records are values: what weir can copy and persist faithfully, and the copy itself.
 * Faithful means the copy (or the decoded bytes) is the same kind of value with the same
 * content: plain objects and arrays, Map, Set, Date, RegExp, typed arrays, ArrayBuffer,
 * DataView, primitives, and instances of classes registered with `registerType`. Anything
 * else (an unregistered class instance, a function, a symbol, a WeakMap, a Promise) is
 * refused with a WeirError naming its type — never silently turned into something else.
 * A string with a lone surrogate copies as it is but is not persisted: CBOR text is
 * UTF-8, which cannot carry it (it would read back with U+FFFD in its place).
 * @module
 */
import { WeirError } from "../errors.ts";
import { isBuiltin, registeredType } from "./type_registry.ts";

/** Nesting beyond this is taken for a cycle: copies and persisted values are trees. */
export const DEPTH_MAX = 512;

/**
 * The class of an object by its prototype, not by its `constructor` property, which a
 * plain object may have as a field of its own (`{ constructor: "x" }`). Undefined for an
 * object without prototype (a plain dictionary).
 */
export function classOf(value: object): unknown {
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype) return Object;
  if (proto === null) return undefined;
  return proto.constructor;
}

/** The name of a value's type for error messages: `Set`, `class Point`, `function f`. */
export function typeName(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  if (typeof value !== "object") return typeof value;
  const proto = Object.getPrototypeOf(value);
  if (proto === null) return "object";
  const ctor = proto.constructor;
  const name = typeof ctor === "function" && ctor.name ? ctor.name : "(anonymous)";
  return isBuiltin(ctor) ? name : `class ${name}`;
}

function notCopyable(value: unknown, why: string): WeirError {
  return new WeirError(
    "record_not_copyable",
    `Cannot copy a record holding a ${typeName(value)}: ${why}`,
  );
}

const UNREGISTERED = "register its type with registerType(Class, { encode, decode }), or set objectReuse: true";

/**
 * A deep copy of a record that is the same kind of value: primitives come back as they
 * are (no allocation), plain objects and arrays are copied field by field, built-ins by
 * their constructors, registered classes through their encoding.
 *
 * Origin: Flink's TypeSerializer.copy, used between chained operators unless object
 * reuse is enabled (`ExecutionConfig.enableObjectReuse`).
 *
 * @throws {WeirError} `record_not_copyable` for a function, symbol, unregistered class
 *   instance or a cycle, naming the type
 *
 * @example
 * ```ts
 * import { copyValue } from "./values.ts";
 * const a = { tags: new Set(["x"]), at: new Date(0) };
 * const b = copyValue(a);
 * b.tags.add("y");
 * console.assert(a.tags.size === 1 && b.at instanceof Date);
 * ```
 */
export function copyValue<T>(value: T): T {
  if (typeof value !== "object" || value === null) {
    if (typeof value === "function" || typeof value === "symbol") throw notCopyable(value, "it has no value to copy");
    return value;
  }
  return copyObject(value, 0) as T;
}

function copyObject(value: object, depth: number): unknown {
  if (depth > DEPTH_MAX) throw notCopyable(value, `it nests deeper than ${DEPTH_MAX} levels (a cycle?)`);
  const ctor = classOf(value);
  if (ctor === Object || ctor === undefined) {
    const out: Record<string, unknown> = ctor === undefined ? Object.create(null) : {};
    for (const k in value) {
      if (Object.hasOwn(value, k)) out[k] = copyAny((value as Record<string, unknown>)[k], depth);
    }
    return out;
  }
  if (ctor === Array) {
    const a = value as unknown[];
    const out = new Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = copyAny(a[i], depth);
    return out;
  }
  if (ctor === Map) {
    const out = new Map();
    for (const [k, v] of value as Map<unknown, unknown>) out.set(copyAny(k, depth), copyAny(v, depth));
    return out;
  }
  if (ctor === Set) {
    const out = new Set();
    for (const v of value as Set<unknown>) out.add(copyAny(v, depth));
    return out;
  }
  if (ctor === Date) return new Date((value as Date).getTime());
  if (ctor === RegExp) {
    const r = new RegExp(value as RegExp);
    r.lastIndex = (value as RegExp).lastIndex;
    return r;
  }
  if (ArrayBuffer.isView(value) && isBuiltin(ctor)) {
    if (ctor === DataView) {
      const d = value as DataView;
      return new DataView(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
    }
    return (value as Uint8Array).slice();
  }
  if (ctor === ArrayBuffer) return (value as ArrayBuffer).slice(0);
  const registered = registeredType(ctor);
  if (registered) return registered.decode(copyAny(registered.encode(value), depth));
  throw notCopyable(value, isBuiltin(ctor) ? "weir does not copy it" : UNREGISTERED);
}

function copyAny(v: unknown, depth: number): unknown {
  if (typeof v !== "object" || v === null) {
    if (typeof v === "function" || typeof v === "symbol") throw notCopyable(v, "it has no value to copy");
    return v;
  }
  return copyObject(v, depth + 1);
}

/**
 * Copies the records of a batch. A batch of primitives is returned as it is (the fast
 * path: no allocation); otherwise a new array of copies.
 *
 * @throws {WeirError} `record_not_copyable`, as copyValue
 *
 * @example
 * ```ts
 * import { copyBatch } from "./values.ts";
 * const ints = [1, 2, 3];
 * console.assert(copyBatch(ints) === ints);
 * const objs = [{ n: 1 }];
 * console.assert(copyBatch(objs)[0] !== objs[0]);
 * ```
 */
export function copyBatch(batch: unknown[]): unknown[] {
  const n = batch.length;
  for (let i = 0; i < n; i++) {
    const v = batch[i];
    if ((typeof v === "object" && v !== null) || typeof v === "function" || typeof v === "symbol") {
      const out = batch.slice();
      for (let j = i; j < n; j++) out[j] = copyValue(out[j]);
      return out;
    }
  }
  return batch;
}

/**
 * Whether a string has no lone surrogate, so that UTF-8 carries it as it is
 * (`String.prototype.isWellFormed`, ES2024, where the runtime has it).
 *
 * @example
 * ```ts
 * import { isWellFormed } from "./values.ts";
 * console.assert(isWellFormed("a\u{1F600}") && !isWellFormed("a\uD800"));
 * ```
 */
export function isWellFormed(s: string): boolean {
  const native = (s as { isWellFormed?: () => boolean }).isWellFormed;
  if (native) return native.call(s);
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** A part that is a string UTF-8 cannot carry, or undefined. */
function illFormed(s: string, path: string): string | undefined {
  if (isWellFormed(s)) return undefined;
  const shown = s.length > 40 ? `${JSON.stringify(s.slice(0, 40)).slice(0, -1)}…"` : JSON.stringify(s);
  return `${path} is a string with a lone surrogate (${shown}), which UTF-8 cannot carry: it would read back with U+FFFD in its place`;
}

/**
 * The first part of a value that cannot be persisted faithfully, as a message, or
 * undefined when the whole value can. Persisting (cbor.ts) calls this first, so that a
 * class instance is never written as a plain object.
 */
export function unpersistablePart(value: unknown): string | undefined {
  negativeZero = false;
  return check(value, 0, "value");
}

/** Set by check() on meeting -0 anywhere in the value. */
let negativeZero = false;

/**
 * Whether the value unpersistablePart() last looked at holds -0 (read at once after it,
 * on the same turn): cbor-x writes -0 as the integer 0, so such a value is encoded in a
 * form that keeps its sign (cbor.ts).
 */
export function lastCheckedHeldNegativeZero(): boolean {
  return negativeZero;
}

function check(v: unknown, depth: number, path: string): string | undefined {
  switch (typeof v) {
    case "number":
      if (v === 0 && 1 / v < 0) negativeZero = true;
      return undefined;
    case "function":
    case "symbol":
      return `${path} is a ${typeName(v)}, which has no value to persist`;
    case "string":
      return illFormed(v, path);
    case "object":
      break;
    default:
      return undefined;
  }
  if (v === null) return undefined;
  if (depth > DEPTH_MAX) return `${path} nests deeper than ${DEPTH_MAX} levels (a cycle?)`;
  const ctor = classOf(v as object);
  if (ctor === Array) {
    const a = v as unknown[];
    for (let i = 0; i < a.length; i++) {
      const e = a[i];
      if (typeof e === "number") {
        if (e === 0 && 1 / e < 0) negativeZero = true;
      } else if (typeof e === "object" || typeof e === "function" || typeof e === "symbol" || typeof e === "string") {
        const bad = check(e, depth + 1, `${path}[${i}]`);
        if (bad) return bad;
      }
    }
    return undefined;
  }
  if (ctor === Object || ctor === undefined) {
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue;
      const badKey = illFormed(k, `${path} (a key)`);
      if (badKey) return badKey;
      const e = (v as Record<string, unknown>)[k];
      if (typeof e === "number") {
        if (e === 0 && 1 / e < 0) negativeZero = true;
      } else if (typeof e === "object" || typeof e === "function" || typeof e === "symbol" || typeof e === "string") {
        const bad = check(e, depth + 1, `${path}.${k}`);
        if (bad) return bad;
      }
    }
    return undefined;
  }
  if (ctor === Map) {
    for (const [k, e] of v as Map<unknown, unknown>) {
      const bad = check(k, depth + 1, `${path} (a Map key)`) ?? check(e, depth + 1, `${path}.get(${String(k)})`);
      if (bad) return bad;
    }
    return undefined;
  }
  if (ctor === Set) {
    for (const e of v as Set<unknown>) {
      const bad = check(e, depth + 1, `${path} (a Set element)`);
      if (bad) return bad;
    }
    return undefined;
  }
  if (isBuiltin(ctor)) return undefined;
  const registered = registeredType(ctor);
  // What its encode() gives is what cbor-x writes: it must persist as it is too.
  if (registered) return check(registered.encode(v), depth + 1, `${path} (as ${registered.name} encodes it)`);
  return `${path} is an instance of ${typeName(v)}, which is not registered: register it with registerType(Class, { encode, decode })`;
}
