/**
 * Reads one operator's snapshot from a state file for a restore, as decode() would, but
 * with its keyed tables' key groups left encoded until something reads them
 * (state/encoded_tables.ts): the SQLite backend copies them into its database file as
 * bytes, every other reader decodes them on first access.
 * @module
 */
import { FORMAT_VERSION, decode, decodeItem } from "../codec/cbor.ts";
import { CborScanner, MAJOR_MAP, MAJOR_TEXT } from "../codec/cbor_scan.ts";
import type { OperatorSnapshot } from "../dataflow/operator.ts";
import { readLazyTables } from "../state/encoded_tables.ts";
import { readKeyedHandle, type StoredKeyedHandle } from "../state/keyed_handle_codec.ts";

/**
 * The operator snapshot in `bytes` (written by encode()); `what` names it in errors.
 * Data of an older format version, or of another shape, is decoded whole by decode().
 * @throws {WeirError} `storage_corrupt` for bytes that end early or are not CBOR;
 *   `format_unsupported` for a newer format version
 *
 * @example
 * ```ts
 * import { encode } from "../codec/cbor.ts";
 * import { readOperatorSnapshot } from "./operator_snapshot_read.ts";
 * const snap = readOperatorSnapshot(encode({ keyed: { n: { kind: "value", groups: [[1, [["k", 2]]]] } }, operator: [7] }), "doc");
 * console.assert(snap.operator?.[0] === 7 && snap.keyed?.n.groups[0][1][0][1] === 2);
 * ```
 */
export function readOperatorSnapshot(bytes: Uint8Array, what: string): OperatorSnapshot {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2 || bytes[0] !== FORMAT_VERSION) return decodeOperatorSnapshot(bytes, what);
  const s = new CborScanner(bytes, 1, what);
  s.head();
  if (s.major !== MAJOR_MAP) return decodeOperatorSnapshot(bytes, what);
  const out: Record<string, unknown> = {};
  for (let n = s.argument; n > 0; n--) {
    const keyAt = s.at;
    s.head();
    s.at = keyAt;
    if (s.major !== MAJOR_TEXT) return decodeOperatorSnapshot(bytes, what);
    const field = s.propertyName();
    if (field === "keyed") out.keyed = readLazyTables(s, what);
    else {
      const start = s.at;
      s.skip();
      out[field] = decodeItem(bytes, start, s.at, what);
    }
  }
  // Bytes after the map: let decode() judge them as it always has.
  if (s.at !== bytes.length) return decodeOperatorSnapshot(bytes, what);
  return withKeyedHandle(out as OperatorSnapshot, what);
}

/**
 * The operator snapshot in `bytes`, decoded whole (its keyed tables too).
 * @throws {WeirError} as readOperatorSnapshot(); `checkpoint_corrupt` for a keyed state
 *   handle whose list of shared files is not one
 */
export function decodeOperatorSnapshot(bytes: Uint8Array, what: string): OperatorSnapshot {
  return withKeyedHandle(decode<OperatorSnapshot>(bytes, what), what);
}

/** The snapshot with its keyed state handle as the backends read it (state/keyed_handle_codec.ts). */
function withKeyedHandle(snap: OperatorSnapshot, what: string): OperatorSnapshot {
  if (snap === null || typeof snap !== "object" || !snap.keyedHandle) return snap;
  return { ...snap, keyedHandle: readKeyedHandle(snap.keyedHandle as unknown as StoredKeyedHandle, what) };
}
