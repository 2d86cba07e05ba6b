/**
 * The heap backend's state views for states declared with a TTL: values are stored as
 * TtlEntry (value and write time) and expired ones drop out lazily on access, as in
 * Flink's TtlValueState, TtlListState and TtlMapState.
 * @module
 */
import { copyValue } from "../codec/values.ts";
import { canonicalKey } from "./key_group.ts";
import type { ListState, MapState, ValueState } from "./keyed_state.ts";
import { type TtlClock, TtlEntry } from "./ttl.ts";

/** The table operations a TTL view uses (a Map, or the heap backend's copy-on-write table). */
export interface TtlTable {
  get(k: unknown): unknown;
  set(k: unknown, v: unknown): unknown;
  delete(k: unknown): boolean;
}

/** What a TTL view needs from its backend: the table and the current key (canonical). */
export interface TtlTableAccess {
  table: TtlTable;
  clock: TtlClock;
  ttl: number;
  /** The current key, canonical; throws outside a keyed context. */
  key(): unknown;
}

/**
 * A ValueState whose value expires `ttl` ms after its last write.
 *
 * @example
 * ```ts
 * import { ttlValueState } from "./heap_ttl_states.ts";
 * import { TtlClock } from "./ttl.ts";
 * let now = 0;
 * const v = ttlValueState<number>({ table: new Map(), clock: new TtlClock({ now: () => now }), ttl: 10, key: () => "k" });
 * v.update(1);
 * now = 10;
 * console.assert(v.value() === undefined);
 * ```
 */
export function ttlValueState<T>(a: TtlTableAccess): ValueState<T> {
  const { table: t, clock, ttl } = a;
  return {
    value: () => {
      const k = a.key();
      const e = t.get(k) as TtlEntry | undefined;
      if (e === undefined) return undefined;
      if (clock.live(e, ttl)) return e.value as T;
      t.delete(k);
      return undefined;
    },
    update: (v) => void (v === undefined ? t.delete(a.key()) : t.set(a.key(), new TtlEntry(v, clock.now()))),
    clear: () => void t.delete(a.key()),
  };
}

/**
 * A ListState whose elements each keep a write time and expire one by one.
 *
 * @example
 * ```ts
 * import { ttlListState } from "./heap_ttl_states.ts";
 * import { TtlClock } from "./ttl.ts";
 * let now = 0;
 * const l = ttlListState<string>({ table: new Map(), clock: new TtlClock({ now: () => now }), ttl: 10, key: () => "k" });
 * l.add("a");
 * now = 5;
 * l.add("b");
 * now = 10;
 * console.assert(l.get().join() === "b");
 * ```
 */
export function ttlListState<T>(a: TtlTableAccess): ListState<T> {
  const { table: t, clock, ttl } = a;
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
    get: () => (live(a.key()) ?? []).map((e) => e.value as T),
    add: (v) => {
      const k = a.key();
      const l = live(k);
      const e = new TtlEntry(v, clock.now());
      if (l) l.push(e);
      else t.set(k, [e]);
    },
    update: (vs) => {
      const now = clock.now();
      t.set(a.key(), vs.map((v) => new TtlEntry(v, now)));
    },
    clear: () => void t.delete(a.key()),
  };
}

/**
 * A MapState whose entries each keep a write time and expire one by one.
 *
 * @example
 * ```ts
 * import { ttlMapState } from "./heap_ttl_states.ts";
 * import { TtlClock } from "./ttl.ts";
 * let now = 0;
 * const m = ttlMapState<string, number>({ table: new Map(), clock: new TtlClock({ now: () => now }), ttl: 10, key: () => "k" });
 * m.put("x", 1);
 * now = 10;
 * console.assert(!m.has("x"));
 * ```
 */
export function ttlMapState<K, V>(a: TtlTableAccess): MapState<K, V> {
  const { table: t, clock, ttl } = a;
  const inner = (create: boolean): Map<unknown, [K, TtlEntry]> | undefined => {
    const k = a.key();
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
      if (m && m.size === 0) t.delete(a.key());
    },
    keys: () => [...(inner(false)?.values() ?? [])].map((e) => e[0]),
    entries: () => [...(inner(false)?.values() ?? [])].map((e) => [e[0], e[1].value as V]),
    clear: () => void t.delete(a.key()),
  };
}
