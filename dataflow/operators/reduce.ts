import { canonicalKey, invalidKey } from "../../state/key_group.ts";
import { ValueCell } from "../../state/keyed_state.ts";
import { KeyedOperator } from "./base.ts";

/** Rolling reduce (Flink's): emits the running aggregate for the key after every record. */
export class ReduceOperator extends KeyedOperator {
  readonly #fn: (acc: unknown, value: unknown) => unknown;
  #table!: Map<unknown, ValueCell>;

  constructor(keySelector: (value: unknown) => unknown, fn: (acc: unknown, value: unknown) => unknown) {
    super(keySelector);
    this.#fn = fn;
  }

  override open(...args: Parameters<KeyedOperator["open"]>): void {
    super.open(...args);
    const table = this.backend.table("reduce", "value");
    // Restored values become cells; snapshots unwrap them again.
    for (const [k, v] of table) table.set(k, new ValueCell(v));
    this.#table = table as Map<unknown, ValueCell>;
  }

  processBatch(values: unknown[]): unknown[] {
    const sel = this.keySelector;
    const fn = this.#fn;
    const copy = this.copy;
    const table = this.#table;
    const n = values.length;
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      let k = sel(v);
      if (k === undefined || k === null) throw invalidKey(k);
      if (typeof k === "object") {
        this.backend.setCurrentKey(k);
        k = canonicalKey(k);
      }
      const cell = table.get(k);
      // The accumulator stays in state and a reduce function may change it in place:
      // what goes out is a copy taken now, not a reference to what it becomes later.
      if (cell === undefined) {
        table.set(k, new ValueCell(v));
        out[i] = typeof v === "object" || typeof v === "function" ? copy(v) : v;
      } else {
        const next = fn(cell.value, v);
        cell.value = next;
        out[i] = typeof next === "object" || typeof next === "function" ? copy(next) : next;
      }
    }
    return out;
  }
}
