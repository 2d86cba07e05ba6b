/**
 * A restore of canonical tables into an empty SQLite backend, as a database file written
 * whole (sqlite_btree_file.ts) rather than row by row: the rows of every table and key
 * group of the backend's range are put in primary-key order (key group, state id, key)
 * and encoded as records here. Tables that do not fit that path (a key held twice, a
 * record that needs an overflow page) are left to the row-by-row path.
 * @module
 */
import { decodeItem, encode } from "../codec/cbor.ts";
import { WeirError } from "../errors.ts";
import { type EncodedGroupRange, type EncodedTableSource, encodedSource } from "./encoded_tables.ts";
import { encodedGroupRecords } from "./sqlite_encoded_records.ts";
import { type KeyGroupRange, canonicalKey } from "./key_group.ts";
import type { KeyedTableSnapshot } from "./keyed_state.ts";
import { KvRecords, isAscii } from "./sqlite_records.ts";
import { checkStoredTtl, compareBytes } from "./sqlite_canonical.ts";
import { RowBytes } from "./sqlite_row_bytes.ts";
import { adoptRecords, kvTemplate, maxLocalPayload, templatePageSize } from "./sqlite_btree_file.ts";
import { writeCanonicalRows } from "./sqlite_canonical.ts";
import type { SqliteStateStore } from "./sqlite_store.ts";

/** One canonical table to restore, with the state id its rows get. */
export interface RestoredTable {
  name: string;
  table: KeyedTableSnapshot;
  sid: number;
}

/** One key group of one table: its entries, or where they lie encoded. */
interface Segment {
  kg: number;
  t: RestoredTable;
  entries: [unknown, unknown][] | undefined;
  encoded?: { source: EncodedTableSource; group: EncodedGroupRange };
  count: number;
}

/** A segment whose entries are decoded. */
type DecodedSegment = Segment & { entries: [unknown, unknown][] };

/**
 * The records of `tables`' key groups in `range`, in primary-key order, or undefined when
 * they cannot all go into a file written whole: a (key group, state) or a key held twice,
 * or a record over `recordBytesMax`.
 * @throws {WeirError} `checkpoint_corrupt` for a TTL entry without a write time;
 *   `value_not_persistable`, `invalid_key`
 *
 * @example
 * ```ts
 * import { canonicalRecords } from "./sqlite_restore_file.ts";
 * const table = { kind: "value" as const, groups: [[5, [["b", 2], ["a", 1]]], [1, [["c", 3]]]] as [number, [unknown, unknown][]][] };
 * const r = canonicalRecords([{ name: "n", table, sid: 0 }], { start: 0, end: 7 }, 1000);
 * console.assert(r !== undefined && r.count === 3);
 * ```
 */
export function canonicalRecords(tables: RestoredTable[], range: KeyGroupRange, recordBytesMax: number): KvRecords | undefined {
  const segments: Segment[] = [];
  for (const t of tables) {
    // A table read from a state file with its groups still encoded (a TTL table's entries
    // are checked one by one, so it is decoded).
    const source = t.table.ttl === true ? undefined : encodedSource(t.table);
    if (source !== undefined) {
      for (const group of source.groups) {
        const kg = group.keyGroup;
        if (kg >= range.start && kg <= range.end && group.entries > 0) segments.push({ kg, t, entries: undefined, encoded: { source, group }, count: group.entries });
      }
      continue;
    }
    for (const [kg, entries] of t.table.groups) if (kg >= range.start && kg <= range.end && entries.length > 0) segments.push({ kg, t, entries, count: entries.length });
  }
  segments.sort((a, b) => a.kg - b.kg || a.t.sid - b.t.sid);
  for (let i = 1; i < segments.length; i++) {
    if (segments[i].kg === segments[i - 1].kg && segments[i].t.sid === segments[i - 1].t.sid) return undefined;
  }
  let entries = 0;
  for (const seg of segments) entries += seg.count;
  // About 24 B a cell for short keys and small values; more grows the buffer once or twice.
  const records = new KvRecords({ records: entries, bytes: entries * 24 });
  let bytes: RowBytes | undefined;
  for (const seg of segments) {
    if (seg.encoded !== undefined) {
      const { source, group } = seg.encoded;
      const done = encodedGroupRecords(records, source, group, seg.t.sid, recordBytesMax);
      if (done === false) return undefined;
      if (done) continue;
      // Keys out of order (a heap savepoint's) or not ASCII: decode this key group alone.
      seg.entries = decodeItem<[unknown, unknown][]>(source.bytes, group.start, group.end, source.what);
      if (!Array.isArray(seg.entries)) throw new WeirError("checkpoint_corrupt", `Key group ${seg.kg} of keyed state "${seg.t.name}" in ${source.what} is not a list of entries`);
    }
    const decoded = seg as DecodedSegment;
    let ok = seg.t.table.ttl !== true && stringKeys(decoded.entries) ? asciiSegment(records, decoded, recordBytesMax) : undefined;
    if (ok === undefined) ok = genericSegment(records, (bytes ??= new RowBytes()), decoded, recordBytesMax);
    if (!ok) return undefined;
  }
  return records;
}

/** True when every key is a string. */
function stringKeys(entries: [unknown, unknown][]): boolean {
  for (let i = 0; i < entries.length; i++) if (typeof entries[i][0] !== "string") return false;
  return true;
}

/**
 * A key group of string keys, sorted as strings: false for a key held twice or a record
 * too large; undefined (nothing added) when a key is not ASCII, whose bytes need not sort
 * as its string does.
 */
function asciiSegment(records: KvRecords, { kg, t, entries }: DecodedSegment, recordBytesMax: number): boolean | undefined {
  let sorted = true;
  for (let i = 1; i < entries.length && sorted; i++) if (!((entries[i - 1][0] as string) < (entries[i][0] as string))) sorted = false;
  if (!sorted) {
    // A heap savepoint's keys come in insertion order. Sorting the entries themselves
    // costs 0.5–0.8× sorting their indices (one indirection less per comparison).
    entries = entries.slice().sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1));
    for (let j = 1; j < entries.length; j++) if (entries[j - 1][0] === entries[j][0]) return false;
  }
  const first = records.count;
  let bytes: RowBytes | undefined;
  for (let j = 0; j < entries.length; j++) {
    const [key, v] = entries[j];
    let size = records.addAscii(kg, t.sid, key as string, v);
    if (size === -2) {
      records.truncate(first);
      return undefined;
    }
    if (size === -1) {
      if (!isAscii(key as string)) {
        records.truncate(first);
        return undefined;
      }
      bytes ??= new RowBytes();
      size = records.add(kg, t.sid, bytes.key(key), null, bytes.value(v));
    }
    if (size > recordBytesMax) return false;
  }
  return true;
}

/** A key group of any keys, sorted by their bytes; false for a key held twice or a record too large. */
function genericSegment(records: KvRecords, bytes: RowBytes, { kg, t, entries }: DecodedSegment, recordBytesMax: number): boolean {
  const keys: Uint8Array[] = new Array(entries.length);
  let sorted = true;
  for (let i = 0; i < entries.length; i++) {
    keys[i] = bytes.key(canonicalKey(entries[i][0]));
    if (sorted && i > 0 && compareBytes(keys[i - 1], keys[i]) >= 0) sorted = false;
  }
  let order: number[] | undefined;
  if (!sorted) {
    order = Array.from({ length: entries.length }, (_, i) => i).sort((a, b) => compareBytes(keys[a], keys[b]));
    for (let j = 1; j < order.length; j++) if (compareBytes(keys[order[j - 1]], keys[order[j]]) === 0) return false;
  }
  const ttl = t.table.ttl === true;
  for (let j = 0; j < entries.length; j++) {
    const i = order === undefined ? j : order[j];
    const [key, v] = entries[i];
    if (ttl) checkStoredTtl(t.name, t.table.kind, v);
    // canonicalKey() returns a primitive key itself: only object keys keep their original.
    const ok = typeof key === "object" && key !== null ? encode(key, "a state key") : null;
    if (records.add(kg, t.sid, keys[i], ok, bytes.value(v)) > recordBytesMax) return false;
  }
  return true;
}

/**
 * Loads the key groups of `range` from canonical tables into `store`: into an empty store as
 * a file written whole, else (or when a record needs an overflow page) row by row.
 * @throws {WeirError} `storage_failed`; `checkpoint_corrupt` for a table that does not decode
 */
export function loadCanonicalTables(store: SqliteStateStore, tables: RestoredTable[], range: KeyGroupRange): void {
  if (store.isEmpty()) {
    const template = kvTemplate(store);
    const records = canonicalRecords(tables, range, maxLocalPayload(templatePageSize(template)));
    if (records !== undefined && records.count > 0) {
      adoptRecords(store, template, records);
      return;
    }
    store.driver.removeFiles(template.path);
  }
  for (const t of tables) store.bulkLoad((w) => writeCanonicalRows(w, t.name, t.table, t.sid, range));
}
