/**
 * The CLOCK frames of the SQLite backend's cache (sqlite_cache.ts): each cached entry's id in
 * one frame, a hand passing them in order, and a victim's frame reused by the next key
 * inserted. Ids in an Int32Array (a SlotList), not entries in an array: see sqlite_entry_ids.ts.
 * @module
 */
import { SlotList } from "./slot_list.ts";

/**
 * Frames of entry ids (0: a free frame) and the hand over them.
 *
 * @example
 * ```ts
 * import { ClockFrames } from "./sqlite_clock.ts";
 * const clock = new ClockFrames();
 * clock.place(7);
 * clock.place(9);
 * const f = clock.advance();
 * console.assert(f === 0 && clock.at(f) === 7 && clock.advance() === 1 && clock.advance() === 0);
 * clock.vacate(0);
 * clock.place(11);
 * console.assert(clock.at(0) === 11 && clock.length === 2);
 * ```
 */
export class ClockFrames {
  /** Frames in use or freed, each an id or 0. */
  readonly #frames = new SlotList();
  readonly #free: number[] = [];
  #hand = 0;

  /** Frames in use or freed. */
  get length(): number {
    return this.#frames.length;
  }

  /** The id in frame `f` (0: free). */
  at(f: number): number {
    return this.#frames.at(f);
  }

  /** Puts `id` in a free frame: the last one vacated, or a new one. */
  place(id: number): void {
    const f = this.#free.pop();
    if (f === undefined) this.#frames.push(id);
    else this.#frames.set(f, id);
  }

  /** The frame under the hand, which moves on by one (round to the first after the last). */
  advance(): number {
    const f = this.#hand;
    this.#hand = f + 1 < this.#frames.length ? f + 1 : 0;
    return f;
  }

  /** Frees frame `f` for a later place(). */
  vacate(f: number): void {
    this.#frames.set(f, 0);
    this.#free.push(f);
  }

  /** No frames, the hand at the start. */
  clear(): void {
    this.#frames.clear();
    this.#free.length = 0;
    this.#hand = 0;
  }
}
