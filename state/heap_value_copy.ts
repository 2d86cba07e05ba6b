/**
 * Copies of heap state values for snapshots: a value stays live in its table while a
 * snapshot encodes it, so the snapshot takes a deep copy (codec/values.ts), and a value
 * that cannot be copied fails the checkpoint naming its state and operator.
 * @module
 */
import { copyValue } from "../codec/values.ts";
import { WeirError } from "../errors.ts";
import { stateNotPersistable } from "./state_not_persistable.ts";
import { TtlEntry } from "./ttl.ts";

/**
 * A deep copy of value `value` of keyed state `state` in operator `uid`.
 * @throws {WeirError} `value_not_persistable` naming the state, the operator and the part
 *   that cannot be kept (an unregistered class instance…)
 *
 * @example
 * ```ts
 * import { copyStateValue } from "./heap_value_copy.ts";
 * const v = { n: [1, 2] };
 * const c = copyStateValue(v, "count", "sum") as typeof v;
 * console.assert(c !== v && c.n[1] === 2);
 * let code = "";
 * try { copyStateValue(() => 0, "count", "sum"); } catch (e) { code = (e as { code: string }).code; }
 * console.assert(code === "value_not_persistable");
 * ```
 */
export function copyStateValue(value: unknown, state: string, uid: string | undefined): unknown {
  try {
    return copyValue(value);
  } catch (e) {
    if (!(e instanceof WeirError) || e.code !== "record_not_copyable") throw e;
    throw stateNotPersistable(state, uid, value, e);
  }
}

/**
 * A deep copy of what a heap table stores for a key, its wrappers included: a TTL entry, a
 * map state's entries (canonical key → [original key, value or TtlEntry]), a list of TTL
 * entries; errors as copyStateValue().
 *
 * @example
 * ```ts
 * import { copyStoredValue } from "./heap_value_copy.ts";
 * import { TtlEntry } from "./ttl.ts";
 * const stored = new TtlEntry({ n: 1 }, 500);
 * const c = copyStoredValue(stored, "seen", undefined) as TtlEntry;
 * console.assert(c !== stored && c.writtenAt === 500 && (c.value as { n: number }).n === 1 && c.value !== stored.value);
 * ```
 */
export function copyStoredValue(stored: unknown, state: string, uid: string | undefined): unknown {
  if (stored instanceof TtlEntry) return new TtlEntry(copyStateValue(stored.value, state, uid), stored.writtenAt);
  if (stored instanceof Map) {
    const out = new Map();
    for (const [c, [key, v]] of stored as Map<unknown, [unknown, unknown]>) out.set(c, [key, copyStoredValue(v, state, uid)]);
    return out;
  }
  if (Array.isArray(stored) && stored.length > 0 && stored[0] instanceof TtlEntry) return stored.map((e) => copyStoredValue(e, state, uid));
  return copyStateValue(stored, state, uid);
}
