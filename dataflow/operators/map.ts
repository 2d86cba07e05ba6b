import type { Batch } from "../../actors/messages.ts";
import { StatelessOperator } from "./base.ts";

/** map(fn): one record out per record in; fn may be async (records keep their order). */
export class MapOperator extends StatelessOperator {
  /** One out per in: the output takes the input's timestamps as they are. */
  readonly timestamped = true;
  readonly #fn: (value: unknown) => unknown;
  constructor(fn: (value: unknown) => unknown) {
    super();
    this.#fn = fn;
  }
  processBatch(values: Batch): unknown[] | Promise<unknown[]> {
    const fn = this.#fn;
    const copy = this.copy;
    const n = values.length;
    const out: Batch = new Array(n);
    if (values.timestamps !== undefined) out.timestamps = values.timestamps;
    for (let i = 0; i < n; i++) {
      const r = fn(values[i]);
      if (r instanceof Promise) return this.#rest(values, out, i, r);
      // Primitives need no copy; skip the call on the hot path.
      out[i] = typeof r === "object" || typeof r === "function" ? copy(r) : r;
    }
    return out;
  }
  async #rest(values: unknown[], out: unknown[], i: number, first: Promise<unknown>): Promise<unknown[]> {
    out[i] = this.copy(await first);
    for (let j = i + 1; j < values.length; j++) out[j] = this.copy(await this.#fn(values[j]));
    return out;
  }
}
