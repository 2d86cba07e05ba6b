/**
 * The only file that imports cbor-x. Everything weir persists goes through encode()
 * and decode(): a one-byte format version, then the CBOR body. Data written by a
 * future version is rejected with a clear error instead of being misread.
 * @module
 */
import { Decoder, Encoder } from "cbor-x";
import { WeirError } from "../errors.ts";

/** The format version this build writes; older versions are migrated on read. */
export const FORMAT_VERSION = 1;

// Records (cbor-x's compact object structures) stay off: persisted data must be
// readable without the encoder's in-memory structure table.
const encoder = new Encoder({ useRecords: false, tagUint8Array: true });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** Encodes a structured-cloneable value behind the version byte. */
export function encode(value: unknown): Uint8Array {
  const body = encoder.encode(value);
  const out = new Uint8Array(body.length + 1);
  out[0] = FORMAT_VERSION;
  out.set(body, 1);
  return out;
}

/** Decodes bytes written by encode(); `what` names the data in errors. CBOR maps come back as objects. */
export function decode<T = unknown>(bytes: Uint8Array, what = "data"): T {
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
    return decoder.decode(bytes.subarray(1)) as T;
  } catch (cause) {
    throw new WeirError("storage_corrupt", `Cannot decode ${what}: ${(cause as Error).message}`, { cause });
  }
}

/** Encodes record batches for channel state; records come back as plain objects. */
export function encodeRecords(records: readonly unknown[]): Uint8Array {
  return encode(records);
}

/** Decodes a batch written by encodeRecords(). */
export function decodeRecords(bytes: Uint8Array, what = "channel state"): unknown[] {
  const out = decode<unknown[]>(bytes, what);
  if (!Array.isArray(out)) throw new WeirError("storage_corrupt", `Cannot decode ${what}: not a record batch`);
  return out;
}
