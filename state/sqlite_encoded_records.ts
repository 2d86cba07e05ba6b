/**
 * Records of the SQLite backend's `kv` table straight from a savepoint's CBOR: for a key
 * group whose entries (`[key, value]` arrays) have ASCII string keys in ascending order, as
 * a SQLite backend's savepoint writes them, each key's bytes and each value's whole item
 * are copied into the record (the row stores a value as encode() writes it: the format
 * version, then the item), with no value decoded. Any other key group is left to the
 * caller, which decodes it.
 * @module
 */
import { CborScanner, MAJOR_ARRAY, MAJOR_TEXT } from "../codec/cbor_scan.ts";
import type { EncodedGroupRange, EncodedTableSource } from "./encoded_tables.ts";
import type { KvRecords } from "./sqlite_records.ts";

/**
 * Appends the records of key group `group` of `source` for state `sid`: true when done;
 * false for a record over `recordBytesMax`; undefined (nothing added) when a key is not
 * an ASCII string or not greater than the one before it (unsorted, or held twice).
 * @throws {WeirError} `storage_corrupt` for entries that end early or are not CBOR
 *
 * @example
 * ```ts
 * import { CborScanner } from "../codec/cbor_scan.ts";
 * import { encode } from "../codec/cbor.ts";
 * import { encodedSource, readLazyTables } from "./encoded_tables.ts";
 * import { KvRecords } from "./sqlite_records.ts";
 * import { encodedGroupRecords } from "./sqlite_encoded_records.ts";
 * const tables = readLazyTables(new CborScanner(encode({ n: { kind: "value", groups: [[3, [["a", 1], ["b", { x: 2 }]]]] } }), 1, "doc"), "doc");
 * const source = encodedSource(tables.n)!;
 * const records = new KvRecords();
 * console.assert(encodedGroupRecords(records, source, source.groups[0], 0, 1000) === true && records.count === 2);
 * ```
 */
export function encodedGroupRecords(records: KvRecords, source: EncodedTableSource, group: EncodedGroupRange, sid: number, recordBytesMax: number): boolean | undefined {
  const bytes = source.bytes;
  const s = new CborScanner(bytes, group.first, source.what);
  const first = records.count;
  const undo = () => {
    records.truncate(first);
    return undefined;
  };
  let previous = -1;
  let previousLength = 0;
  for (let i = group.entries; i > 0; i--) {
    s.head();
    if (s.major !== MAJOR_ARRAY || s.argument !== 2) return undo();
    s.head();
    if (s.major !== MAJOR_TEXT || s.at + s.argument > group.end) return undo();
    const key = s.at;
    const keyLength = s.argument;
    if (previous >= 0 && !bytesAfter(bytes, previous, previousLength, key, keyLength)) return undo();
    previous = key;
    previousLength = keyLength;
    s.at = key + keyLength;
    const value = s.at;
    s.skip();
    if (s.at > group.end) return undo();
    const size = records.addEncoded(group.keyGroup, sid, bytes, key, keyLength, value, s.at);
    if (size < 0) return undo();
    if (size > recordBytesMax) return false;
  }
  return s.at === group.end ? true : undo();
}

/** True when bytes[b, b + bLength) sort after bytes[a, a + aLength) (a shorter prefix sorts first). */
function bytesAfter(bytes: Uint8Array, a: number, aLength: number, b: number, bLength: number): boolean {
  const n = aLength < bLength ? aLength : bLength;
  for (let i = 0; i < n; i++) {
    const x = bytes[a + i];
    const y = bytes[b + i];
    if (x !== y) return y > x;
  }
  return bLength > aLength;
}
