/**
 * Broadcast state (Flink's `BroadcastState`, the "broadcast state pattern" since Flink 1.5):
 * map states that every subtask of an operator holds in full and identically, written only
 * by broadcast records, which every subtask receives in the same order. A snapshot is one
 * {@link BroadcastStateSnapshot} per subtask in the operator's list state; a restore at any
 * parallelism gives every new subtask the copy of old subtask 0 (they are all equal), where
 * ordinary list entries are dealt round-robin.
 * @module
 */
import { registerType } from "../codec/type_registry.ts";
import { copyValue } from "../codec/values.ts";
import { WeirError } from "../errors.ts";
import { canonicalKey } from "./key_group.ts";
import type { MapState } from "./keyed_state.ts";

/** The broadcast state tables of one subtask at a snapshot point: [state name, [key, value][]][]. */
export class BroadcastStateSnapshot {
  readonly tables: [string, [unknown, unknown][]][];
  constructor(tables: [string, [unknown, unknown][]][]) {
    this.tables = tables;
  }
}

registerType(BroadcastStateSnapshot, {
  encode: (s) => s.tables,
  decode: (d) => new BroadcastStateSnapshot(d as [string, [unknown, unknown][]][]),
});

/** The map states of one subtask's broadcast state, by name. */
export class BroadcastStates {
  readonly #tables = new Map<string, Map<unknown, [unknown, unknown]>>();
  readonly #operator: string;

  /** `operator` names the operator in errors. */
  constructor(operator: string) {
    this.#operator = operator;
  }

  /** The writable map state `name` (created empty on first use). */
  writable<K, V>(name: string): MapState<K, V> {
    return this.#view(name, true);
  }

  /**
   * The map state `name`, read-only: what a keyed record may see, since a write from one
   * subtask would make the copies differ (Flink's `ReadOnlyBroadcastState`).
   */
  readOnly<K, V>(name: string): MapState<K, V> {
    return this.#view(name, false);
  }

  #view<K, V>(name: string, writable: boolean): MapState<K, V> {
    if (typeof name !== "string" || name.length === 0) {
      throw new WeirError("invalid_option", `Broadcast state of "${this.#operator}": name must be a non-empty string, got ${JSON.stringify(name) ?? String(name)}`);
    }
    const table = () => {
      let t = this.#tables.get(name);
      if (!t) this.#tables.set(name, t = new Map());
      return t;
    };
    const refuse = (): never => {
      throw new WeirError("invalid_state_access", `Broadcast state "${name}" of "${this.#operator}" is read-only in processElement; write it in processBroadcastElement, which every subtask runs alike`);
    };
    return {
      get: (k) => table().get(canonicalKey(k))?.[1] as V | undefined,
      has: (k) => table().has(canonicalKey(k)),
      put: (k, v) => (writable ? void table().set(canonicalKey(k), [k, v]) : refuse()),
      remove: (k) => (writable ? void table().delete(canonicalKey(k)) : refuse()),
      clear: () => (writable ? table().clear() : refuse()),
      keys: () => [...table().values()].map(([k]) => k as K),
      entries: () => [...table().values()].map(([k, v]) => [k as K, v as V]),
    };
  }

  /** A copy of every table, taken at the snapshot point. */
  snapshot(): BroadcastStateSnapshot {
    return new BroadcastStateSnapshot([...this.#tables].map(([name, t]) => [name, [...t.values()].map(([k, v]) => [copyValue(k), copyValue(v)] as [unknown, unknown])]));
  }

  /** Replaces every table with those of a snapshot. */
  restore(snapshot: BroadcastStateSnapshot): void {
    this.#tables.clear();
    for (const [name, entries] of snapshot.tables) this.#tables.set(name, new Map(entries.map(([k, v]) => [canonicalKey(k), [k, v]])));
  }
}
