import type { Batch } from "../../actors/messages.ts";
import { StatelessOperator } from "./base.ts";

/** filter(fn): keeps the records for which fn is truthy; fn may be async. */
export class FilterOperator extends StatelessOperator {
  readonly timestamped = true;
  readonly #fn: (value: unknown) => unknown;
  constructor(fn: (value: unknown) => unknown) {
    super();
    this.#fn = fn;
  }
  processBatch(values: Batch): unknown[] | Promise<unknown[]> {
    const fn = this.#fn;
    const out: Batch = [];
    const ts = values.timestamps;
    if (ts !== undefined) out.timestamps = [];
    for (let i = 0; i < values.length; i++) {
      const keep = fn(values[i]);
      if (keep instanceof Promise) return this.#rest(values, out, i, keep);
      if (keep) {
        out.push(values[i]);
        if (ts !== undefined) out.timestamps!.push(ts[i]);
      }
    }
    return out;
  }
  async #rest(values: Batch, out: Batch, i: number, first: Promise<unknown>): Promise<unknown[]> {
    const ts = values.timestamps;
    for (let j = i; j < values.length; j++) {
      if (j === i ? await first : await this.#fn(values[j])) {
        out.push(values[j]);
        if (ts !== undefined) out.timestamps!.push(ts[j]);
      }
    }
    return out;
  }
}
