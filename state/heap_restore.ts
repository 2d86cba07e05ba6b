/**
 * Loading snapshot tables into heap state: canonical tables (`[key, value]` pairs per key
 * group: savepoints, full checkpoints) and chains of the heap's own files (a base and
 * changelogs, keys and values as columns per key group: incremental checkpoints), keeping
 * the key groups of the backend's range. Entries go into the tables' slots in bulk, with
 * the key group they were filed under, and without a Map insert each (heap_table.ts puts
 * a key group's keys into its Map on first use), so that no key is hashed again and a
 * restore is mostly the decoding of its files.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { KeyGroupRange } from "./key_group.ts";
import { canonicalKey } from "./key_group.ts";
import { type KeyedTableSnapshot, readTable, type StateKind } from "./keyed_state.ts";
import type { StateTable } from "./heap_table.ts";
import { restoreTtlEntry } from "./ttl.ts";
import { readColumn } from "./heap_columns.ts";

/** A table of the heap's own files: keys and values per key group. */
export interface ColumnTable {
  kind: StateKind;
  ttl?: boolean;
  groups: [keyGroup: number, keys: ArrayLike<unknown>, values: ArrayLike<unknown>][];
}

/** What loading needs from the backend. */
export interface RestoreTarget {
  readonly range: KeyGroupRange;
  /** The table for a state name, created on first use. @throws {WeirError} `state_kind_mismatch` */
  table(name: string, kind: StateKind): StateTable;
  /** The table of a state name, if there is one. */
  tableOf(name: string): StateTable | undefined;
  /** The table holds TTL entries. */
  markTtl(name: string): void;
  /** Remembers the original form of an object key. */
  original(canonical: unknown, key: unknown): void;
}

/**
 * Loads canonical tables.
 * @throws {WeirError} `checkpoint_corrupt` for a table without a valid kind or a TTL entry
 *   that is not one; `state_kind_mismatch`
 */
export function restoreTables(target: RestoreTarget, tables: Record<string, KeyedTableSnapshot>): void {
  const { start, end } = target.range;
  for (const [name, table] of Object.entries(tables)) {
    const { kind, groups, ttl } = readTable(name, table);
    const t = target.table(name, kind);
    if (ttl) target.markTtl(name);
    // A canonical snapshot holds each key once, and the snapshots of one restore cover
    // different key groups: entries go in without a lookup (a key held twice is found
    // when its key group goes into the table's Map).
    for (const [g, entries] of groups) {
      if (g < start || g > end) continue;
      const from = t.slotCount;
      const keys = t.keys;
      const values = t.values;
      if (!ttl && kind !== "map") {
        // The common case, in one tight loop: a primitive key is its own canonical form.
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i];
          const key = e[0];
          keys.push(typeof key === "object" && key !== null ? canonical(target, key) : key);
          values.push(e[1]);
        }
      } else {
        for (const [key, v] of entries) {
          keys.push(canonical(target, key));
          values.push(restoreValue(name, kind, ttl ?? false, v));
        }
      }
      t.loaded(g, from);
    }
  }
}

/** A key a changelog deleted (in a chain's overlay). */
const DELETED: unique symbol = Symbol("deleted");
/** A value undefined (in a chain's overlay, where undefined means "no change"). */
const UNDEFINED: unique symbol = Symbol("undefined");

/** One table's latest entries of a chain's changelogs: key group → canonical key → value (restored form) or DELETED. */
type Overlay = Map<number, Map<unknown, unknown>>;

/**
 * Loads one chain of the heap's own files (a base, then changelogs in order): the
 * changelogs' entries and tombstones are merged first (the newest wins), per key group,
 * so that a base group's entries go in without a Map insert, each looked up only in the
 * small map of its group's changes, and the changes the base lacks follow in the same
 * group's slots.
 * @throws {WeirError} `checkpoint_corrupt` for columns of different lengths or a table
 *   without a valid kind; `state_kind_mismatch`
 */
export function restoreChain(target: RestoreTarget, files: HeapChainFile[]): void {
  const overlays = new Map<string, Overlay>();
  const changes = (name: string, g: number): Map<unknown, unknown> => {
    let o = overlays.get(name);
    if (!o) overlays.set(name, (o = new Map()));
    let og = o.get(g);
    if (!og) o.set(g, (og = new Map()));
    return og;
  };
  for (let f = 1; f < files.length; f++) {
    const { file, version } = files[f];
    eachTable(target, file.tables, version, (name, kind, ttl, g, keys, values) => {
      const og = changes(name, g);
      for (let i = 0; i < keys.length; i++) {
        const v = restoreValue(name, kind, ttl, values[i]);
        og.set(canonical(target, keys[i]), v === undefined ? UNDEFINED : v);
      }
    });
    for (const [name, groups] of Object.entries(file.deleted ?? {})) {
      for (const [g, keys] of groups) {
        if (g < target.range.start || g > target.range.end) continue;
        const og = changes(name, g);
        for (const key of keys) og.set(canonical(target, key), DELETED);
      }
    }
  }
  if (files.length > 0) {
    const { file, version } = files[0];
    eachTable(target, file.tables, version, (name, kind, ttl, g, keys, values) => {
      const t = target.table(name, kind);
      const og = overlays.get(name)?.get(g);
      const plain = !ttl && kind !== "map";
      const from = t.slotCount;
      const tk = t.keys;
      const tv = t.values;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        const c = typeof key === "object" && key !== null ? canonical(target, key) : key;
        if (og !== undefined && og.size > 0) {
          const e = og.get(c);
          if (e !== undefined) {
            og.delete(c);
            if (e === DELETED) continue;
            tk.push(c);
            tv.push(e === UNDEFINED ? undefined : e);
            continue;
          }
        }
        tk.push(c);
        tv.push(plain ? values[i] : restoreValue(name, kind, ttl, values[i]));
      }
      if (og !== undefined) {
        pushChanges(tk, tv, og);
        overlays.get(name)!.delete(g);
      }
      t.loaded(g, from);
    });
  }
  // Changes in key groups (or tables) the base has no entries in.
  for (const [name, o] of overlays) {
    const t = target.tableOf(name);
    if (!t) continue;
    for (const [g, og] of o) {
      const from = t.slotCount;
      pushChanges(t.keys, t.values, og);
      t.loaded(g, from);
    }
  }
}

/** Appends a group's changes that are entries (not deletions). */
function pushChanges(keys: unknown[], values: unknown[], og: Map<unknown, unknown>): void {
  for (const [c, v] of og) {
    if (v === DELETED) continue;
    keys.push(c);
    values.push(v === UNDEFINED ? undefined : v);
  }
}

/** One decoded file of a heap chain and its format version. */
export interface HeapChainFile {
  file: { tables: Record<string, ColumnTable> | Record<string, KeyedTableSnapshot>; deleted?: Record<string, [number, unknown[]][]> };
  version: number;
}

/**
 * Calls `each` per key group of the range in a file's tables, as columns (format 2 arrays;
 * format 3 also typed columns, heap_columns.ts) or pairs (format 1, split here).
 */
function eachTable(
  target: RestoreTarget,
  tables: HeapChainFile["file"]["tables"],
  version: number,
  each: (name: string, kind: StateKind, ttl: boolean, g: number, keys: ArrayLike<unknown>, values: ArrayLike<unknown>) => void,
): void {
  const { start, end } = target.range;
  for (const [name, table] of Object.entries(tables ?? {})) {
    if (version < 2) {
      const { kind, groups, ttl } = readTable(name, table as KeyedTableSnapshot);
      target.table(name, kind);
      if (ttl) target.markTtl(name);
      for (const [g, entries] of groups) {
        if (g >= start && g <= end) each(name, kind, ttl ?? false, g, entries.map((e) => e[0]), entries.map((e) => e[1]));
      }
      continue;
    }
    const c = table as ColumnTable;
    const kind = c?.kind;
    if ((kind !== "value" && kind !== "list" && kind !== "map") || !Array.isArray(c.groups)) {
      throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" in the heap checkpoint file has no valid kind and key groups`);
    }
    const ttl = c.ttl === true;
    target.table(name, kind);
    if (ttl) target.markTtl(name);
    for (const group of c.groups) {
      const [g, keyColumn, valueColumn] = Array.isArray(group) ? group : [-1, undefined, undefined];
      if (!Number.isInteger(g)) throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" in the heap checkpoint file has a key group ${g}`);
      if (g < start || g > end) continue;
      const where = () => `Keyed state "${name}" in the heap checkpoint file (format ${version}), key group ${g},`;
      const keys = readColumn(keyColumn, version >= 3, where);
      const values = readColumn(valueColumn, version >= 3, where);
      if (keys.length !== values.length) {
        throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" in the heap checkpoint file has key group ${g} with ${keys.length} keys and ${values.length} values`);
      }
      each(name, kind, ttl, g, keys, values);
    }
  }
}

function canonical(target: RestoreTarget, key: unknown): unknown {
  const c = canonicalKey(key);
  if (c !== key) target.original(c, key);
  return c;
}

/** A snapshot value in its stored form: TTL entries, a map state's Map. */
function restoreValue(name: string, kind: StateKind, ttl: boolean, v: unknown): unknown {
  if (ttl) return restoreTtl(name, kind, v);
  if (kind === "map") return new Map((v as [unknown, unknown][]).map((e) => [canonicalKey(e[0]), e]));
  return v;
}

/** A snapshot value of a TTL table back into TtlEntry form. */
function restoreTtl(name: string, kind: StateKind, v: unknown): unknown {
  if (kind === "value") return restoreTtlEntry(name, v);
  if (!Array.isArray(v)) throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" with TTL has a ${kind} entry that is not a list`);
  if (kind === "list") return v.map((e) => restoreTtlEntry(name, e));
  return new Map((v as [unknown, unknown][]).map(([k, e]) => [canonicalKey(k), [k, restoreTtlEntry(name, e)]]));
}
