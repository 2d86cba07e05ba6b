import { StatelessOperator } from "./base.ts";

/** filter(fn): keeps the records for which fn is truthy; fn may be async. */
export class FilterOperator extends StatelessOperator {
  readonly #fn: (value: unknown) => unknown;
  constructor(fn: (value: unknown) => unknown) {
    super();
    this.#fn = fn;
  }
  processBatch(values: unknown[]): unknown[] | Promise<unknown[]> {
    const fn = this.#fn;
    const out: unknown[] = [];
    for (let i = 0; i < values.length; i++) {
      const keep = fn(values[i]);
      if (keep instanceof Promise) return this.#rest(values, out, i, keep);
      if (keep) out.push(values[i]);
    }
    return out;
  }
  async #rest(values: unknown[], out: unknown[], i: number, first: Promise<unknown>): Promise<unknown[]> {
    if (await first) out.push(values[i]);
    for (let j = i + 1; j < values.length; j++) if (await this.#fn(values[j])) out.push(values[j]);
    return out;
  }
}
