/**
 * Keyed state on the heap: one Map per declared state, from canonical key to value.
 * Snapshots group entries by key group so that a restore with another parallelism can
 * pick exactly the key groups it owns.
 * @module
 */
import { copyValue } from "../codec/values.ts";
import { WeirError } from "../errors.ts";
import { type KeyGroupRange, canonicalKey, invalidKey, keyGroupOf } from "./key_group.ts";

/** A single value per key. */
export interface ValueState<T> {
  value(): T | undefined;
  update(value: T): void;
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
  groups: [keyGroup: number, entries: [unknown, unknown][]][];
}

/** The table format before kinds were recorded (weir ≤ 0.1): a Map value was `{ $map }`. */
type LegacyTableSnapshot = [keyGroup: number, entries: [unknown, unknown][]][];

/**
 * A mutable slot holding one key's value. An operator that updates its key on every
 * record (a rolling reduce) changes the slot in place: one Map lookup per record instead
 * of a get and a set. Snapshots store the value, not the slot.
 */
export class ValueCell {
  value: unknown;
  constructor(value: unknown) {
    this.value = value;
  }
}

/** Holds every keyed state table of one operator in one subtask. */
export class KeyedStateBackend {
  readonly maxParallelism: number;
  readonly range: KeyGroupRange;
  /** The key of the record being processed; set by the operator before user code runs. */
  currentKey: unknown = undefined;
  #currentCanonical: unknown = undefined;
  #tables = new Map<string, Map<unknown, unknown>>();
  #kinds = new Map<string, StateKind>();
  /** Original (non-canonical) keys, for object keys only. */
  #originalKeys = new Map<unknown, unknown>();

  constructor(maxParallelism: number, range: KeyGroupRange) {
    this.maxParallelism = maxParallelism;
    this.range = range;
  }

  setCurrentKey(key: unknown): void {
    if (key === undefined || key === null) throw invalidKey(key);
    this.currentKey = key;
    const c = canonicalKey(key);
    // The key object belongs to the record (or to user code), which may change it later:
    // state keeps a copy, so that a snapshot files it under the key group it hashed to.
    if (c !== key && !this.#originalKeys.has(c)) this.#originalKeys.set(c, copyValue(key));
    this.#currentCanonical = c;
  }

  /**
   * The table for a state name, created on first use.
   * @throws {WeirError} `state_kind_mismatch` when the name was declared (or restored) as
   *   another kind of state
   */
  table(name: string, kind: StateKind): Map<unknown, unknown> {
    const known = this.#kinds.get(name);
    if (known !== undefined && known !== kind) {
      throw new WeirError("state_kind_mismatch", `Keyed state "${name}" is a ${known} state; it cannot be used as a ${kind} state`);
    }
    let t = this.#tables.get(name);
    if (!t) {
      this.#tables.set(name, (t = new Map()));
      this.#kinds.set(name, kind);
    }
    return t;
  }

  #requireKey(name: string): unknown {
    if (this.currentKey === undefined) {
      throw new WeirError("state_no_key", `Keyed state "${name}" was used outside of a keyed context`);
    }
    return this.#currentCanonical;
  }

  valueState<T>(name: string): ValueState<T> {
    const t = this.table(name, "value");
    return {
      value: () => t.get(this.#requireKey(name)) as T | undefined,
      update: (v) => void t.set(this.#requireKey(name), v),
      clear: () => void t.delete(this.#requireKey(name)),
    };
  }

  listState<T>(name: string): ListState<T> {
    const t = this.table(name, "list");
    return {
      get: () => ((t.get(this.#requireKey(name)) as T[] | undefined) ?? []).slice(),
      add: (v) => {
        const k = this.#requireKey(name);
        const l = t.get(k) as T[] | undefined;
        if (l) l.push(v);
        else t.set(k, [v]);
      },
      update: (vs) => void t.set(this.#requireKey(name), vs.slice()),
      clear: () => void t.delete(this.#requireKey(name)),
    };
  }

  mapState<K, V>(name: string): MapState<K, V> {
    const t = this.table(name, "map");
    const inner = (create: boolean): Map<unknown, [K, V]> | undefined => {
      const k = this.#requireKey(name);
      let m = t.get(k) as Map<unknown, [K, V]> | undefined;
      if (!m && create) t.set(k, (m = new Map()));
      return m;
    };
    return {
      get: (key) => inner(false)?.get(canonicalKey(key))?.[1],
      put: (key, value) => {
        const c = canonicalKey(key);
        inner(true)!.set(c, [c === key ? key : copyValue(key), value]);
      },
      has: (key) => inner(false)?.has(canonicalKey(key)) ?? false,
      remove: (key) => void inner(false)?.delete(canonicalKey(key)),
      keys: () => [...(inner(false)?.values() ?? [])].map((e) => e[0]),
      entries: () => [...(inner(false)?.values() ?? [])].map((e) => [e[0], e[1]]),
      clear: () => void t.delete(this.#requireKey(name)),
    };
  }

  #original(k: unknown): unknown {
    return this.#originalKeys.get(k) ?? k;
  }

  /**
   * Every table grouped by key group, with its kind. Values are referenced, not copied:
   * the caller encodes them at once (the snapshot point).
   */
  snapshot(): Record<string, KeyedTableSnapshot> {
    const out: Record<string, KeyedTableSnapshot> = {};
    for (const [name, table] of this.#tables) {
      const kind = this.#kinds.get(name)!;
      const groups = new Map<number, [unknown, unknown][]>();
      for (const [k, v] of table) {
        const key = this.#original(k);
        const g = keyGroupOf(key, this.maxParallelism);
        let list = groups.get(g);
        if (!list) groups.set(g, (list = []));
        const value = v instanceof ValueCell ? v.value : kind === "map" ? [...(v as Map<unknown, unknown>).values()] : v;
        list.push([key, value]);
      }
      out[name] = { kind, groups: [...groups.entries()].sort((a, b) => a[0] - b[0]) };
    }
    return out;
  }

  /**
   * Loads the key groups of this backend's range from one or more snapshots.
   * @throws {WeirError} `checkpoint_corrupt` when a table is neither format;
   *   `state_kind_mismatch` when snapshots disagree on a state's kind
   */
  restore(snapshots: Record<string, KeyedTableSnapshot | LegacyTableSnapshot>[]): void {
    for (const snap of snapshots) {
      for (const [name, table] of Object.entries(snap)) {
        const { kind, groups } = readTable(name, table);
        const t = this.table(name, kind);
        for (const [g, entries] of groups) {
          if (g < this.range.start || g > this.range.end) continue;
          for (const [key, v] of entries) {
            const c = canonicalKey(key);
            if (c !== key) this.#originalKeys.set(c, key);
            t.set(c, kind === "map" ? new Map((v as [unknown, unknown][]).map((e) => [canonicalKey(e[0]), e])) : v);
          }
        }
      }
    }
  }
}

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
