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
  #numbers: Float64Array | undefined = new Float64Array(16);
  #items: unknown[] | undefined;
  #n = 0;

  /** Adds an item. */
  push(item: unknown): void {
    const numbers = this.#numbers;
    if (numbers !== undefined) {
      if (typeof item === "number") {
        if (this.#n === numbers.length) {
          const grown = new Float64Array(numbers.length * 2);
          grown.set(numbers);
          this.#numbers = grown;
          grown[this.#n++] = item;
        } else numbers[this.#n++] = item;
        return;
      }
      this.#items = Array.from(numbers.subarray(0, this.#n));
      this.#numbers = undefined;
    }
    this.#items!.push(item);
  }

  /** The items pushed so far: a Float64Array while all are numbers, else an array. */
  items(): ArrayLike<unknown> {
    return this.#numbers !== undefined ? this.#numbers.subarray(0, this.#n) : this.#items!;
  }
}
