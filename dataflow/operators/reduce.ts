import { canonicalKey } from "../../state/key_group.ts";
import { KeyedOperator } from "./base.ts";

/** Rolling reduce (Flink's): emits the running aggregate for the key after every record. */
export class ReduceOperator extends KeyedOperator {
  readonly #fn: (acc: unknown, value: unknown) => unknown;
  #table!: Map<unknown, unknown>;

  constructor(keySelector: (value: unknown) => unknown, fn: (acc: unknown, value: unknown) => unknown) {
    super(keySelector);
    this.#fn = fn;
  }

  override open(...args: Parameters<KeyedOperator["open"]>): void {
    super.open(...args);
    this.#table = this.backend.table("reduce");
  }

  processBatch(values: unknown[]): unknown[] {
    const sel = this.keySelector;
    const fn = this.#fn;
    const table = this.#table;
    const n = values.length;
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      let k = sel(v);
      if (k !== null && typeof k === "object") {
        this.backend.setCurrentKey(k);
        k = canonicalKey(k);
      }
      const acc = table.get(k);
      const next = acc === undefined && !table.has(k) ? v : fn(acc, v);
      table.set(k, next);
      out[i] = next;
    }
    return out;
  }
}
