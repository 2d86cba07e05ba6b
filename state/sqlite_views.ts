/**
 * The SQLite backend's state views: ValueState, ListState and MapState over one state's
 * rows, through {@link StoreTable}, which looks like the Map a heap table is (so the
 * heap's TTL views in heap_ttl_states.ts run on it unchanged) and tells the store which
 * keys changed. A list or map a view changes in place is marked dirty explicitly.
 * @module
 */
import { copyValue } from "../codec/values.ts";
import { canonicalKey } from "./key_group.ts";
import type { ListState, MapState, ValueState } from "./keyed_state.ts";
import type { SqliteStateStore } from "./sqlite_store.ts";

/** The current key as the views need it: canonical (throws outside a keyed context) and original. */
export interface CurrentKey {
  canonical(): unknown;
  /** The original key of `canonical` when it is the current key's; else `canonical` itself. */
  original(canonical: unknown): unknown;
}

/**
 * One state's rows as a Map from canonical key to in-memory value. `get` of a list or map
 * marks the key dirty when `mutableReads` is set, for views (TTL) that change what they
 * read in place.
 */
export class StoreTable {
  constructor(
    readonly store: SqliteStateStore,
    readonly sid: number,
    readonly key: CurrentKey,
    readonly mutableReads: boolean,
  ) {}
  get(c: unknown): unknown {
    const v = this.store.read(this.sid, c, this.key.original(c));
    if (this.mutableReads && v !== undefined) this.store.touch(this.sid, c);
    return v;
  }
  set(c: unknown, v: unknown): this {
    this.store.write(this.sid, c, this.key.original(c), v);
    return this;
  }
  delete(c: unknown): boolean {
    this.store.write(this.sid, c, this.key.original(c), undefined);
    return true;
  }
  has(c: unknown): boolean {
    return this.store.read(this.sid, c, this.key.original(c)) !== undefined;
  }
  /** Marks `c`'s value as changed in place. */
  touch(c: unknown): void {
    this.store.touch(this.sid, c);
  }
}

/**
 * A ValueState over a table.
 *
 * @example
 * ```ts
 * import { sqliteValueState } from "./sqlite_views.ts";
 * const rows = new Map<unknown, unknown>();
 * const t = { get: (k: unknown) => rows.get(k), set: (k: unknown, v: unknown) => rows.set(k, v), delete: (k: unknown) => rows.delete(k) };
 * const v = sqliteValueState<number>(t, { canonical: () => "k", original: (c) => c });
 * v.update(3);
 * console.assert(v.value() === 3 && rows.get("k") === 3);
 * ```
 */
export function sqliteValueState<T>(t: { get(c: unknown): unknown; set(c: unknown, v: unknown): unknown; delete(c: unknown): unknown }, key: CurrentKey): ValueState<T> {
  return {
    value: () => t.get(key.canonical()) as T | undefined,
    // undefined clears, as for heap state (Flink's update(null)).
    update: (v) => void (v === undefined ? t.delete(key.canonical()) : t.set(key.canonical(), v)),
    clear: () => void t.delete(key.canonical()),
  };
}

/** A ListState over a table; `add` appends in place and marks the key dirty. */
export function sqliteListState<T>(t: StoreTable, key: CurrentKey): ListState<T> {
  return {
    get: () => ((t.get(key.canonical()) as T[] | undefined) ?? []).slice(),
    add: (v) => {
      const k = key.canonical();
      const l = t.get(k) as T[] | undefined;
      if (l) {
        l.push(v);
        t.touch(k);
      } else t.set(k, [v]);
    },
    update: (vs) => void t.set(key.canonical(), vs.slice()),
    clear: () => void t.delete(key.canonical()),
  };
}

/** A MapState over a table: one row per key holds the key's whole map, as the heap holds one Map. */
export function sqliteMapState<K, V>(t: StoreTable, key: CurrentKey): MapState<K, V> {
  const inner = (): Map<unknown, [K, V]> | undefined => t.get(key.canonical()) as Map<unknown, [K, V]> | undefined;
  return {
    get: (mk) => inner()?.get(canonicalKey(mk))?.[1],
    put: (mk, value) => {
      const k = key.canonical();
      const c = canonicalKey(mk);
      const entry: [K, V] = [c === mk ? mk : copyValue(mk), value];
      const m = t.get(k) as Map<unknown, [K, V]> | undefined;
      if (m) {
        m.set(c, entry);
        t.touch(k);
      } else t.set(k, new Map([[c, entry]]));
    },
    has: (mk) => inner()?.has(canonicalKey(mk)) ?? false,
    remove: (mk) => {
      const k = key.canonical();
      const m = t.get(k) as Map<unknown, [K, V]> | undefined;
      if (m?.delete(canonicalKey(mk))) t.touch(k);
    },
    keys: () => [...(inner()?.values() ?? [])].map((e) => e[0]),
    entries: () => [...(inner()?.values() ?? [])].map((e) => [e[0], e[1]]),
    clear: () => void t.delete(key.canonical()),
  };
}
