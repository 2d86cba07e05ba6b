/**
 * A column of a heap snapshot (heap_snapshot.ts) as it is collected: numbers go into a
 * growing Float64Array until the first item that is not a number, which turns the column
 * into a plain array. A changelog of a million changed number keys and values used to grow
 * two JS arrays per key group that lived through the snapshot's steps and were promoted to
 * the old generation, to die right after the encode: a typed array's buffer is outside the
 * JS heap and freed as soon as it is unreachable. A Float64Array keeps every number as it
 * is (-0, NaN, ±Infinity), so the encoder (heap_columns.ts) picks the same form and writes
 * the same bytes as from an array.
 * @module
 */

/**
 * Items in the order they were pushed.
 *
 * @example
 * ```ts
 * import { ColumnBuilder } from "./column_builder.ts";
 * const c = new ColumnBuilder();
 * c.push(1);
 * c.push(-0);
 * console.assert(c.items() instanceof Float64Array && Object.is(c.items()[1], -0));
 * c.push("a");
 * console.assert(Array.isArray(c.items()) && c.items().length === 3);
 * ```
 */
export class ColumnBuilder {
  /** The numbers while every item is one; kept (grown) across resets. */
  #buffer: Float64Array;
  /** The items once one was not a number. */
  #items: unknown[] | undefined;
  #n = 0;

  /** `capacity`: numbers the first buffer holds. */
  constructor(capacity = 16) {
    this.#buffer = new Float64Array(Math.max(1, capacity));
  }

  /** Bytes of the number buffer (kept across resets). */
  get capacityBytes(): number {
    return this.#buffer.byteLength;
  }

  /** Adds an item. */
  push(item: unknown): void {
    if (this.#items === undefined) {
      if (typeof item === "number") {
        if (this.#n === this.#buffer.length) {
          const grown = new Float64Array(this.#buffer.length * 2);
          grown.set(this.#buffer);
          this.#buffer = grown;
        }
        this.#buffer[this.#n++] = item;
        return;
      }
      this.#items = Array.from(this.#buffer.subarray(0, this.#n));
    }
    this.#items.push(item);
  }

  /** The items pushed so far: a Float64Array while all are numbers, else an array. */
  items(): ArrayLike<unknown> {
    return this.#items ?? this.#buffer.subarray(0, this.#n);
  }

  /** Forgets every item, keeping the number buffer: what items() returned before must not be read after. */
  reset(): void {
    this.#n = 0;
    this.#items = undefined;
  }
}

/**
 * Builders kept for the next snapshot, with their buffers: a changelog of a million keys
 * grew about 32 MiB of fresh buffers per checkpoint, and fresh memory is slow (page faults:
 * 8 MiB took 13-17 ms on the benchmark VM, a reused buffer about 1 ms). Holds at most
 * `maxBytes` of buffers; builders beyond it are left to the collector.
 *
 * @example
 * ```ts
 * import { ColumnPool } from "./column_builder.ts";
 * const pool = new ColumnPool();
 * const c = pool.take();
 * for (let i = 0; i < 1000; i++) c.push(i);
 * pool.give(c);
 * console.assert(pool.take() === c && c.items().length === 0);
 * ```
 */
export class ColumnPool {
  readonly #free: ColumnBuilder[] = [];
  readonly #maxBytes: number;
  #bytes = 0;

  /** `maxBytes`: buffer bytes kept at most (default 64 MiB). */
  constructor(maxBytes = 64 << 20) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes of the buffers kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /** A builder with no items, reused when one is kept. */
  take(): ColumnBuilder {
    const b = this.#free.pop();
    if (b === undefined) return new ColumnBuilder();
    this.#bytes -= b.capacityBytes;
    return b;
  }

  /** Keeps a builder for reuse (reset); the caller reads none of its items after this. */
  give(b: ColumnBuilder): void {
    b.reset();
    if (this.#bytes + b.capacityBytes > this.#maxBytes) return;
    this.#bytes += b.capacityBytes;
    this.#free.push(b);
  }
}
