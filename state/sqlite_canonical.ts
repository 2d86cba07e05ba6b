/**
 * The SQLite backend's canonical snapshots and restores: rows of a pinned WAL snapshot
 * read a page per step into KeyedTableSnapshot tables (what savepoints hold, whatever the
 * backend), kept encoded so state larger than the heap never sits decoded in it, and
 * canonical tables turned back into rows for a restore.
 * @module
 */
import { FORMAT_VERSION, cborHead, decode, encode, encodeBody, encodeParts } from "../codec/cbor.ts";
import { WeirError, assert } from "../errors.ts";
import type { EncodedGroup, EncodedTable, KeyedStateSnapshot } from "./backend.ts";
import { type KeyGroupRange, canonicalKey } from "./key_group.ts";
import type { KeyedTableSnapshot, StateKind } from "./keyed_state.ts";
import { liveStored } from "./sqlite_forms.ts";
import type { BulkRowWriter } from "./sqlite_bulk.ts";
import { KEY_TAG_UTF8, keyFromBytes } from "./sqlite_keys.ts";
import { RowBytes } from "./sqlite_row_bytes.ts";
import type { SqliteSnapshotReader, StoredRow } from "./sqlite_store.ts";

/** A state as a canonical snapshot needs it. */
export interface CanonicalState {
  name: string;
  sid: number;
  kind: StateKind;
  /** Values are stored with write times. */
  ttl: boolean;
  /** The TTL declared in this run: expired parts are left out (cleanup in full snapshot). */
  declaredTtl: number | undefined;
}

/** A table's key groups as they are read, entries already encoded. */
interface TableFill {
  table: EncodedTable;
  s: CanonicalState;
  group: GroupFill | undefined;
}

/** The key group being read: its encoded entries so far. */
interface GroupFill {
  out: EncodedGroup;
  sink: Uint8Array;
  length: number;
}

/** Bytes a key group's encoded entries start with; each chunk of a group holds at most CHUNK_BYTES_MAX. */
const CHUNK_BYTES_FIRST = 4096;
const CHUNK_BYTES_MAX = 1 << 20;
const CBOR_ARRAY_OF_TWO = 0x82;

/**
 * A snapshot reading `reader` (pinned at the snapshot point) into canonical tables, about
 * `budget` rows per step; `now` is the processing time TTL expiry is judged at. Entries
 * are not decoded: a row's value is stored as its canonical form's encoding already, so
 * each entry is put together as CBOR bytes (`[key, value]`) in byte chunks per key group,
 * which `encodedTables()` hands to the checkpoint writer as they are. Only TTL states
 * whose expired parts are left out decode their values, one at a time. The decoded
 * tables (`result()`) are built on request from those bytes.
 *
 * @example
 * ```ts
 * import { SqliteStateStore } from "./sqlite_store.ts";
 * import { canonicalSnapshot } from "./sqlite_canonical.ts";
 * import { stateCodec } from "./sqlite_forms.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * const path = `${sqliteDriver.tempDirectory()}/weir-doc-canonical-${performance.now()}.db`;
 * const store = new SqliteStateStore(sqliteDriver, { path, maxParallelism: 8, cacheEntriesMax: 10 });
 * store.declare(0, stateCodec("n", "value", false));
 * store.write(0, "k", "k", 1);
 * const snap = canonicalSnapshot(store.openSnapshot(), [{ name: "n", sid: 0, kind: "value", ttl: false, declaredTtl: undefined }], { checkpointId: 1, now: 0, uid: "doc" });
 * snap.step(Infinity);
 * const r = snap.result();
 * snap.release();
 * console.assert(r.format === "canonical" && r.tables.n.groups[0][1][0][1] === 1);
 * store.dispose();
 * ```
 */
export function canonicalSnapshot(
  reader: SqliteSnapshotReader,
  states: CanonicalState[],
  at: { checkpointId: number; now: number; uid: string },
): KeyedStateSnapshot {
  const { checkpointId, now, uid } = at;
  let tables: Record<string, EncodedTable> | undefined = {};
  const byId = new Map<number, TableFill>();
  for (const s of states) {
    const table: EncodedTable = { kind: s.kind, groups: [] };
    if (s.ttl) table.ttl = true;
    tables[s.name] = table;
    byId.set(s.sid, { table, s, group: undefined });
  }
  let done = false;
  let released = false;
  const finished = () => {
    assert(done && !released && tables !== undefined, () => `Keyed snapshot ${checkpointId} was asked for its result before it finished`);
    return tables;
  };
  return {
    checkpointId,
    step: (budget) => {
      if (done) return true;
      assert(!released, () => `Keyed snapshot ${checkpointId} was stepped after its release`);
      const rows = reader.next(budget === Infinity ? -1 : Math.max(1, Math.floor(budget)));
      for (const row of rows) {
        const into = byId.get(row.s);
        assert(into !== undefined, () => `The SQLite state file of operator "${uid}" holds a row of unknown state ${row.s}`);
        addRow(into, row, now);
      }
      if (reader.done) {
        done = true;
        reader.close();
        for (const fill of byId.values()) closeGroup(fill);
      }
      return done;
    },
    result: () => ({ format: "canonical", tables: decodeTables(finished()) }),
    encodedTables: finished,
    release: () => {
      if (released) return;
      released = true;
      tables = undefined;
      byId.clear();
      reader.close();
    },
  };
}

/** Files one stored row into its table's key group as encoded `[key, value]`, expired TTL parts left out. */
function addRow(into: TableFill, row: StoredRow, now: number): void {
  let value: Uint8Array;
  if (into.s.ttl && into.s.declaredTtl !== undefined) {
    const live = liveStored(into.s.kind, decode(row.v, "a value in the SQLite state database"), into.s.declaredTtl, now);
    if (live === undefined) return;
    value = encodeBody(live, "a state value");
  } else if (row.v[0] === FORMAT_VERSION) {
    value = row.v.subarray(1);
  } else {
    // Written by an older format version: decode() migrates it.
    value = encodeBody(decode(row.v, "a value in the SQLite state database"), "a state value");
  }
  const key = row.ok !== null && row.ok[0] === FORMAT_VERSION ? row.ok.subarray(1) : keyBody(row);
  if (into.group === undefined || into.group.out.keyGroup !== row.kg) {
    closeGroup(into);
    const out: EncodedGroup = { keyGroup: row.kg, entries: 0, chunks: [] };
    into.table.groups.push(out);
    into.group = { out, sink: new Uint8Array(CHUNK_BYTES_FIRST), length: 0 };
  }
  const g = into.group;
  const n = 1 + key.length + value.length;
  if (g.length + n > g.sink.length) {
    if (g.length + n <= CHUNK_BYTES_MAX) {
      const grown = new Uint8Array(Math.min(CHUNK_BYTES_MAX, Math.max(g.sink.length * 2, g.length + n)));
      grown.set(g.sink.subarray(0, g.length));
      g.sink = grown;
    } else {
      if (g.length > 0) g.out.chunks.push(g.sink.subarray(0, g.length));
      g.sink = new Uint8Array(Math.max(CHUNK_BYTES_MAX, n));
      g.length = 0;
    }
  }
  g.sink[g.length] = CBOR_ARRAY_OF_TWO;
  g.sink.set(key, g.length + 1);
  g.sink.set(value, g.length + 1 + key.length);
  g.length += n;
  g.out.entries++;
}

/** The CBOR body of a row's key: a UTF-8 key's bytes are a text string's already. */
function keyBody(row: StoredRow): Uint8Array {
  if (row.ok !== null) return encodeBody(decode(row.ok, "a key in the SQLite state database"), "a state key");
  if (row.k[0] === KEY_TAG_UTF8) {
    const text = row.k.subarray(1);
    const head = cborHead(3, text.length);
    const out = new Uint8Array(head.length + text.length);
    out.set(head);
    out.set(text, head.length);
    return out;
  }
  return encodeBody(keyFromBytes(row.k), "a state key");
}

/** Ends the key group being read: its last chunk is cut to its length. */
function closeGroup(fill: TableFill): void {
  const g = fill.group;
  if (g === undefined) return;
  // A copy when the chunk is mostly empty, so the slack does not stay allocated.
  if (g.length > 0) g.out.chunks.push(g.length * 2 < g.sink.length ? g.sink.slice(0, g.length) : g.sink.subarray(0, g.length));
  fill.group = undefined;
}

/** Decoded canonical tables from encoded ones. */
function decodeTables(encoded: Record<string, EncodedTable>): Record<string, KeyedTableSnapshot> {
  const out: Record<string, KeyedTableSnapshot> = {};
  for (const [name, t] of Object.entries(encoded)) {
    const table: KeyedTableSnapshot = { kind: t.kind, groups: [] };
    if (t.ttl) table.ttl = true;
    for (const g of t.groups) {
      const entries = decode<[unknown, unknown][]>(encodeParts([{ array: g.entries }, ...g.chunks]), "a key group of the SQLite snapshot");
      table.groups.push([g.keyGroup, entries]);
    }
    out[name] = table;
  }
  return out;
}

/**
 * Writes the entries of a canonical table's key groups in `range` into `w` as rows of
 * state id `sid`, each key group in primary-key order (so rows append to the B-tree
 * rather than land on random pages; a table from a SQLite snapshot is in that order
 * already and is not sorted again).
 * @throws {WeirError} `checkpoint_corrupt` for a TTL entry without a write time;
 *   `value_not_persistable`
 */
export function writeCanonicalRows(w: BulkRowWriter, name: string, table: KeyedTableSnapshot, sid: number, range: KeyGroupRange): void {
  const groups = table.groups.filter(([g]) => g >= range.start && g <= range.end).sort((a, b) => a[0] - b[0]);
  const bytes = new RowBytes();
  for (const [g, entries] of groups) {
    const keys: Uint8Array[] = new Array(entries.length);
    let sorted = true;
    for (let i = 0; i < entries.length; i++) {
      keys[i] = bytes.key(canonicalKey(entries[i][0]));
      if (sorted && i > 0 && compareBytes(keys[i - 1], keys[i]) >= 0) sorted = false;
    }
    const order = sorted ? undefined : Array.from({ length: entries.length }, (_, i) => i).sort((a, b) => compareBytes(keys[a], keys[b]));
    for (let j = 0; j < entries.length; j++) {
      const i = order === undefined ? j : order[j];
      const [key, v] = entries[i];
      if (table.ttl) checkStoredTtl(name, table.kind, v);
      // canonicalKey() returns a primitive key itself: only object keys keep their original.
      w.row(g, sid, keys[i], typeof key === "object" && key !== null ? encode(key, "a state key") : null, bytes.value(v));
    }
  }
}

/** SQLite's BLOB order: bytes compared one by one, a prefix first. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * A stored TTL value's shape, checked at restore as the heap checks it.
 * @throws {WeirError} `checkpoint_corrupt`
 */
function checkStoredTtl(name: string, kind: StateKind, v: unknown): void {
  const tuple = (t: unknown) => Array.isArray(t) && t.length === 2 && typeof t[0] === "number";
  const ok = kind === "value" ? tuple(v) : Array.isArray(v) && v.every((e) => (kind === "list" ? tuple(e) : Array.isArray(e) && tuple(e[1])));
  if (!ok) throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" with TTL has a ${kind} entry without a write time in the snapshot`);
}
