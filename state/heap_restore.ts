/**
 * Loading snapshot tables into heap state: canonical tables (`[key, value]` pairs per key
 * group: savepoints, full checkpoints) and the heap's own columnar files (keys and values
 * per key group: incremental checkpoints, format 2), keeping the key groups of the
 * backend's range. Entries are put into the tables in bulk, with the key group they were
 * filed under kept in the cell, so that no key is hashed again.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { KeyGroupRange } from "./key_group.ts";
import { canonicalKey } from "./key_group.ts";
import { type KeyedTableSnapshot, readTable, type StateKind } from "./keyed_state.ts";
import type { StateTable } from "./heap_table.ts";
import { restoreTtlEntry } from "./ttl.ts";

/** A table of the heap's own files: keys and values per key group. */
export interface ColumnTable {
  kind: StateKind;
  ttl?: boolean;
  groups: [keyGroup: number, keys: unknown[], values: unknown[]][];
}

/** What loading needs from the backend. */
export interface RestoreTarget {
  readonly range: KeyGroupRange;
  /** The table for a state name, created on first use. @throws {WeirError} `state_kind_mismatch` */
  table(name: string, kind: StateKind): StateTable;
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
    // different key groups: entries go in without a lookup, and the count proves it.
    const before = t.size;
    let loaded = 0;
    for (const [g, entries] of groups) {
      if (g < start || g > end) continue;
      loaded += entries.length;
      if (!ttl && kind !== "map") {
        // The common case, in one tight loop: a primitive key is its own canonical form.
        for (let i = 0; i < entries.length; i++) {
          const [key, v] = entries[i];
          t.loadEntry(typeof key === "object" && key !== null ? canonical(target, key) : key, v, g);
        }
        continue;
      }
      for (const [key, v] of entries) t.loadEntry(canonical(target, key), restoreValue(name, kind, ttl ?? false, v), g);
    }
    if (t.size !== before + loaded) {
      throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" in the snapshot holds ${before + loaded - t.size} key(s) twice or a key another snapshot of this restore holds too`);
    }
  }
}

/**
 * Loads the heap's columnar tables.
 * @throws {WeirError} `checkpoint_corrupt` for columns of different lengths; see restoreTables
 */
export function restoreColumns(target: RestoreTarget, tables: Record<string, ColumnTable>): void {
  const { start, end } = target.range;
  for (const [name, table] of Object.entries(tables)) {
    const kind = table?.kind;
    if ((kind !== "value" && kind !== "list" && kind !== "map") || !Array.isArray(table.groups)) {
      throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" in the heap checkpoint file has no valid kind and key groups`);
    }
    const ttl = table.ttl === true;
    const t = target.table(name, kind);
    if (ttl) target.markTtl(name);
    for (const [g, keys, values] of table.groups) {
      if (g < start || g > end) continue;
      if (!Array.isArray(keys) || !Array.isArray(values) || keys.length !== values.length) {
        throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" in the heap checkpoint file has key group ${g} with ${keys?.length} keys and ${values?.length} values`);
      }
      const plain = !ttl && kind !== "map";
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        const c = typeof key === "object" && key !== null ? canonical(target, key) : key;
        t.restoreEntry(c, plain ? values[i] : restoreValue(name, kind, ttl, values[i]), g);
      }
    }
  }
}

/** Deletes the keys of the target's range that a changelog records as deleted. */
export function applyTombstones(target: RestoreTarget, tables: Map<string, StateTable>, deleted: Record<string, [number, unknown[]][]>): void {
  for (const [name, groups] of Object.entries(deleted)) {
    const t = tables.get(name);
    if (!t) continue;
    for (const [g, keys] of groups) {
      if (g < target.range.start || g > target.range.end) continue;
      for (const key of keys) t.delete(canonicalKey(key));
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
