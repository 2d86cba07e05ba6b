/**
 * Canonical keys (key_group.ts) as the bytes of the SQLite backend's primary key. Every
 * canonical key is a primitive: a number, string, boolean or bigint, so one tag byte and
 * the payload are enough. Keys are BLOBs, not TEXT: Deno's node:sqlite cuts TEXT at a NUL,
 * which object keys' canonical texts start with. A well-formed string is stored as UTF-8;
 * one with a lone surrogate (which UTF-8 would turn into U+FFFD, merging it with another
 * key) as UTF-16 code units under its own tag. A string always gets the same form, so
 * the two never collide.
 * @module
 */
import { isWellFormed } from "../codec/values.ts";
import { WeirError } from "../errors.ts";

const TAG_STRING = 0x73; // "s": UTF-8
/** The first byte of a key stored as UTF-8: the rest is the string's UTF-8 bytes. */
export const KEY_TAG_UTF8 = TAG_STRING;
const TAG_UTF16 = 0x75; // "u": UTF-16 code units, big-endian
const TAG_NUMBER = 0x6e; // "n"
const TAG_TRUE = 0x74; // "t"
const TAG_FALSE = 0x66; // "f"
const TAG_BIGINT = 0x62; // "b"

const f64 = new DataView(new ArrayBuffer(8));
const f64Bytes = new Uint8Array(f64.buffer);

function stringBytes(tag: number, s: string): Uint8Array {
  const out = new Uint8Array(1 + 2 * s.length);
  out[0] = tag;
  for (let i = 0, j = 1; i < s.length; i++, j += 2) {
    const c = s.charCodeAt(i);
    out[j] = c >>> 8;
    out[j + 1] = c & 0xff;
  }
  return out;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

function utf8Bytes(s: string): Uint8Array {
  // ASCII (most keys) byte by byte: TextEncoder's call costs more than the copy for short
  // keys, and the buffer it needs is three times the length (1 M keys: ~1.9 s -> ~0.1 s).
  const n = s.length;
  const ascii = new Uint8Array(1 + n);
  ascii[0] = TAG_STRING;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) break;
    ascii[i + 1] = c;
  }
  if (i === n) return ascii;
  // At most 3 bytes per UTF-16 code unit.
  const out = new Uint8Array(1 + 3 * s.length);
  out[0] = TAG_STRING;
  const { written } = utf8.encodeInto(s, out.subarray(1));
  return out.subarray(0, 1 + written);
}

function bytesString(b: Uint8Array): string {
  let out = "";
  const CHUNK = 4096;
  for (let i = 1; i < b.length; i += 2 * CHUNK) {
    const end = Math.min(b.length, i + 2 * CHUNK);
    const codes: number[] = [];
    for (let j = i; j + 1 < end; j += 2) codes.push((b[j] << 8) | b[j + 1]);
    out += String.fromCharCode(...codes);
  }
  return out;
}

/**
 * The key bytes of a canonical key. Keys equal under SameValueZero (as a heap Map compares
 * them: 0 and -0, every NaN) get the same bytes.
 * @throws {WeirError} `invalid_key` for a value that is not a canonical key
 *
 * @example
 * ```ts
 * import { keyBytes, keyFromBytes } from "./sqlite_keys.ts";
 * console.assert(keyFromBytes(keyBytes("a\u0000b")) === "a\u0000b");
 * console.assert(keyBytes(1)[0] !== keyBytes("1")[0]);
 * ```
 */
export function keyBytes(canonical: unknown): Uint8Array {
  switch (typeof canonical) {
    case "string":
      return isWellFormed(canonical) ? utf8Bytes(canonical) : stringBytes(TAG_UTF16, canonical);
    case "number": {
      // Big-endian, so ascending integer keys append to their key group's end of the B-tree.
      f64.setFloat64(0, canonical === 0 ? 0 : Number.isNaN(canonical) ? NaN : canonical);
      const out = new Uint8Array(9);
      out[0] = TAG_NUMBER;
      out.set(f64Bytes, 1);
      return out;
    }
    case "boolean":
      return new Uint8Array([canonical ? TAG_TRUE : TAG_FALSE]);
    case "bigint":
      return stringBytes(TAG_BIGINT, canonical.toString());
    default:
      throw new WeirError("invalid_key", `A canonical key must be a string, number, boolean or bigint, got ${typeof canonical}`);
  }
}

/**
 * The canonical key back from its bytes.
 * @throws {WeirError} `storage_corrupt` for bytes keyBytes() did not write
 *
 * @example
 * ```ts
 * import { keyBytes, keyFromBytes } from "./sqlite_keys.ts";
 * console.assert(keyFromBytes(keyBytes(12n)) === 12n && keyFromBytes(keyBytes(-0.5)) === -0.5);
 * ```
 */
export function keyFromBytes(b: Uint8Array): unknown {
  switch (b[0]) {
    case TAG_STRING:
      return utf8Decoder.decode(b.subarray(1));
    case TAG_UTF16:
      return bytesString(b);
    case TAG_NUMBER:
      if (b.length !== 9) break;
      f64Bytes.set(b.subarray(1, 9));
      return f64.getFloat64(0);
    case TAG_TRUE:
      return true;
    case TAG_FALSE:
      return false;
    case TAG_BIGINT:
      return BigInt(bytesString(b));
  }
  throw new WeirError("storage_corrupt", `A key in the SQLite state database has an unknown tag ${b[0]} (${b.length} bytes)`);
}
