/**
 * The SQLite backend's canonical snapshots and restores: rows of a pinned WAL snapshot
 * read a page per step into KeyedTableSnapshot tables (what savepoints hold, whatever the
 * backend), and canonical tables turned back into rows for a restore.
 * @module
 */
import { decode, encode } from "../codec/cbor.ts";
import { WeirError, assert } from "../errors.ts";
import type { KeyedStateSnapshot } from "./backend.ts";
import { type KeyGroupRange, canonicalKey } from "./key_group.ts";
import type { KeyedTableSnapshot, StateKind } from "./keyed_state.ts";
import { liveStored } from "./sqlite_forms.ts";
import { keyBytes, keyFromBytes } from "./sqlite_keys.ts";
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

interface TableFill {
  table: KeyedTableSnapshot;
  s: CanonicalState;
  group: [number, [unknown, unknown][]] | undefined;
}

/**
 * A snapshot reading `reader` (pinned at the snapshot point) into canonical tables, about
 * `budget` rows per step; `now` is the processing time TTL expiry is judged at.
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
  const tables: Record<string, KeyedTableSnapshot> = {};
  const byId = new Map<number, TableFill>();
  for (const s of states) {
    const table: KeyedTableSnapshot = { kind: s.kind, groups: [] };
    if (s.ttl) table.ttl = true;
    tables[s.name] = table;
    byId.set(s.sid, { table, s, group: undefined });
  }
  let done = false;
  let released = false;
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
      }
      return done;
    },
    result: () => {
      assert(done && !released, () => `Keyed snapshot ${checkpointId} was asked for its result before it finished`);
      return { format: "canonical", tables };
    },
    release: () => {
      if (released) return;
      released = true;
      reader.close();
    },
  };
}

/** Files one stored row into its table's key group, expired TTL parts left out. */
function addRow(into: TableFill, row: StoredRow, now: number): void {
  let value = decode(row.v, "a value in the SQLite state database");
  if (into.s.ttl && into.s.declaredTtl !== undefined) {
    value = liveStored(into.s.kind, value, into.s.declaredTtl, now);
    if (value === undefined) return;
  }
  const key = row.ok !== null ? decode(row.ok, "a key in the SQLite state database") : keyFromBytes(row.k);
  if (into.group === undefined || into.group[0] !== row.kg) {
    into.group = [row.kg, []];
    into.table.groups.push(into.group);
  }
  into.group[1].push([key, value]);
}

/**
 * The rows of a canonical table's key groups in `range`, for state id `sid`.
 * @throws {WeirError} `checkpoint_corrupt` for a TTL entry without a write time
 */
export function* canonicalRows(name: string, table: KeyedTableSnapshot, sid: number, range: KeyGroupRange): Generator<StoredRow> {
  const groups = table.groups.filter(([g]) => g >= range.start && g <= range.end).sort((a, b) => a[0] - b[0]);
  for (const [g, entries] of groups) {
    const rows: StoredRow[] = [];
    for (const [key, v] of entries) {
      if (table.ttl) checkStoredTtl(name, table.kind, v);
      const c = canonicalKey(key);
      rows.push({ kg: g, s: sid, k: keyBytes(c), ok: c === key ? null : encode(key, "a state key"), v: encode(v, "a state value") });
    }
    // In primary-key order each row appends to the B-tree instead of landing on a random page.
    rows.sort((a, b) => compareBytes(a.k, b.k));
    yield* rows;
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
