/**
 * How many records one synchronous data step of a subtask takes: a batch is taken in
 * slices sized by the injected clock, so that a step stays within a budget however
 * costly a record is, and the subtask's priority lane (barriers) is checked between
 * slices — by time, not by count.
 * @module
 */

/**
 * Adapts the slice to what records cost: shrinks it when a step overran the budget,
 * grows it back (up to the batch size) when steps are cheap. It reads no clock itself:
 * the subtask hands over the duration it measures anyway.
 *
 * @example
 * ```ts
 * import { StepSlice } from "./step_slice.ts";
 * const slice = new StepSlice(1024, 4);
 * slice.took(1024);
 * slice.stepEnded(256); // 0.25 ms per record: 16 records fit in 4 ms
 * console.assert(slice.records === 16);
 * ```
 */
export class StepSlice {
  /** Records the next synchronous data step takes at most (≥ 1). */
  records: number;
  readonly #maxRecords: number;
  readonly #budgetMs: number;
  /** Records the step in progress took (0: not a synchronous data step). */
  #taken = 0;

  constructor(maxRecords: number, budgetMs: number) {
    this.#maxRecords = maxRecords;
    this.#budgetMs = budgetMs;
    this.records = maxRecords;
  }

  /** The step in progress processes `records` records synchronously. */
  took(records: number): void {
    this.#taken = records;
  }

  /** The step in progress is async: its duration says nothing of what its records cost. */
  forget(): void {
    this.#taken = 0;
  }

  /** The step ended after `ms` of the subtask's clock. */
  stepEnded(ms: number): void {
    const taken = this.#taken;
    this.#taken = 0;
    if (taken === 0) return;
    if (ms > this.#budgetMs) {
      this.records = Math.max(1, Math.floor((taken * this.#budgetMs) / ms));
    } else if (taken >= this.records && ms * 4 < this.#budgetMs && this.records < this.#maxRecords) {
      this.records = Math.min(this.#maxRecords, this.records * 2);
    }
  }
}
