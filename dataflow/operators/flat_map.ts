import { WeirError } from "../../errors.ts";
import { type Emitter, StatelessOperator } from "./base.ts";

/** flatMap(fn): fn returns an iterable (or a promise of one) of records to emit. */
export class FlatMapOperator extends StatelessOperator {
  readonly #fn: (value: unknown) => unknown;
  constructor(fn: (value: unknown) => unknown) {
    super();
    this.#fn = fn;
  }
  processBatch(values: unknown[]): unknown[] | Promise<unknown[]> {
    const out: unknown[] = [];
    for (let i = 0; i < values.length; i++) {
      const r = this.#fn(values[i]);
      if (r instanceof Promise) return this.#rest(values, out, i, r);
      append(out, r, this.copy);
    }
    return out;
  }
  async #rest(values: unknown[], out: unknown[], i: number, first: Promise<unknown>): Promise<unknown[]> {
    append(out, await first, this.copy);
    for (let j = i + 1; j < values.length; j++) append(out, await this.#fn(values[j]), this.copy);
    return out;
  }
}

function append(out: unknown[], r: unknown, copy: Emitter): void {
  if (Array.isArray(r)) {
    for (let k = 0; k < r.length; k++) out.push(copy(r[k]));
    return;
  }
  if (r === undefined || r === null) return;
  if (typeof (r as Iterable<unknown>)[Symbol.iterator] !== "function" || typeof r === "string") {
    throw new WeirError("invalid_result", `flatMap function must return an array or iterable, got ${typeof r}`);
  }
  for (const v of r as Iterable<unknown>) out.push(copy(v));
}
