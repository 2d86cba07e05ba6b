/**
 * A growing list of table slots (heap_table.ts `dirty`) in an Int32Array: at a million
 * changed keys a JS array of slots was megabytes in V8's large-object space, and each time
 * it grew its old elements stayed there until the next full collection (most of the heap an
 * incremental checkpoint left behind). A typed array's old buffers are freed as soon as
 * they are unreachable, outside the JS heap.
 * @module
 */

/**
 * Slots in the order they were added.
 *
 * @example
 * ```ts
 * import { SlotList } from "./slot_list.ts";
 * const l = new SlotList();
 * for (let s = 0; s < 100; s++) l.push(s);
 * console.assert(l.length === 100 && l.at(99) === 99);
 * l.set(5, 42);
 * console.assert(l.at(5) === 42 && l.length === 100);
 * l.clear();
 * console.assert(l.length === 0);
 * ```
 */
export class SlotList {
  #slots = new Int32Array(16);
  #n = 0;

  /** How many slots were added since the list was made or cleared. */
  get length(): number {
    return this.#n;
  }

  /** Slot number i (0 ≤ i < length). */
  at(i: number): number {
    return this.#slots[i];
  }

  /** Adds a slot (a non-negative int32). */
  push(slot: number): void {
    if (this.#n === this.#slots.length) {
      const grown = new Int32Array(this.#slots.length * 2);
      grown.set(this.#slots);
      this.#slots = grown;
    }
    this.#slots[this.#n++] = slot;
  }

  /** Puts `slot` at place i (0 ≤ i < length) in place of what was there. */
  set(i: number, slot: number): void {
    this.#slots[i] = slot;
  }

  /** Forgets every slot. */
  clear(): void {
    this.#n = 0;
  }
}
