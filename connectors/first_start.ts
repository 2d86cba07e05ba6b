/**
 * A value a source resolves when its job run first starts (a bounded stream's end, the
 * newest id `"$"` names), kept on the source for the run: an attempt that starts over
 * before a checkpoint (a restart) takes the same value rather than resolving it again,
 * which would read records added since or skip those added in between (DESIGN: a bounded
 * source stops at the end position resolved when the job first started).
 * @module
 */

/**
 * One value per job run, resolved by the first attempt that asks; a failed resolution is
 * not kept, so the next attempt resolves again.
 *
 * @example
 * ```ts
 * import { FirstStartValue } from "./first_start.ts";
 * const end = new FirstStartValue<number>();
 * let n = 0;
 * console.assert((await end.get("run-1", async () => ++n)) === 1);
 * console.assert((await end.get("run-1", async () => ++n)) === 1);
 * console.assert((await end.get("run-2", async () => ++n)) === 2);
 * ```
 */
export class FirstStartValue<T> {
  #value: { jobId: string; value: Promise<T> } | undefined;

  /** The value for job run `jobId`: `resolve`'s, from the first call of the run. */
  get(jobId: string, resolve: () => Promise<T>): Promise<T> {
    if (this.#value?.jobId !== jobId) {
      const value = resolve();
      this.#value = { jobId, value };
      value.catch(() => {
        if (this.#value?.value === value) this.#value = undefined;
      });
    }
    return this.#value.value;
  }
}
