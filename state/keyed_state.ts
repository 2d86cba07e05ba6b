/**
 * The keyed state types user code sees (ValueState, ListState, MapState) and the
 * canonical snapshot form of a keyed state table, which every backend reads and writes
 * in savepoints (see backend.ts for the backend contract, heap_backend.ts for the heap).
 * @module
 */
import { WeirError } from "../errors.ts";

export type { StateOptions } from "./ttl.ts";

/** A single value per key (Flink's `ValueState`). */
export interface ValueState<T> {
  /** The current key's value, or undefined when it has none. */
  value(): T | undefined;
  /**
   * Sets the current key's value. `undefined` clears it, as `update(null)` does in Flink;
   * `null` is a value like any other here: kept, checkpointed and restored.
   */
  update(value: T): void;
  /** Removes the current key's value. */
  clear(): void;
}

/** A list per key. */
export interface ListState<T> {
  get(): T[];
  add(value: T): void;
  update(values: T[]): void;
  clear(): void;
}

/** A map per key. */
export interface MapState<K, V> {
  get(key: K): V | undefined;
  put(key: K, value: V): void;
  has(key: K): boolean;
  remove(key: K): void;
  keys(): K[];
  entries(): [K, V][];
  clear(): void;
}

/** What a keyed state is; recorded by name in snapshots so that a restore never guesses. */
export type StateKind = "value" | "list" | "map";

/**
 * Snapshot of one keyed state table: its kind and, per key group, [key, value] pairs. A
 * MapState's value is the list of its [mapKey, mapValue] pairs.
 */
export interface KeyedTableSnapshot {
  kind: StateKind;
  /** True when values are stored as [writtenAt, value] tuples (state with TTL). */
  ttl?: boolean;
  groups: [keyGroup: number, entries: [unknown, unknown][]][];
}

/** The table format before kinds were recorded (weir ≤ 0.1): a Map value was `{ $map }`. */
type LegacyTableSnapshot = [keyGroup: number, entries: [unknown, unknown][]][];

/** A stored table in the current shape, whichever format wrote it (legacy tables get their kind from their values). */
export function readTable(name: string, table: KeyedTableSnapshot | LegacyTableSnapshot): KeyedTableSnapshot {
  if (Array.isArray(table)) return legacyTable(table);
  if (table && (table.kind === "value" || table.kind === "list" || table.kind === "map") && Array.isArray(table.groups)) return table;
  throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" in the snapshot has no valid kind and key groups`);
}

/** Old snapshots marked MapState values with `{ $map }`; only they are still read that way. */
function legacyTable(groups: LegacyTableSnapshot): KeyedTableSnapshot {
  let isMap = false;
  const out: KeyedTableSnapshot["groups"] = groups.map(([g, entries]) => [g, entries.map(([k, v]) => {
    if (v !== null && typeof v === "object" && "$map" in (v as object)) {
      isMap = true;
      return [k, (v as { $map: [unknown, unknown][] }).$map];
    }
    return [k, v];
  })]);
  return { kind: isMap ? "map" : "value", groups: out };
}
