/**
 * The SQLite backend's canonical snapshots and restores: rows of a pinned WAL snapshot
 * measured a page per step, then read again as KeyedTableSnapshot tables (what savepoints
 * hold, whatever the backend) while the file is written, kept encoded so state larger
 * than memory never sits whole in it, and canonical tables turned back into rows for a
 * restore.
 * @module
 */
import { FORMAT_VERSION, cborHeadLength, decode, encode, encodeBody, encodeParts, writeHead } from "../codec/cbor.ts";
import { WeirError, assert } from "../errors.ts";
import type { EncodedGroup, EncodedGroupSize, EncodedStream, EncodedTable, KeyedStateSnapshot } from "./backend.ts";
import { type KeyGroupRange, canonicalKey } from "./key_group.ts";
import type { KeyedTableSnapshot, StateKind } from "./keyed_state.ts";
import { liveStored } from "./sqlite_forms.ts";
import type { BulkRowWriter } from "./sqlite_bulk.ts";
import { KEY_TAG_UTF8, keyFromBytes } from "./sqlite_keys.ts";
import { RowBytes } from "./sqlite_row_bytes.ts";
import type { SqliteSnapshotReader, StoredRow } from "./sqlite_snapshot_reader.ts";

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

/** Bytes of a chunk of a key group's encoded entries (more for an entry larger than that). */
const CHUNK_BYTES_MAX = 1 << 20;
const CBOR_ARRAY_OF_TWO = 0x82;

/** A table's layout as the first pass measures it. */
interface TableLayout {
  name: string;
  s: CanonicalState;
  kind: StateKind;
  ttl?: true;
  groups: EncodedGroupSize[];
}

/**
 * A snapshot of `reader` (pinned at the snapshot point) as canonical tables, about
 * `budget` rows per step; `now` is the processing time TTL expiry is judged at. Entries
 * are not decoded: a row's value is stored as its canonical form's encoding already, so
 * each entry is put together as CBOR bytes (`[key, value]`). The steps only measure
 * (entries and bytes per key group); `encodedStream()` reads the rows again from the same
 * read transaction while the checkpoint file is written, a chunk at a time, so neither the
 * heap nor the memory outside it ever holds the whole state. Only TTL states whose expired
 * parts are left out decode their values, one at a time (in both passes, judged at the
 * same `now`, so they agree). `encodedTables()` and the decoded `result()` collect the
 * stream, for tests and tools.
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
  const layouts = new Map<number, TableLayout>();
  for (const s of states) {
    const t: TableLayout = { name: s.name, s, kind: s.kind, groups: [] };
    if (s.ttl) t.ttl = true;
    layouts.set(s.sid, t);
  }
  let done = false;
  let released = false;
  const form = newForm();
  const table = (row: StoredRow) => {
    const t = layouts.get(row.s);
    assert(t !== undefined, () => `The SQLite state file of operator "${uid}" holds a row of unknown state ${row.s}`);
    return t;
  };
  const finished = () => assert(done && !released, () => `Keyed snapshot ${checkpointId} was asked for its result before it finished`);
  const stream: EncodedStream = {
    tables: {},
    chunks: (name) => {
      finished();
      const t = [...layouts.values()].find((l) => l.name === name);
      assert(t !== undefined, () => `Keyed snapshot ${checkpointId} has no table "${name}"`);
      return readChunks(reader, t, now, () => released);
    },
  };
  for (const t of layouts.values()) stream.tables[t.name] = t.ttl ? { kind: t.kind, ttl: true, groups: t.groups } : { kind: t.kind, groups: t.groups };
  const collect = (): Record<string, EncodedTable> => {
    const out: Record<string, EncodedTable> = {};
    for (const [name, t] of Object.entries(stream.tables)) {
      const groups: EncodedGroup[] = t.groups.map((g) => ({ keyGroup: g.keyGroup, entries: g.entries, chunks: [] }));
      let i = -1;
      for (const c of stream.chunks(name)) {
        if (i < 0 || groups[i].keyGroup !== c.keyGroup) i++;
        groups[i].chunks.push(c.bytes);
      }
      out[name] = t.ttl ? { kind: t.kind, ttl: true, groups } : { kind: t.kind, groups };
    }
    return out;
  };
  return {
    checkpointId,
    step: (budget) => {
      if (done) return true;
      assert(!released, () => `Keyed snapshot ${checkpointId} was stepped after its release`);
      for (const row of reader.next(budget === Infinity ? -1 : Math.max(1, Math.floor(budget)))) measure(table(row), row, now, form);
      done = reader.done;
      return done;
    },
    result: () => ({ format: "canonical", tables: decodeTables(collect()) }),
    encodedTables: collect,
    encodedStream: () => {
      finished();
      return stream;
    },
    release: () => {
      if (released) return;
      released = true;
      layouts.clear();
      reader.close();
    },
  };
}

/** The first pass: counts one stored row's entry in its table's key group. */
function measure(t: TableLayout, row: StoredRow, now: number, form: EntryForm): void {
  if (!formOf(t.s, row, now, form)) return;
  let g = t.groups[t.groups.length - 1];
  if (g === undefined || g.keyGroup !== row.kg) t.groups.push((g = { keyGroup: row.kg, entries: 0, bytes: 0 }));
  g.entries++;
  g.bytes += form.size;
}

/** Rows read a page at a time in the second pass (about what a snapshot step takes at most). */
const PAGE_ROWS = 1024;

/**
 * The second pass over table `t`: its entries' bytes in chunks, checked against what the
 * first pass measured (a mismatch would make the file's heads lie).
 */
function* readChunks(reader: SqliteSnapshotReader, t: TableLayout, now: number, released: () => boolean): Generator<{ keyGroup: number; bytes: Uint8Array }> {
  reader.rewind();
  const form = newForm();
  let gi = -1;
  let sink = new Uint8Array(0);
  /** Bytes of sink written; from `from` on not yet handed out (what was is never overwritten). */
  let length = 0;
  let from = 0;
  let entries = 0;
  let bytes = 0;
  const groupEnd = () => {
    if (gi < 0) return;
    const g = t.groups[gi];
    assert(g.entries === entries && g.bytes === bytes, () => `SQLite snapshot of "${t.name}": key group ${g.keyGroup} read ${entries} entries (${bytes} B) the second time, ${g.entries} (${g.bytes} B) the first`);
  };
  const pending = () => {
    const out = { keyGroup: t.groups[gi].keyGroup, bytes: sink.subarray(from, length) };
    from = length;
    return out;
  };
  while (!reader.done) {
    assert(!released(), () => `SQLite snapshot of "${t.name}" was released while its file was written`);
    for (const row of reader.next(PAGE_ROWS)) {
      if (row.s !== t.s.sid) continue;
      if (!formOf(t.s, row, now, form)) continue;
      const n = form.size;
      if (gi < 0 || t.groups[gi].keyGroup !== row.kg) {
        if (length > from) yield pending();
        groupEnd();
        gi++;
        assert(gi < t.groups.length && t.groups[gi].keyGroup === row.kg, () => `SQLite snapshot of "${t.name}": key group ${row.kg} was not there the first time`);
        sink = new Uint8Array(Math.max(n, Math.min(CHUNK_BYTES_MAX, t.groups[gi].bytes)));
        length = from = entries = bytes = 0;
      } else if (length + n > sink.length) {
        if (length > from) yield pending();
        sink = new Uint8Array(Math.max(n, Math.min(CHUNK_BYTES_MAX, t.groups[gi].bytes - bytes)));
        length = from = 0;
      }
      writeForm(form, sink, length);
      length += n;
      entries++;
      bytes += n;
    }
    // At least a part per page: taking one costs at most a page of rows (the write awaits
    // between parts, so the subtask goes on between them).
    if (length > from) yield pending();
  }
  if (length > from) yield pending();
  groupEnd();
  assert(gi === t.groups.length - 1, () => `SQLite snapshot of "${t.name}": ${t.groups.length - 1 - gi} key groups missing the second time`);
}

/**
 * How a row's entry `[key, value]` is put together as CBOR: each body either a stored
 * column from its second byte on (its first is the format version: `from` 1), or bytes
 * made for it (`from` 0); a UTF-8 key is its stored bytes after the tag, behind a text
 * string's head (`textHead`). Filled in place, one per pass (a pass that yields between
 * filling and writing one lets another snapshot's pass run), so that the common row costs
 * no allocation: making two views per row for both passes was most of a snapshot's time on
 * Bun.
 */
interface EntryForm {
  key: Uint8Array;
  keyFrom: number;
  /** Bytes of the text string head before a UTF-8 key's bytes; 0 for other keys. */
  textHead: number;
  value: Uint8Array;
  valueFrom: number;
  /** Bytes of the whole entry: the array head, the key's body, the value's body. */
  size: number;
}

function newForm(): EntryForm {
  return { key: new Uint8Array(0), keyFrom: 0, textHead: 0, value: new Uint8Array(0), valueFrom: 0, size: 0 };
}

/** Fills `f` with a stored row's entry; false when its TTL parts all expired. */
function formOf(s: CanonicalState, row: StoredRow, now: number, f: EntryForm): boolean {
  if (s.ttl && s.declaredTtl !== undefined) {
    const live = liveStored(s.kind, decode(row.v, "a value in the SQLite state database"), s.declaredTtl, now);
    if (live === undefined) return false;
    f.value = encodeBody(live, "a state value");
    f.valueFrom = 0;
  } else if (row.v[0] === FORMAT_VERSION) {
    f.value = row.v;
    f.valueFrom = 1;
  } else {
    // Written by an older format version: decode() migrates it.
    f.value = encodeBody(decode(row.v, "a value in the SQLite state database"), "a state value");
    f.valueFrom = 0;
  }
  f.textHead = 0;
  if (row.ok !== null && row.ok[0] === FORMAT_VERSION) {
    f.key = row.ok;
    f.keyFrom = 1;
  } else if (row.ok !== null) {
    f.key = encodeBody(decode(row.ok, "a key in the SQLite state database"), "a state key");
    f.keyFrom = 0;
  } else if (row.k[0] === KEY_TAG_UTF8) {
    // A UTF-8 key's bytes are a text string's already.
    f.key = row.k;
    f.keyFrom = 1;
    f.textHead = cborHeadLength(row.k.length - 1);
  } else {
    f.key = encodeBody(keyFromBytes(row.k), "a state key");
    f.keyFrom = 0;
  }
  f.size = 1 + f.textHead + f.key.length - f.keyFrom + f.value.length - f.valueFrom;
  return true;
}

/**
 * Writes the entry `f` describes at sink[at, at + f.size). A stored column is copied whole,
 * one byte early (no view made of it); what lands in that byte is written over after.
 */
function writeForm(f: EntryForm, sink: Uint8Array, at: number): void {
  const keyAt = at + 1 + f.textHead;
  const valueAt = keyAt + f.key.length - f.keyFrom;
  sink.set(f.value, valueAt - f.valueFrom);
  sink.set(f.key, keyAt - f.keyFrom);
  // A text string's head (major type 3) before the UTF-8 key's bytes.
  if (f.textHead > 0) writeHead(sink, at + 1, 3, f.key.length - 1);
  sink[at] = CBOR_ARRAY_OF_TWO;
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
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * A stored TTL value's shape, checked at restore as the heap checks it.
 * @throws {WeirError} `checkpoint_corrupt`
 */
export function checkStoredTtl(name: string, kind: StateKind, v: unknown): void {
  const tuple = (t: unknown) => Array.isArray(t) && t.length === 2 && typeof t[0] === "number";
  const ok = kind === "value" ? tuple(v) : Array.isArray(v) && v.every((e) => (kind === "list" ? tuple(e) : Array.isArray(e) && tuple(e[1])));
  if (!ok) throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" with TTL has a ${kind} entry without a write time in the snapshot`);
}
