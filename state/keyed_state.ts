/**
 * Keyed state on the heap: one Map per declared state, from canonical key to value.
 * Snapshots group entries by key group so that a restore with another parallelism can
 * pick exactly the key groups it owns.
 * @module
 */
import { copyValue } from "../codec/values.ts";
import { WeirError } from "../errors.ts";
import { type KeyGroupRange, canonicalKey, invalidKey, keyGroupOf } from "./key_group.ts";
import type { Clock } from "../actors/time.ts";
import { type StateOptions, TtlClock, TtlEntry, checkTtl, restoreTtlEntry, snapshotTtlValue } from "./ttl.ts";

export type { StateOptions } from "./ttl.ts";

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
  /** True when values are stored as [writtenAt, value] tuples (state with TTL). */
  ttl?: boolean;
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

  /** Tables whose values are TtlEntry (declared or restored with TTL). */
  #ttlTables = new Set<string>();
  #ttlClock: TtlClock | undefined;
  /** The TTL each table was declared with in this run (restored-only tables have none yet). */
  #declaredTtl = new Map<string, number>();

  /** `clock` is the processing-time clock state TTL uses; without it TTL cannot be declared. */
  constructor(maxParallelism: number, range: KeyGroupRange, clock?: Clock) {
    this.maxParallelism = maxParallelism;
    this.range = range;
    this.#ttlClock = clock ? new TtlClock(clock) : undefined;
  }

  /**
   * The TTL table of a declaration, checked against what was restored.
   * @throws {WeirError} `invalid_state_ttl`, `state_ttl_mismatch` when a state is declared with
   *   TTL and was stored without it or the other way round
   */
  #ttlTable(name: string, kind: StateKind, options: StateOptions | undefined): { table: Map<unknown, unknown>; ttl: number | undefined } {
    const ttl = checkTtl(name, options);
    const existed = this.#tables.has(name);
    const table = this.table(name, kind);
    const stored = this.#ttlTables.has(name);
    if (existed && table.size > 0 && stored !== (ttl !== undefined)) {
      throw new WeirError("state_ttl_mismatch", `Keyed state "${name}" was stored ${stored ? "with" : "without"} a TTL and is now declared ${ttl !== undefined ? `with ttl ${ttl}` : "without one"}`);
    }
    if (ttl !== undefined) {
      if (!this.#ttlClock) throw new WeirError("invalid_state_ttl", `Keyed state "${name}": this operator has no clock for a TTL`);
      this.#ttlTables.add(name);
      this.#declaredTtl.set(name, ttl);
    } else {
      this.#ttlTables.delete(name);
      this.#declaredTtl.delete(name);
    }
    return { table, ttl };
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

  valueState<T>(name: string, options?: StateOptions): ValueState<T> {
    const { table: t, ttl } = this.#ttlTable(name, "value", options);
    if (ttl !== undefined) return this.#ttlValue<T>(name, t, ttl);
    return {
      value: () => t.get(this.#requireKey(name)) as T | undefined,
      update: (v) => void t.set(this.#requireKey(name), v),
      clear: () => void t.delete(this.#requireKey(name)),
    };
  }

  listState<T>(name: string, options?: StateOptions): ListState<T> {
    const { table: t, ttl } = this.#ttlTable(name, "list", options);
    if (ttl !== undefined) return this.#ttlList<T>(name, t, ttl);
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

  mapState<K, V>(name: string, options?: StateOptions): MapState<K, V> {
    const { table: t, ttl } = this.#ttlTable(name, "map", options);
    if (ttl !== undefined) return this.#ttlMap<K, V>(name, t, ttl);
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

  #ttlValue<T>(name: string, t: Map<unknown, unknown>, ttl: number): ValueState<T> {
    const clock = this.#ttlClock!;
    return {
      value: () => {
        const k = this.#requireKey(name);
        const e = t.get(k) as TtlEntry | undefined;
        if (e === undefined) return undefined;
        if (clock.live(e, ttl)) return e.value as T;
        t.delete(k);
        return undefined;
      },
      update: (v) => void t.set(this.#requireKey(name), new TtlEntry(v, clock.now())),
      clear: () => void t.delete(this.#requireKey(name)),
    };
  }

  /** Flink's TTL list keeps a write time per element; expired elements drop out one by one. */
  #ttlList<T>(name: string, t: Map<unknown, unknown>, ttl: number): ListState<T> {
    const clock = this.#ttlClock!;
    const live = (k: unknown): TtlEntry[] | undefined => {
      const l = t.get(k) as TtlEntry[] | undefined;
      if (!l) return undefined;
      const now = clock.now();
      const kept = l.filter((e) => clock.live(e, ttl, now));
      if (kept.length === 0) {
        t.delete(k);
        return undefined;
      }
      if (kept.length === l.length) return l;
      t.set(k, kept);
      return kept;
    };
    return {
      get: () => (live(this.#requireKey(name)) ?? []).map((e) => e.value as T),
      add: (v) => {
        const k = this.#requireKey(name);
        const l = live(k);
        const e = new TtlEntry(v, clock.now());
        if (l) l.push(e);
        else t.set(k, [e]);
      },
      update: (vs) => {
        const now = clock.now();
        t.set(this.#requireKey(name), vs.map((v) => new TtlEntry(v, now)));
      },
      clear: () => void t.delete(this.#requireKey(name)),
    };
  }

  /** Each map entry has its own write time, as in Flink's TtlMapState. */
  #ttlMap<K, V>(name: string, t: Map<unknown, unknown>, ttl: number): MapState<K, V> {
    const clock = this.#ttlClock!;
    const inner = (create: boolean): Map<unknown, [K, TtlEntry]> | undefined => {
      const k = this.#requireKey(name);
      let m = t.get(k) as Map<unknown, [K, TtlEntry]> | undefined;
      if (m) {
        const now = clock.now();
        for (const [c, e] of m) if (!clock.live(e[1], ttl, now)) m.delete(c);
        if (m.size === 0 && !create) {
          t.delete(k);
          return undefined;
        }
      }
      if (!m && create) t.set(k, (m = new Map()));
      return m;
    };
    return {
      get: (key) => inner(false)?.get(canonicalKey(key))?.[1].value as V | undefined,
      put: (key, value) => {
        const c = canonicalKey(key);
        inner(true)!.set(c, [c === key ? key : copyValue(key), new TtlEntry(value, clock.now())]);
      },
      has: (key) => inner(false)?.has(canonicalKey(key)) ?? false,
      remove: (key) => {
        const m = inner(false);
        m?.delete(canonicalKey(key));
        if (m && m.size === 0) t.delete(this.#requireKey(name));
      },
      keys: () => [...(inner(false)?.values() ?? [])].map((e) => e[0]),
      entries: () => [...(inner(false)?.values() ?? [])].map((e) => [e[0], e[1].value as V]),
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
      const ttl = this.#ttlTables.has(name);
      // Cleanup in full snapshot: expired entries are not written; the live ones carry their
      // write time so that a restore expires them at the same instant.
      const now = this.#ttlClock?.now() ?? 0;
      const ttlMs = ttl ? this.#declaredTtl.get(name) : undefined;
      const live = (e: TtlEntry) => ttlMs === undefined || now < e.writtenAt + ttlMs;
      for (const [k, v] of table) {
        let value: unknown;
        if (ttl) {
          value = snapshotTtlValue(kind, v, live);
          if (value === undefined) continue;
        } else value = v instanceof ValueCell ? v.value : kind === "map" ? [...(v as Map<unknown, unknown>).values()] : v;
        const key = this.#original(k);
        const g = keyGroupOf(key, this.maxParallelism);
        let list = groups.get(g);
        if (!list) groups.set(g, (list = []));
        list.push([key, value]);
      }
      out[name] = { kind, groups: [...groups.entries()].sort((a, b) => a[0] - b[0]) };
      if (ttl) out[name].ttl = true;
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
        const { kind, groups, ttl } = readTable(name, table);
        const t = this.table(name, kind);
        if (ttl) this.#ttlTables.add(name);
        for (const [g, entries] of groups) {
          if (g < this.range.start || g > this.range.end) continue;
          for (const [key, v] of entries) {
            const c = canonicalKey(key);
            if (c !== key) this.#originalKeys.set(c, key);
            if (ttl) t.set(c, restoreTtl(name, kind, v));
            else t.set(c, kind === "map" ? new Map((v as [unknown, unknown][]).map((e) => [canonicalKey(e[0]), e])) : v);
          }
        }
      }
    }
  }
}

/** A snapshot value of a TTL table back into TtlEntry form. */
function restoreTtl(name: string, kind: StateKind, v: unknown): unknown {
  if (kind === "value") return restoreTtlEntry(name, v);
  if (!Array.isArray(v)) throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" with TTL has a ${kind} entry that is not a list`);
  if (kind === "list") return v.map((e) => restoreTtlEntry(name, e));
  return new Map((v as [unknown, unknown][]).map(([k, e]) => [canonicalKey(k), [k, restoreTtlEntry(name, e)]]));
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
