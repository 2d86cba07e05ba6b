/**
 * The type registry: how weir copies, persists and compares instances of a user's class.
 * Plain data (objects, arrays, Maps, Sets, Dates, typed arrays, primitives) needs no
 * registration; a class instance does, because neither a structured copy nor CBOR can
 * know its constructor or its `#private` fields. Registered types are CBOR extensions
 * (cbor-x `addExtension`), so every transport that serializes through codec/ (channel
 * state today, Worker and Durable Object channels tomorrow) brings them back as the same
 * class.
 * @module
 */
import { addExtension } from "cbor-x";
import { WeirError } from "../errors.ts";

/** How one class is turned into plain data and back. */
export interface TypeEncoding<T, D = unknown> {
  /**
   * CBOR tag written before the encoded data, an integer in [40000, 2^32). Defaults to a
   * hash of the class name; give one explicitly when persisted data must survive a rename.
   */
  tag?: number;
  /** The instance as plain data (anything weir can persist without registration). */
  encode(value: T): D;
  /** Rebuilds an instance from what encode() returned. */
  decode(data: D): T;
}

/** A class weir can construct an instance of; only its identity is used. */
// deno-lint-ignore no-explicit-any
export type TypeConstructor<T> = abstract new (...args: any[]) => T;

/** A registered type, as the copier and the key canonicalizer see it. */
export interface RegisteredType {
  readonly type: TypeConstructor<unknown>;
  readonly name: string;
  readonly tag: number;
  readonly encode: (value: unknown) => unknown;
  readonly decode: (data: unknown) => unknown;
}

/** Tags below this are assigned by IANA to well-known types; user types stay above. */
export const TAG_MIN = 40000;
const TAG_MAX = 0xffffffff;
/** Tags weir gives its own extensions (codec/cbor.ts): a user type there would read them as itself. */
const RESERVED_TAGS_FROM = 0x57e0ff00;
const RESERVED_TAGS_TO = 0x57e0ffff;
/** Where default tags (from the class name) start; below it, tags are chosen by hand. */
const DEFAULT_TAG_BASE = 0x57e10000;

const byType = new Map<TypeConstructor<unknown>, RegisteredType>();
const byTag = new Map<number, RegisteredType>();

function defaultTag(name: string): number {
  // FNV-1a over the name, folded into 16 bits above a weir-specific base.
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return DEFAULT_TAG_BASE + ((h >>> 0) & 0xffff);
}

/**
 * Registers how instances of a class are copied, persisted and hashed as keys. Call it
 * once at start-up, before the job runs and before restoring state that holds the type.
 * Registering the same class again replaces its encoding (same tag).
 *
 * Origin: Flink requires a TypeSerializer per record type (`registerTypeWithKryoSerializer`,
 * FLIP-398's serializer registration); here the encoding is a cbor-x extension.
 *
 * @param type the class; instances of a subclass are not covered (register it too)
 * @param encoding `encode` to plain data, `decode` back, optional CBOR `tag`
 * @throws {WeirError} `invalid_type` when type is not a class or the functions are missing;
 *   `type_conflict` when the tag is taken by another class (give an explicit `tag`)
 *
 * @example
 * ```ts
 * import { registerType } from "./type_registry.ts";
 * import { decode, encode } from "./cbor.ts";
 * class Point {
 *   #x: number;
 *   constructor(x: number) { this.#x = x; }
 *   get x(): number { return this.#x; }
 * }
 * registerType(Point, { tag: 40001, encode: (p) => p.x, decode: (x) => new Point(x as number) });
 * const back = decode<Point>(encode(new Point(3)));
 * console.assert(back instanceof Point && back.x === 3);
 * ```
 */
export function registerType<T, D = unknown>(type: TypeConstructor<T>, encoding: TypeEncoding<T, D>): void {
  if (typeof type !== "function" || !type.prototype) {
    throw new WeirError("invalid_type", `registerType needs a class, got ${typeof type}`);
  }
  const name = type.name || "(anonymous class)";
  if (!encoding || typeof encoding.encode !== "function" || typeof encoding.decode !== "function") {
    throw new WeirError("invalid_type", `registerType(${name}) needs encode and decode functions`);
  }
  if (isBuiltin(type)) throw new WeirError("invalid_type", `registerType(${name}): weir already copies and persists ${name}`);
  const tag = encoding.tag ?? defaultTag(name);
  if (!Number.isInteger(tag) || tag < TAG_MIN || tag > TAG_MAX) {
    throw new WeirError("invalid_type", `registerType(${name}): tag must be an integer in [${TAG_MIN}, ${TAG_MAX}], got ${tag}`);
  }
  if (tag >= RESERVED_TAGS_FROM && tag <= RESERVED_TAGS_TO) {
    throw new WeirError("invalid_type", `registerType(${name}): tags ${RESERVED_TAGS_FROM} … ${RESERVED_TAGS_TO} are weir's own (ArrayBuffer, DataView), got ${tag}`);
  }
  const taken = byTag.get(tag);
  if (taken && taken.type !== type) {
    throw new WeirError("type_conflict", `registerType(${name}): tag ${tag} is already used by ${taken.name}; pass another tag`);
  }
  const previous = byType.get(type);
  if (previous && previous.tag !== tag) {
    throw new WeirError("type_conflict", `registerType(${name}): it is already registered with tag ${previous.tag}, not ${tag}`);
  }
  const entry: RegisteredType = {
    type: type as TypeConstructor<unknown>,
    name,
    tag,
    encode: encoding.encode as (value: unknown) => unknown,
    decode: encoding.decode as (data: unknown) => unknown,
  };
  byType.set(entry.type, entry);
  byTag.set(tag, entry);
  // cbor-x looks an extension up by `instanceof`, newest first; the codec's own walk has
  // already refused unregistered subclasses, so only exact instances reach it.
  addExtension({
    // deno-lint-ignore no-explicit-any
    Class: type as unknown as new (...args: any[]) => unknown,
    tag,
    encode(value: unknown, encodeInner: (data: unknown) => Uint8Array) {
      return encodeInner(byTag.get(tag)!.encode(value));
    },
    decode(data: unknown): unknown {
      return byTag.get(tag)!.decode(data);
    },
  });
}

/** The registration of exactly this constructor, if any. */
export function registeredType(type: unknown): RegisteredType | undefined {
  return byType.get(type as TypeConstructor<unknown>);
}

/** Built-in classes weir copies and persists itself (see values.ts). */
export function isBuiltin(type: unknown): boolean {
  return BUILTINS.has(type);
}

const BUILTINS = new Set<unknown>([
  Object, Array, Map, Set, Date, RegExp, ArrayBuffer, DataView,
  Uint8Array, Uint8ClampedArray, Uint16Array, Uint32Array, Int8Array, Int16Array, Int32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
]);
