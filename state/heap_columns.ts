/**
 * Typed columns of the heap's own checkpoint files (format 3, heap_changelog.ts): a column
 * of keys or values of one key group is written in the form that decodes in bulk when all
 * its items allow it, and as a plain CBOR array otherwise (format 2's only form):
 * - `{ i32: bytes }`: every item an integer in int32 range (not -0), 4 bytes little-endian each;
 * - `{ f64: bytes }`: every item a number, 8 bytes little-endian each (NaN, ±Infinity, -0 kept);
 * - `{ str: text, ends: bytes }`: every item a well-formed string, concatenated into one
 *   CBOR text string, with the end of each (UTF-16 code units, uint32 little-endian): one
 *   UTF-8 decode per column and a slice per item. A lone surrogate would not survive UTF-8
 *   (TextEncoder makes it U+FFFD), so such a column stays an array.
 * A decoded column is an Int32Array, a Float64Array or an array: no CBOR item per entry.
 * A column of fewer than {@link TYPED_COLUMN_ITEMS_MIN} items is an array whatever its
 * items: typed forms decode faster but cost bytes (a key group's column of one int32 key
 * took 10 bytes, of one short string 24, as an array 4 and 10), and a changelog of 1 % of
 * the keys has one or two keys per key group.
 * @module
 */
import type { CborWriter } from "../codec/cbor_writer.ts";
import { isWellFormed } from "../codec/values.ts";
import { WeirError } from "../errors.ts";

/** How a column is written; see the module doc. */
export type ColumnForm = "i32" | "f64" | "str" | "array";

/**
 * A string column's text is written in one step: longer ones (UTF-16 code units) stay
 * arrays, written a budget of items at a time, so that no step encodes megabytes at once.
 */
export const STRING_COLUMN_UNITS_MAX = 1 << 20;

/** The fewest items a column needs to be written in a typed form. */
export const TYPED_COLUMN_ITEMS_MIN = 16;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The form a column is written in (one pass over its items).
 *
 * @example
 * ```ts
 * import { columnForm } from "./heap_columns.ts";
 * const many = <T>(v: T): T[] => new Array(16).fill(v);
 * console.assert(columnForm(many(1)) === "i32" && columnForm(many(0.5)) === "f64");
 * console.assert(columnForm(many("é")) === "str" && columnForm(many({ a: 1 })) === "array");
 * console.assert(columnForm([1, 2]) === "array");
 * ```
 */
export function columnForm(items: ArrayLike<unknown>): ColumnForm {
  const n = items.length;
  if (n < TYPED_COLUMN_ITEMS_MIN) return "array";
  const first = items[0];
  if (typeof first === "number") {
    let i32 = true;
    for (let i = 0; i < n; i++) {
      const v = items[i];
      if (typeof v !== "number") return "array";
      if (i32 && ((v | 0) !== v || Object.is(v, -0))) i32 = false;
    }
    return i32 ? "i32" : "f64";
  }
  if (typeof first === "string") {
    let units = 0;
    for (let i = 0; i < n; i++) {
      const v = items[i];
      if (typeof v !== "string" || !isWellFormed(v)) return "array";
      units += v.length;
    }
    return units <= STRING_COLUMN_UNITS_MAX ? "str" : "array";
  }
  return "array";
}

/** Writes a string column's map (`{ str, ends }`) in one go. */
export function writeStringColumn(w: CborWriter, items: readonly unknown[]): void {
  const n = items.length;
  const ends = new DataView(new ArrayBuffer(4 * n));
  let at = 0;
  for (let i = 0; i < n; i++) {
    at += (items[i] as string).length;
    ends.setUint32(4 * i, at, true);
  }
  const text = new TextEncoder().encode((items as string[]).join(""));
  w.head(5, 2);
  w.value("str");
  w.head(3, text.length);
  w.raw(text);
  w.value("ends");
  w.head(2, 4 * n);
  w.raw(new Uint8Array(ends.buffer));
}

/** Writes the head of a number column (`{ i32 | f64: bytes }`); its items follow via writeNumbers(). */
export function writeNumberColumnHead(w: CborWriter, form: "i32" | "f64", n: number): void {
  w.head(5, 1);
  w.value(form);
  w.head(2, (form === "i32" ? 4 : 8) * n);
}

/** Where writeNumbers converts float64 items to int32 (steps run one at a time, on one thread). */
const INT32_SCRATCH = new Int32Array(16384);
const INT32_SCRATCH_BYTES = new Uint8Array(INT32_SCRATCH.buffer);

/**
 * Writes items `from` … `to` - 1 of a number column, little-endian. A column a
 * ColumnBuilder kept as a Float64Array is copied in bulk (f64) or converted by the typed
 * array itself (i32), not item by item through a DataView: encoding a heap changelog's
 * columns of a million keys took 35–61 ms of the subtask's steps per checkpoint on Bun.
 */
export function writeNumbers(w: CborWriter, form: "i32" | "f64", items: ArrayLike<unknown>, from: number, to: number): void {
  if (LITTLE_ENDIAN && items instanceof Float64Array) {
    if (form === "f64") w.raw(new Uint8Array(items.buffer, items.byteOffset + 8 * from, 8 * (to - from)));
    else {
      // Through one scratch array: a fresh Int32Array per call cost 10 times the conversion.
      for (let at = from; at < to; at += INT32_SCRATCH.length) {
        const n = Math.min(INT32_SCRATCH.length, to - at);
        INT32_SCRATCH.set(items.subarray(at, at + n));
        w.raw(INT32_SCRATCH_BYTES.subarray(0, 4 * n));
      }
    }
    return;
  }
  const size = form === "i32" ? 4 : 8;
  const view = new DataView(new ArrayBuffer(size * (to - from)));
  if (form === "i32") for (let i = from; i < to; i++) view.setInt32(4 * (i - from), items[i] as number, true);
  else for (let i = from; i < to; i++) view.setFloat64(8 * (i - from), items[i] as number, true);
  w.raw(new Uint8Array(view.buffer));
}

/**
 * A decoded column as items: an array as it is, a typed form (format 3 and later only)
 * turned into its typed array or strings.
 *
 * @example
 * ```ts
 * import { columnForm, readColumn, writeNumberColumnHead, writeNumbers } from "./heap_columns.ts";
 * import { CborWriter } from "../codec/cbor_writer.ts";
 * import { decode } from "../codec/cbor.ts";
 * const items = [3, -7];
 * const w = new CborWriter();
 * writeNumberColumnHead(w, "i32", items.length);
 * writeNumbers(w, "i32", items, 0, items.length);
 * const back = readColumn(decode(w.bytes()), true, () => "doc");
 * // Two items would be written as an array (fewer than TYPED_COLUMN_ITEMS_MIN); written typed, they read back typed.
 * console.assert(columnForm(items) === "array" && back instanceof Int32Array && back[1] === -7);
 * ```
 * @throws {WeirError} `checkpoint_corrupt` naming the state and key group for a column
 *   that is neither, or whose bytes or ends do not add up
 */
export function readColumn(c: unknown, typed: boolean, where: () => string): ArrayLike<unknown> {
  if (Array.isArray(c)) return c;
  const bad = (why: string) => new WeirError("checkpoint_corrupt", `${where()} has a column that ${why}`);
  if (!typed || typeof c !== "object" || c === null) throw bad("is not an array");
  const col = c as Record<string, unknown>;
  if (col.i32 !== undefined) return numbers(col.i32, 4, bad);
  if (col.f64 !== undefined) return numbers(col.f64, 8, bad);
  if (typeof col.str === "string" && col.ends instanceof Uint8Array) {
    const text = col.str;
    const ends = col.ends;
    if (ends.length % 4 !== 0) throw bad(`has ${ends.length} bytes of string ends`);
    const view = new DataView(ends.buffer, ends.byteOffset, ends.byteLength);
    const n = ends.length / 4;
    const out = new Array<string>(n);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const end = view.getUint32(4 * i, true);
      if (end < at || end > text.length) throw bad(`ends string ${i} at ${end}, outside ${at} … ${text.length}`);
      out[i] = text.slice(at, end);
      at = end;
    }
    if (at !== text.length) throw bad(`ends its last string at ${at} of ${text.length}`);
    return out;
  }
  throw bad(`has none of the forms i32, f64, str (keys: ${Object.keys(col).join(", ")})`);
}

function numbers(bytes: unknown, size: 4 | 8, bad: (why: string) => WeirError): Int32Array | Float64Array {
  if (!(bytes instanceof Uint8Array) || bytes.length % size !== 0) {
    throw bad(`holds ${bytes instanceof Uint8Array ? bytes.length : typeof bytes} bytes for ${size}-byte numbers`);
  }
  const n = bytes.length / size;
  if (LITTLE_ENDIAN) {
    // A copy: the bytes may sit at any offset of the file's buffer, a typed array may not.
    const own = bytes.slice().buffer;
    return size === 4 ? new Int32Array(own, 0, n) : new Float64Array(own, 0, n);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = size === 4 ? new Int32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = size === 4 ? view.getInt32(4 * i, true) : view.getFloat64(8 * i, true);
  return out;
}
