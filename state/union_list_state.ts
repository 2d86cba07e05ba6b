/**
 * Union list state (Flink's `OperatorStateStore.getUnionListState`): an operator list entry
 * that, restored at another parallelism, every new subtask gets in full, where ordinary
 * entries are dealt round-robin. An operator then picks out of the union what concerns it
 * (the watermark assigner of a source: the watermarks of the splits its reader holds now,
 * wherever the rescale put them). At the same parallelism a subtask restores its own
 * entries only, as with ordinary entries (its splits did not move).
 * @module
 */
import { registerType } from "../codec/type_registry.ts";

/**
 * One entry of union list state; `value` is plain data.
 *
 * @example
 * ```ts
 * import { UnionListEntry } from "./union_list_state.ts";
 * const snapshot = { operator: [new UnionListEntry([["split-a", 1000]])] };
 * console.assert(snapshot.operator[0] instanceof UnionListEntry);
 * ```
 */
export class UnionListEntry {
  readonly value: unknown;
  constructor(value: unknown) {
    this.value = value;
  }
}

registerType(UnionListEntry, {
  encode: (e) => e.value,
  decode: (d) => new UnionListEntry(d),
});
