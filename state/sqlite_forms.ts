/**
 * The SQLite backend's value forms: how each kind of state (value, list, map; with or
 * without TTL) is held in memory (the heap backend's forms, so the heap's TTL views work
 * on it unchanged) and how it is stored: its canonical snapshot form
 * (keyed_state.ts's KeyedTableSnapshot entries), so a savepoint copies stored values as
 * they are.
 * @module
 */
import { WeirError } from "../errors.ts";
import { canonicalKey } from "./key_group.ts";
import type { StateKind } from "./keyed_state.ts";
import { restoreTtlEntry, type TtlEntry, type TtlTuple } from "./ttl.ts";

/** Converts one state's values between their in-memory form and their stored (canonical) form. */
export interface StateCodec {
  toStored(mem: unknown): unknown;
  fromStored(stored: unknown): unknown;
  /** The state's name, for errors. */
  readonly state?: string;
}

const identity: StateCodec = { toStored: (v) => v, fromStored: (v) => v };

function notList(name: string, kind: StateKind): WeirError {
  return new WeirError("checkpoint_corrupt", `Keyed state "${name}" has a ${kind} entry that is not a list`);
}

/**
 * The codec of a state: in-memory form ⇄ canonical stored form.
 *
 * @example
 * ```ts
 * import { stateCodec } from "./sqlite_forms.ts";
 * const c = stateCodec("m", "map", false);
 * const mem = c.fromStored([[{ id: 1 }, "x"]]) as Map<unknown, [unknown, unknown]>;
 * console.assert(mem.size === 1 && JSON.stringify(c.toStored(mem)) === '[[{"id":1},"x"]]');
 * ```
 */
export function stateCodec(name: string, kind: StateKind, ttl: boolean): StateCodec {
  return { ...codecOf(name, kind, ttl), state: name };
}

function codecOf(name: string, kind: StateKind, ttl: boolean): StateCodec {
  if (!ttl) {
    if (kind !== "map") return identity;
    return {
      toStored: (m) => [...(m as Map<unknown, [unknown, unknown]>).values()],
      fromStored: (v) => {
        if (!Array.isArray(v)) throw notList(name, kind);
        return new Map((v as [unknown, unknown][]).map((e) => [canonicalKey(e[0]), e]));
      },
    };
  }
  const tuple = (e: TtlEntry): TtlTuple => [e.writtenAt, e.value];
  if (kind === "value") return { toStored: (e) => tuple(e as TtlEntry), fromStored: (v) => restoreTtlEntry(name, v) };
  if (kind === "list") {
    return {
      toStored: (l) => (l as TtlEntry[]).map(tuple),
      fromStored: (v) => {
        if (!Array.isArray(v)) throw notList(name, kind);
        return v.map((t) => restoreTtlEntry(name, t));
      },
    };
  }
  return {
    toStored: (m) => [...(m as Map<unknown, [unknown, TtlEntry]>).values()].map(([k, e]) => [k, tuple(e)]),
    fromStored: (v) => {
      if (!Array.isArray(v)) throw notList(name, kind);
      return new Map((v as [unknown, unknown][]).map(([k, t]) => [canonicalKey(k), [k, restoreTtlEntry(name, t)]]));
    },
  };
}

/**
 * A stored TTL value with its expired parts dropped at processing time `now` (Flink's
 * cleanup in full snapshot); undefined when nothing of it is live.
 *
 * @example
 * ```ts
 * import { liveStored } from "./sqlite_forms.ts";
 * console.assert(liveStored("list", [[0, "old"], [50, "new"]], 60, 100)!.length === 1);
 * console.assert(liveStored("value", [0, "old"], 60, 100) === undefined);
 * ```
 */
export function liveStored(kind: StateKind, stored: unknown, ttl: number, now: number): unknown[] | undefined {
  const live = (t: TtlTuple) => now < t[0] + ttl;
  if (kind === "value") return live(stored as TtlTuple) ? (stored as unknown[]) : undefined;
  const out = kind === "list" ? (stored as TtlTuple[]).filter(live) : (stored as [unknown, TtlTuple][]).filter((e) => live(e[1]));
  return out.length > 0 ? out : undefined;
}
