/**
 * The fetch-ahead buffer a network source reader polls: one fetch at a time runs off the
 * poll (so a barrier never waits behind the network), its records wait here until the
 * subtask takes them, and a fetch that failed surfaces at the next poll. A fetch whose
 * position went stale meanwhile (a restore, a close) is dropped, never delivered.
 * @module
 */

/** What one fetch brought: its records and whether the split has nothing more to read. */
export interface FetchResult<T> {
  records: T[];
  /** True when the split is exhausted after these records (a bounded read reached its end). */
  end: boolean;
}

/**
 * Fetch-ahead buffer of one split.
 * @example
 * ```ts
 * import { Prefetch } from "./prefetch.ts";
 * const p = new Prefetch<number>();
 * p.fetch(async () => ({ records: [1, 2, 3], end: true }), () => true, (e) => e);
 * await Promise.resolve();
 * await Promise.resolve();
 * console.log(p.take(2), p.take(2), p.ended); // [1, 2] [3] true
 * ```
 */
export class Prefetch<T> {
  #buffer: T[] = [];
  #fetching = false;
  #closed = false;
  #ended = false;
  #error: unknown;

  /** True once a fetch reported the end of the split and every record was taken. */
  get ended(): boolean {
    return this.#ended && this.#buffer.length === 0;
  }

  /**
   * Up to `max` buffered records, oldest first, or undefined when none wait.
   * @throws the error a background fetch ended with (already mapped by its `failure`)
   */
  take(max: number): T[] | undefined {
    if (this.#error !== undefined) throw this.#error;
    const buffer = this.#buffer;
    if (buffer.length === 0) return undefined;
    if (buffer.length <= max) {
      this.#buffer = [];
      return buffer;
    }
    this.#buffer = buffer.slice(max);
    return buffer.slice(0, max);
  }

  /**
   * Starts `run` unless a fetch is under way. Its records are kept only while `current()`
   * still holds when it resolves; a rejection becomes `failure(e)`, thrown by the next take().
   */
  fetch(run: () => Promise<FetchResult<T>>, current: () => boolean, failure: (e: unknown) => unknown): void {
    if (this.#fetching || this.#closed) return;
    this.#fetching = true;
    run().then(({ records, end }) => {
      this.#fetching = false;
      if (this.#closed || !current()) return;
      for (const r of records) this.#buffer.push(r);
      if (end) this.#ended = true;
    }, (e) => {
      this.#fetching = false;
      if (!this.#closed) this.#error = failure(e);
    });
  }

  /** Records the failure of something outside a fetch (a closed connection); the next take() throws it. */
  fail(error: unknown): void {
    if (!this.#closed && this.#error === undefined) this.#error = error;
  }

  /** Drops what waits and ignores fetches still running. */
  close(): void {
    this.#closed = true;
    this.#buffer = [];
  }
}
