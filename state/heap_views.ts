/**
 * The heap backend's state views (heap_backend.ts): ValueState, ListState, MapState,
 * ReducingState and AggregatingState over one state's table, for the current key that
 * `key()` gives (it throws outside a keyed context). The TTL views are heap_ttl_states.ts's.
 * A reducing or aggregating state folds into the value's cell with one lookup per record.
 * @module
 */
import { copyValue } from "../codec/values.ts";
import type { AggregatingState, ReducingState, StateAggregator } from "./backend.ts";
import { canonicalKey, invalidKey } from "./key_group.ts";
import type { ListState, MapState, ValueState } from "./keyed_state.ts";
import type { StateTable } from "./heap_table.ts";

/** The current key of a state access, canonical. */
export type CurrentHeapKey = () => unknown;

/**
 * A value state over table `t`.
 *
 * @example
 * ```ts
 * import { HeapKeyedStateBackend } from "./heap_backend.ts";
 * const b = new HeapKeyedStateBackend({ maxParallelism: 8, range: { start: 0, end: 7 } });
 * b.setCurrentKey("k");
 * const v = b.valueState<number>("v"); // heapValueState over the table "v"
 * v.update(1);
 * console.assert(v.value() === 1);
 * ```
 */
export function heapValueState<T>(t: StateTable, key: CurrentHeapKey): ValueState<T> {
  return {
    value: () => t.get(key()) as T | undefined,
    // undefined clears (Flink's update(null)): a key without a value holds no entry.
    update: (v) => void (v === undefined ? t.delete(key()) : t.set(key(), v)),
    clear: () => void t.delete(key()),
  };
}

/** A list state over table `t`: `add` appends to the stored list in place. */
export function heapListState<T>(t: StateTable, key: CurrentHeapKey): ListState<T> {
  return {
    get: () => ((t.get(key()) as T[] | undefined) ?? []).slice(),
    add: (v) => {
      const k = key();
      const l = t.get(k) as T[] | undefined;
      if (l) l.push(v);
      else t.set(k, [v]);
    },
    update: (vs) => void t.set(key(), vs.slice()),
    clear: () => void t.delete(key()),
  };
}

/** A map state over table `t`: a Map from canonical user key to `[original key, value]`. */
export function heapMapState<K, V>(t: StateTable, key: CurrentHeapKey): MapState<K, V> {
  const inner = (create: boolean): Map<unknown, [K, V]> | undefined => {
    const k = key();
    let m = t.get(k) as Map<unknown, [K, V]> | undefined;
    if (!m && create) t.set(k, (m = new Map()));
    return m;
  };
  return {
    get: (k) => inner(false)?.get(canonicalKey(k))?.[1],
    put: (k, value) => {
      const c = canonicalKey(k);
      inner(true)!.set(c, [c === k ? k : copyValue(k), value]);
    },
    has: (k) => inner(false)?.has(canonicalKey(k)) ?? false,
    remove: (k) => void inner(false)?.delete(canonicalKey(k)),
    keys: () => [...(inner(false)?.values() ?? [])].map((e) => e[0]),
    entries: () => [...(inner(false)?.values() ?? [])].map((e) => [e[0], e[1]]),
    clear: () => void t.delete(key()),
  };
}

/**
 * A reducing state over value table `t`; `canonical` turns an object key of `addFor` into
 * the table's key. One lookup per record: the accumulator is folded in its cell, copied
 * first only while a snapshot still needs the old one.
 */
export function heapReducingState<T>(t: StateTable, key: CurrentHeapKey, canonical: (k: object) => unknown, reduce: (acc: T, value: T) => T): ReducingState<T> {
  const addFor = (k: unknown, value: T): T => {
    const slot = t.slotFor(k);
    if (slot < 0) {
      t.add(k, value);
      return value;
    }
    const values = t.values;
    return (values[slot] = reduce(values[slot] as T, value)) as T;
  };
  return {
    get: () => t.get(key()) as T | undefined,
    add: (value) => void addFor(key(), value),
    addFor: (k, value) => {
      if (k === undefined || k === null) throw invalidKey(k);
      return addFor(typeof k === "object" ? canonical(k) : k, value);
    },
    clear: () => void t.delete(key()),
  };
}

/**
 * An aggregating state over value table `t`, as heapReducingState. Written out twice on
 * purpose: one shared fold through a closure cost the rolling count 12-22 % on Deno
 * (bench/windows.ts, paired runs), where the sqlite backend shares one.
 */
export function heapAggregatingState<IN, ACC>(t: StateTable, key: CurrentHeapKey, canonical: (k: object) => unknown, aggregator: StateAggregator<IN, ACC>): AggregatingState<IN, ACC> {
  const addFor = (k: unknown, value: IN): ACC => {
    const slot = t.slotFor(k);
    if (slot < 0) {
      const acc = aggregator.add(value, aggregator.createAccumulator());
      t.add(k, acc);
      return acc;
    }
    const values = t.values;
    return (values[slot] = aggregator.add(value, values[slot] as ACC));
  };
  return {
    get: () => t.get(key()) as ACC | undefined,
    add: (value) => void addFor(key(), value),
    addFor: (k, value) => {
      if (k === undefined || k === null) throw invalidKey(k);
      return addFor(typeof k === "object" ? canonical(k) : k, value);
    },
    clear: () => void t.delete(key()),
  };
}
