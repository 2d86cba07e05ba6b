import type { ReducingState } from "../../state/backend.ts";
import type { Batch } from "../../actors/messages.ts";
import { KeyedOperator } from "./base.ts";

/** Records whose keys a backend with ReducingState.prefetch is given at a time (the sqlite backend reads 128 a statement). */
const PREFETCH_RUN = 128;

/** Rolling reduce (Flink's): emits the running aggregate for the key after every record. */
export class ReduceOperator extends KeyedOperator {
  /** One out per in: each running aggregate keeps its record's timestamp. */
  readonly timestamped = true;
  readonly #fn: (acc: unknown, value: unknown) => unknown;
  #state!: ReducingState<unknown>;

  constructor(keySelector: (value: unknown) => unknown, fn: (acc: unknown, value: unknown) => unknown) {
    super(keySelector);
    this.#fn = fn;
  }

  override open(...args: Parameters<KeyedOperator["open"]>): void | Promise<void> {
    const restored = super.open(...args);
    // The state is declared once restored: a backend's restore may be asynchronous.
    if (restored instanceof Promise) return restored.then(() => void (this.#state = this.backend.reducingState("reduce", this.#fn)));
    this.#state = this.backend.reducingState("reduce", this.#fn);
  }

  processBatch(values: Batch): unknown[] {
    const sel = this.keySelector;
    const copy = this.copy;
    const state = this.#state;
    const n = values.length;
    const out: Batch = new Array(n);
    if (values.timestamps !== undefined) out.timestamps = values.timestamps;
    // A backend on disk reads a run's missing keys together first (ReducingState.prefetch);
    // runs of PREFETCH_RUN records keep a batch's reads from being one long stretch with no
    // record folded.
    const prefetching = state.prefetch !== undefined;
    for (let from = 0; from < n; from += PREFETCH_RUN) {
      const to = Math.min(n, from + PREFETCH_RUN);
      let keys: unknown[] | undefined;
      if (prefetching) {
        keys = new Array(to - from);
        for (let i = from; i < to; i++) keys[i - from] = sel(values[i]);
        state.prefetch!(keys);
      }
      for (let i = from; i < to; i++) {
        const v = values[i];
        // One lookup per record: the backend folds v into the key's accumulator in place.
        const next = state.addFor(keys === undefined ? sel(v) : keys[i - from], v);
        // The accumulator stays in state and a reduce function may change it in place:
        // what goes out is a copy taken now, not a reference to what it becomes later.
        out[i] = typeof next === "object" || typeof next === "function" ? copy(next) : next;
      }
    }
    return out;
  }
}
