/**
 * With type_registry.ts, the only place that imports cbor-x. Everything weir persists
 * goes through encode() and decode(): a one-byte format version, then the CBOR body. Data
 * written by a future version is rejected with a clear error instead of being misread.
 * A value that CBOR would bring back as another kind of value (a class instance as a
 * plain object) is refused before it is written.
 * @module
 */
import { Decoder, Encoder, addExtension } from "cbor-x";
import { writeHead } from "./cbor_head.ts";
import { WeirError } from "../errors.ts";
import { lastCheckedHeldNegativeZero, unpersistablePart } from "./values.ts";

export { writeHead };

/** The format version this build writes; older versions are migrated on read. */
export const FORMAT_VERSION = 1;

// Records (cbor-x's compact object structures) stay off: persisted data must be
// readable without the encoder's in-memory structure table.
const encoder = new Encoder({ useRecords: false, tagUint8Array: true });
/** For values holding -0: see encoderFor(). */
const floatEncoder = new Encoder({ useRecords: false, tagUint8Array: true, alwaysUseFloat: true });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });
// For bytes that are a view into a larger buffer: a byte string decoded as a view would keep
// the whole buffer alive for as long as the value lives.
const copyingDecoder = new Decoder({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

// cbor-x writes an ArrayBuffer as an untagged byte string, which reads back as a
// Uint8Array, and a DataView as an empty map: both get a tag of their own (in weir's
// private range) so that they read back as what was stored.
addExtension({
  Class: ArrayBuffer,
  tag: 0x57e0ff00,
  encode: (b: ArrayBuffer, inner: (v: unknown) => Uint8Array) => inner(new Uint8Array(b)),
  decode: (bytes: Uint8Array) => bytes.slice().buffer,
});
addExtension({
  Class: DataView,
  tag: 0x57e0ff01,
  encode: (d: DataView, inner: (v: unknown) => Uint8Array) => inner(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)),
  decode: (bytes: Uint8Array) => new DataView(bytes.slice().buffer),
});

/**
 * Checks a value and picks the encoder for it: cbor-x writes -0 as the integer 0, which
 * reads back as +0, so a value holding -0 (at any depth, a Map key or Set element too) is
 * written with every number a float64, which every CBOR reader, an older weir included,
 * reads back as the same numbers, -0 with its sign. Integers in such a value take 9 bytes
 * rather than 1–5; values with -0 are rare.
 * @throws {WeirError} `value_not_persistable` (see encode)
 */
function encoderFor(value: unknown, what: string): Encoder {
  const bad = unpersistablePart(value);
  if (bad !== undefined) throw new WeirError("value_not_persistable", `Cannot persist ${what}: ${bad}`);
  return lastCheckedHeldNegativeZero() ? floatEncoder : encoder;
}

/**
 * Encodes a value behind the version byte.
 * @throws {WeirError} `value_not_persistable` when part of it (an unregistered class
 *   instance, a function, a symbol) would not read back as itself; the message names it
 */
export function encode(value: unknown, what = "value"): Uint8Array {
  const body = encoderFor(value, what).encode(value);
  const out = new Uint8Array(body.length + 1);
  out[0] = FORMAT_VERSION;
  out.set(body, 1);
  return out;
}

/**
 * The CBOR body of a value without the version byte: a part that encodeParts() puts
 * together with others into what encode() would have written.
 * @throws {WeirError} `value_not_persistable` (see encode)
 *
 * @example
 * ```ts
 * import { decode, encodeBody, encodeParts } from "./cbor.ts";
 * const bytes = encodeParts([{ map: 1 }, encodeBody("a"), encodeBody([1, 2])]);
 * console.assert(decode<{ a: number[] }>(bytes).a[1] === 2);
 * ```
 */
export function encodeBody(value: unknown, what = "value"): Uint8Array {
  // The encoder reuses its buffer: the body is copied out before the next encode.
  return encoderFor(value, what).encode(value).slice();
}

/**
 * A CBOR head standing for a container whose items follow as separate parts: `{ map: n }`
 * (n key/value pairs), `{ array: n }`, or `{ bytes: n }` (a Uint8Array of n bytes, tagged
 * as cbor-x tags it, whose content is the next part).
 */
export type CborHead = { map: number } | { array: number } | { bytes: number };

/**
 * What encode() writes for a value given as parts: heads and encoded bodies, in CBOR
 * order. Large states are encoded piece by piece (between records) and put together here
 * with one copy, where encoding them whole would stop the subtask for as long as it takes.
 */
export function encodeParts(parts: (CborHead | Uint8Array)[]): Uint8Array {
  const bodies = parts.map((p) => (p instanceof Uint8Array ? p : head(p)));
  let size = 1;
  for (const b of bodies) size += b.length;
  const out = new Uint8Array(size);
  out[0] = FORMAT_VERSION;
  let at = 1;
  for (const b of bodies) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * The bytes encodeParts() writes, as a list of buffers whose concatenation they are: large
 * bodies are handed on as they are (no copy), runs of small heads and bodies are joined
 * into buffers of at most `joinBytesMax`. A file of parts is written with
 * storage's putInParts(), so a large state never sits in memory twice.
 */
export function encodePartsList(parts: (CborHead | Uint8Array)[], joinBytesMax = 64 * 1024, versionByte = true): Uint8Array[] {
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = versionByte ? [Uint8Array.of(FORMAT_VERSION)] : [];
  let runBytes = run.length;
  const flush = () => {
    if (run.length === 0) return;
    if (run.length === 1) out.push(run[0]);
    else {
      const joined = new Uint8Array(runBytes);
      let at = 0;
      for (const b of run) {
        joined.set(b, at);
        at += b.length;
      }
      out.push(joined);
    }
    run = [];
    runBytes = 0;
  };
  for (const p of parts) {
    const b = p instanceof Uint8Array ? p : head(p);
    if (b.length === 0) continue;
    if (b.length >= joinBytesMax) {
      flush();
      out.push(b);
      continue;
    }
    if (runBytes + b.length > joinBytesMax) flush();
    run.push(b);
    runBytes += b.length;
  }
  flush();
  return out;
}

/** The bytes of one head, as encodeParts() writes it. */
export function encodeHead(h: CborHead): Uint8Array {
  return head(h);
}

function head(h: CborHead): Uint8Array {
  if ("map" in h) return cborHead(5, h.map);
  if ("array" in h) return cborHead(4, h.array);
  // Tag 64 (uint8 typed array, RFC 8746), as cbor-x writes a Uint8Array with tagUint8Array.
  const tag = cborHead(6, 64);
  const len = cborHead(2, h.bytes);
  const out = new Uint8Array(tag.length + len.length);
  out.set(tag);
  out.set(len, tag.length);
  return out;
}

/**
 * The head of a CBOR item of major type `major` (0–7) with argument `n` (a length or a
 * count): a text string's bytes follow cborHead(3, bytes) as they are.
 * @throws {WeirError} `value_not_persistable` for 2^32 or more
 */
export function cborHead(major: number, n: number): Uint8Array {
  const out = new Uint8Array(cborHeadLength(n));
  writeHead(out, 0, major, n);
  return out;
}

/**
 * Bytes of a CBOR head for a count or length of `n`: 1, 2, 3 or 5.
 * @throws {WeirError} `value_not_persistable` from 2^32 on
 */
export function cborHeadLength(n: number): number {
  if (n < 24) return 1;
  if (n < 0x100) return 2;
  if (n < 0x10000) return 3;
  if (n < 0x100000000) return 5;
  throw new WeirError("value_not_persistable", `Cannot persist a CBOR item of ${n} parts or bytes`);
}

/**
 * Decodes bytes written by encode(); `what` names the data in errors. CBOR maps come back as
 * objects. A Uint8Array in the value is a view into `bytes` unless `copyBuffers` (for bytes
 * that share their buffer with other data which should not live as long as the value).
 */
export function decode<T = unknown>(bytes: Uint8Array, what = "data", copyBuffers = false): T {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
    throw new WeirError("storage_corrupt", `Cannot decode ${what}: it is empty`);
  }
  const version = bytes[0];
  if (version > FORMAT_VERSION) {
    throw new WeirError(
      "format_unsupported",
      `Cannot decode ${what}: it was written by format version ${version}, this weir reads up to ${FORMAT_VERSION}`,
    );
  }
  if (version === 0) throw new WeirError("storage_corrupt", `Cannot decode ${what}: format version 0 is invalid`);
  try {
    return (copyBuffers ? copyingDecoder : decoder).decode(bytes.subarray(1)) as T;
  } catch (cause) {
    throw new WeirError("storage_corrupt", `Cannot decode ${what}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Decodes the CBOR item at [start, end) of bytes that decode() accepts (their version byte
 * checked by the caller): a part of a larger item, as codec/cbor_scan.ts finds it.
 * @throws {WeirError} `storage_corrupt` naming `what`
 */
export function decodeItem<T = unknown>(bytes: Uint8Array, start: number, end: number, what = "data"): T {
  try {
    return decoder.decode(bytes.subarray(start, end)) as T;
  } catch (cause) {
    throw new WeirError("storage_corrupt", `Cannot decode ${what}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Encodes record batches for channel state; records come back as the same kind of
 * value (registered classes as their class).
 * @throws {WeirError} `value_not_persistable` naming a record's type that would not
 */
export function encodeRecords(records: readonly unknown[]): Uint8Array {
  return encode(records, "an in-flight record");
}

/** Decodes a batch written by encodeRecords(). */
export function decodeRecords(bytes: Uint8Array, what = "channel state"): unknown[] {
  const out = decode<unknown[]>(bytes, what);
  if (!Array.isArray(out)) throw new WeirError("storage_corrupt", `Cannot decode ${what}: not a record batch`);
  return out;
}
