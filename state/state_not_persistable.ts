/**
 * The error for a keyed state value that cannot be persisted, naming the state, its
 * operator and the part that cannot be kept, whichever backend met it (a heap snapshot
 * copying or encoding it, a SQLite write-back encoding its row).
 * @module
 */
import { unpersistablePart } from "../codec/values.ts";
import { WeirError } from "../errors.ts";

/**
 * `value_not_persistable` for `value` of keyed state `state` in operator `uid` (left out
 * when unknown); `cause` is the error the encoder or copy gave, whose message stands in
 * for the part when the value's walk finds none (a string too long for CBOR).
 *
 * @example
 * ```ts
 * import { stateNotPersistable } from "./state_not_persistable.ts";
 * const e = stateNotPersistable("position", "tracker", { at: Symbol("x") });
 * console.assert(e.code === "value_not_persistable" && e.message.includes('keyed state "position"') && e.message.includes("value.at"));
 * ```
 */
export function stateNotPersistable(state: string, uid: string | undefined, value: unknown, cause?: unknown): WeirError {
  const where = uid === undefined ? "" : ` in the state of operator "${uid}"`;
  const part = unpersistablePart(value) ?? (cause instanceof Error ? cause.message : String(cause));
  return new WeirError("value_not_persistable", `Cannot persist keyed state "${state}"${where}: ${part}`, cause === undefined ? undefined : { cause });
}

/** Whether `e` is a `value_not_persistable` error (what an encoder throws for such a value). */
export function isNotPersistable(e: unknown): e is WeirError {
  return e instanceof WeirError && e.code === "value_not_persistable";
}

/** The first of `values` that cannot be persisted, or undefined. */
export function firstUnpersistable(values: ArrayLike<unknown>): unknown {
  for (let i = 0; i < values.length; i++) if (unpersistablePart(values[i]) !== undefined) return values[i];
  return undefined;
}

/**
 * `err` as one naming state `sid` (its codec's `state`, or "#sid") and operator `uid` when it
 * is a `value_not_persistable` error for stored value `stored`; any other error as it is.
 */
export function namedStateError(codecs: ReadonlyMap<number, { readonly state?: string }>, uid: string | undefined, sid: number, stored: unknown, err: unknown): unknown {
  return isNotPersistable(err) ? stateNotPersistable(codecs.get(sid)?.state ?? `#${sid}`, uid, stored, err) : err;
}
