/**
 * Key and value bytes of rows restored into the SQLite backend, written back to back into
 * shared buffers and handed out as views. A restore makes two byte arrays per entry; as
 * small typed arrays of their own they cost about 0.5 µs each on Deno (V8), a view of a
 * shared buffer about a tenth of that (1 M entries, measured: 0.41–0.60 s against
 * 0.04–0.06 s), and a call of cbor-x's encode() per value more still. Keys and values of
 * the common kinds (numbers, ASCII strings, booleans, null) are written here; any other
 * goes through keyBytes() and encode(), which give the same bytes (keys) or bytes that
 * decode to the same value (values: a non-integer number is always a float64 here).
 * @module
 */
import { FORMAT_VERSION, decode, encode } from "../codec/cbor.ts";
import { writeHead } from "../codec/cbor.ts";
import { keyBytes } from "./sqlite_keys.ts";

/** Bytes of each shared buffer; a row larger than that gets a buffer of its own size. */
const CHUNK_BYTES = 256 * 1024;
const TAG_STRING = 0x73;
const TAG_NUMBER = 0x6e;
/** From this length on a string value is copied by TextEncoder rather than a character at a time (faster for long ones). */
const ENCODE_INTO_MIN = 32;
const utf8 = new TextEncoder();

/**
 * Bytes keyBytes(`canonical`) takes when writeKey() can write it: a string's length and
 * tag (an ASCII one; writeKey() finds out), a number's 9; -1 for any other key.
 */
export function keyRoom(canonical: unknown): number {
  return typeof canonical === "string" ? 1 + canonical.length : typeof canonical === "number" ? 9 : -1;
}

/**
 * Writes keyBytes(`canonical`) into `buf` at `at`, given keyRoom() bytes of room; returns
 * where it ends, or -1 (nothing of it to keep) for a key keyBytes() must encode: a string
 * beyond ASCII, or a key other than a string or a number.
 */
export function writeKey(buf: Uint8Array, view: DataView, at: number, canonical: unknown): number {
  if (typeof canonical === "string") {
    const n = canonical.length;
    buf[at] = TAG_STRING;
    for (let i = 0; i < n; i++) {
      const c = canonical.charCodeAt(i);
      // Beyond ASCII: keyBytes() knows UTF-8 and lone surrogates.
      if (c > 0x7f) return -1;
      buf[at + 1 + i] = c;
    }
    return at + 1 + n;
  }
  if (typeof canonical !== "number") return -1;
  buf[at] = TAG_NUMBER;
  // As keyBytes(): 0 and -0 alike, every NaN alike.
  view.setFloat64(at + 1, canonical === 0 ? 0 : Number.isNaN(canonical) ? NaN : canonical);
  return at + 9;
}

/**
 * Bytes writeValue() may take for `v`: a number's 10, an ASCII string's length and head, 2
 * for a boolean, null or undefined; -1 for a value only encode() writes.
 */
export function valueRoom(v: unknown): number {
  switch (typeof v) {
    case "number":
      return 10;
    case "string":
      return v.length > 0xffffffff ? -1 : 6 + v.length;
    case "boolean":
    case "undefined":
      return 2;
    default:
      return v === null ? 2 : -1;
  }
}

/**
 * Writes `v` as stored (the format version byte, then its CBOR) into `buf` at `at`, given
 * valueRoom() bytes of room; returns where it ends, or -1 (nothing of it to keep) for a
 * value encode() must write (a string beyond ASCII, an object).
 */
export function writeValue(buf: Uint8Array, view: DataView, at: number, v: unknown): number {
  switch (typeof v) {
    case "number":
      return writeNumber(buf, view, at, v);
    case "string":
      return writeAscii(buf, at, v);
    case "boolean":
      return writeSimple(buf, at, v ? 0xf5 : 0xf4);
    case "undefined":
      return writeSimple(buf, at, 0xf7);
    default:
      return v === null ? writeSimple(buf, at, 0xf6) : -1;
  }
}

function writeSimple(buf: Uint8Array, at: number, b: number): number {
  buf[at] = FORMAT_VERSION;
  buf[at + 1] = b;
  return at + 2;
}

function writeNumber(buf: Uint8Array, view: DataView, at: number, v: number): number {
  buf[at++] = FORMAT_VERSION;
  if (Number.isInteger(v) && v >= -0x100000000 && v <= 0xffffffff && !Object.is(v, -0)) {
    return v >= 0 ? writeHead(buf, at, 0, v) : writeHead(buf, at, 1, -1 - v);
  }
  buf[at] = 0xfb;
  view.setFloat64(at + 1, v);
  return at + 9;
}

/** An ASCII string's bytes, or -1 for any other. */
function writeAscii(buf: Uint8Array, at: number, s: string): number {
  const n = s.length;
  buf[at++] = FORMAT_VERSION;
  const body = writeHead(buf, at, 3, n);
  if (n >= ENCODE_INTO_MIN) {
    // Into exactly n bytes: every character went in as one byte only if it was ASCII
    // (anything else takes two or more, a lone surrogate three).
    const { read, written } = utf8.encodeInto(s, buf.subarray(body, body + n));
    return read === n && written === n ? body + n : -1;
  }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return -1;
    buf[body + i] = c;
  }
  return body + n;
}

/**
 * Writes keys and values into shared buffers. Views stay valid: a full buffer is
 * replaced, never overwritten.
 *
 * @example
 * ```ts
 * import { RowBytes } from "./sqlite_row_bytes.ts";
 * import { keyBytes } from "./sqlite_keys.ts";
 * import { decode } from "../codec/cbor.ts";
 * const b = new RowBytes();
 * console.assert(b.key("k-1").join() === keyBytes("k-1").join());
 * console.assert(decode(b.value(1.5)) === 1.5 && decode(b.value("x")) === "x");
 * ```
 */
export class RowBytes {
  #buf = new Uint8Array(CHUNK_BYTES);
  #view = new DataView(this.#buf.buffer);
  #at = 0;

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    this.#buf = new Uint8Array(Math.max(CHUNK_BYTES, n));
    this.#view = new DataView(this.#buf.buffer);
    this.#at = 0;
  }

  /**
   * Writes from the start of the current buffer again: every view handed out before is
   * overwritten by what comes next. For a caller that copies each view before the next
   * write-back (a buffer per 256 KB of values, allocated outside the heap, made V8 collect
   * more often).
   */
  reuse(): void {
    this.#at = 0;
  }

  /**
   * keyBytes(canonical), as a view.
   * @throws {WeirError} `invalid_key` (from keyBytes) for a value that is not a canonical key
   */
  key(canonical: unknown): Uint8Array {
    const room = keyRoom(canonical);
    if (room < 0) return keyBytes(canonical);
    this.#room(room);
    const start = this.#at;
    const end = writeKey(this.#buf, this.#view, start, canonical);
    if (end < 0) return keyBytes(canonical);
    this.#at = end;
    return this.#buf.subarray(start, end);
  }

  /**
   * A value as stored: the format version byte, then its CBOR, as a view.
   * @throws {WeirError} `value_not_persistable` (from encode) for a value that cannot be stored
   */
  value(v: unknown): Uint8Array {
    const room = valueRoom(v);
    if (room < 0) return encode(v, "a state value");
    this.#room(room);
    const start = this.#at;
    const end = writeValue(this.#buf, this.#view, start, v);
    if (end < 0) return encode(v, "a state value");
    this.#at = end;
    return this.#buf.subarray(start, end);
  }
}

const float = new DataView(new ArrayBuffer(8));

/**
 * decode() of a stored value, read without cbor-x for the forms RowBytes writes for numbers,
 * booleans, null and undefined: a read miss of the SQLite store decodes one value per
 * record, and cbor-x makes a DataView (and on Bun an ArrayBuffer) for each. `copyBuffers`
 * as decode()'s.
 * @throws {WeirError} as decode(), naming `what`
 *
 * @example
 * ```ts
 * import { RowBytes, decodeStored } from "./sqlite_row_bytes.ts";
 * const b = new RowBytes();
 * console.assert(decodeStored(b.value(-300), "v") === -300 && decodeStored(b.value(0.5), "v") === 0.5);
 * console.assert((decodeStored(b.value({ a: 1 }), "v") as { a: number }).a === 1);
 * ```
 */
export function decodeStored(b: Uint8Array, what: string, copyBuffers = false): unknown {
  if (b[0] === FORMAT_VERSION) {
    const head = b[1];
    const major = head >> 5;
    const info = head & 0x1f;
    if (major <= 1 && info <= 26) {
      const n = info < 24 ? (b.length === 2 ? info : undefined) : uintAt(b, 2, info);
      if (n !== undefined) return major === 0 ? n : -1 - n;
    } else if (head === 0xfb && b.length === 10) {
      for (let i = 0; i < 8; i++) float.setUint8(i, b[2 + i]);
      return float.getFloat64(0);
    } else if (head >= 0xf4 && head <= 0xf7 && b.length === 2) {
      return head === 0xf4 ? false : head === 0xf5 ? true : head === 0xf6 ? null : undefined;
    }
  }
  return decode(b, what, copyBuffers);
}

/** The big-endian unsigned integer of a CBOR head's additional info 24–26 at `at`, if `b` ends right after it. */
function uintAt(b: Uint8Array, at: number, info: number): number | undefined {
  const size = info === 24 ? 1 : info === 25 ? 2 : 4;
  if (b.length !== at + size) return undefined;
  let n = 0;
  for (let i = 0; i < size; i++) n = n * 256 + b[at + i];
  return n;
}
