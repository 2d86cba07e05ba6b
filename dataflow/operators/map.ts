import { StatelessOperator } from "./base.ts";

/** map(fn): one record out per record in; fn may be async (records keep their order). */
export class MapOperator extends StatelessOperator {
  readonly #fn: (value: unknown) => unknown;
  constructor(fn: (value: unknown) => unknown) {
    super();
    this.#fn = fn;
  }
  processBatch(values: unknown[]): unknown[] | Promise<unknown[]> {
    const fn = this.#fn;
    const n = values.length;
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const r = fn(values[i]);
      if (r instanceof Promise) return this.#rest(values, out, i, r);
      out[i] = r;
    }
    return out;
  }
  async #rest(values: unknown[], out: unknown[], i: number, first: Promise<unknown>): Promise<unknown[]> {
    out[i] = await first;
    for (let j = i + 1; j < values.length; j++) out[j] = await this.#fn(values[j]);
    return out;
  }
}
