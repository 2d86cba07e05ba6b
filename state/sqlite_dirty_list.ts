/**
 * The SQLite state cache's list of dirty keys (sqlite_cache.ts): keys are appended when
 * they become dirty and stay listed, clean or evicted, until a sweep compacts the list a
 * slice at a time. A capture's pass (sqlite_capture.ts) reads the list as it was at its
 * snapshot point, so a list a pass still reads is never changed in place.
 * @module
 */
import type { DirtyCapture } from "./sqlite_capture.ts";
import { type CacheEntry, retire } from "./sqlite_cache_entry.ts";

/**
 * The dirty list; `passing` gives the newest capture while its pass is on.
 *
 * @example
 * ```ts
 * import { DirtyList } from "./sqlite_dirty_list.ts";
 * import { CacheEntry } from "./sqlite_cache_entry.ts";
 * const list = new DirtyList(() => undefined);
 * const a = new CacheEntry(0, "a", 0, undefined, 1, 0);
 * a.dirty = true;
 * list.append(a);
 * console.assert(list.compacted().length === 1);
 * a.dirty = false;
 * console.assert(list.compacted().length === 0 && !a.listed);
 * ```
 */
export class DirtyList {
  /** The dirty list: append-only while a sweep is on (captures pass over it as it is). */
  #list: CacheEntry[] = [];
  /** Keys in the dirty list: `#list[0, #length)` (an array reused may hold more, stale or undefined). */
  #length = 0;
  /**
   * The sweep compacting the dirty list, a slice at a time: the list it builds, its length,
   * and how far it got of `#list[0, #sweepEnd)`.
   */
  #swept: CacheEntry[] | undefined;
  #sweptLength = 0;
  #sweepAt = 0;
  #sweepEnd = 0;
  /**
   * The list the last sweep replaced, to build the next one in, and how much of it (or of
   * `#swept` built in it) may still name keys from before: a new array per sweep, as long
   * as the list, lived long enough for scavenges to copy it and was promoted (about a third
   * of Deno's promoted bytes with every record missing the cache).
   */
  #spareList: CacheEntry[] | undefined;
  #spareStale = 0;
  readonly #passing: () => DirtyCapture | undefined;

  constructor(passing: () => DirtyCapture | undefined) {
    this.#passing = passing;
  }

  /** The list as it is now: keys in `[0, length)`, for a capture's pass. */
  get entries(): readonly CacheEntry[] {
    return this.#list;
  }

  /** Keys listed now, clean and evicted ones not yet swept included. */
  get length(): number {
    return this.#length;
  }

  /** Lists `e`, which became dirty and is not listed. */
  append(e: CacheEntry): void {
    e.listed = true;
    this.#list[this.#length++] = e;
  }

  /**
   * Clean and evicted keys linger in the list; once they are an eighth of the `dirtyCount`
   * dirty ones (or 1 024), a sweep drops them, `n` keys per call. Compacting 200 K keys at
   * once held records up for 10–25 ms.
   */
  sweepIfSparse(n: number, dirtyCount: number): void {
    if (this.#swept === undefined) {
      // Soon rather than once the list doubles: evicted keys come free for reuse (their
      // entries) only once swept, and a steady trickle of them is what the pool can keep.
      if (this.#length <= dirtyCount + Math.max(1024, dirtyCount >> 3)) return;
      this.#startSweep();
    }
    this.#sweep(n);
  }

  #startSweep(): void {
    // Not one a capture's pass still reads (the newest capture's: older ones are over).
    const spare = this.#spareList;
    const reused = spare !== undefined && !this.#passing()?.reads(spare);
    this.#swept = reused ? spare : [];
    if (!reused) this.#spareStale = 0;
    this.#spareList = undefined;
    this.#sweptLength = 0;
    this.#sweepAt = 0;
    this.#sweepEnd = this.#length;
  }

  /**
   * Sweeps `n` more keys of the dirty list into the list being built; at the end, the keys
   * listed since the sweep began follow, and the new list replaces the old one. The old one
   * is not changed while a capture's pass holds it (it is the next sweep's list once none
   * does): the pass sees every key listed at its snapshot point (and perhaps keys dropped
   * since, which visit() finds clean or changed later).
   */
  #sweep(n: number): void {
    const list = this.#list;
    const kept = this.#swept!;
    let length = this.#sweptLength;
    const end = Math.min(this.#sweepEnd, this.#sweepAt + n);
    for (let i = this.#sweepAt; i < end; i++) {
      const e = list[i];
      if (e.dirty) kept[length++] = e;
      else {
        e.listed = false;
        retire(e);
      }
    }
    this.#sweepAt = end;
    this.#sweptLength = length;
    if (end < this.#sweepEnd) return;
    for (let i = end; i < this.#length; i++) kept[length++] = list[i];
    // What the reused array named past the new list goes, so that it keeps no key alive.
    for (let i = length; i < this.#spareStale; i++) (kept as (CacheEntry | undefined)[])[i] = undefined;
    if (kept.length > 4 * length + 1024) kept.length = length;
    this.#spareList = list;
    this.#spareStale = this.#length;
    this.#list = kept;
    this.#length = length;
    this.#swept = undefined;
  }

  /** The dirty keys only, the whole list swept. */
  compacted(): CacheEntry[] {
    // The sweep on, if any, then one over the whole list.
    if (this.#swept !== undefined) this.#sweep(Infinity);
    this.#startSweep();
    this.#sweep(Infinity);
    return this.#list.slice(0, this.#length);
  }

  /** Unlists every key (the cache was cleared): an evicted one not yet swept is retired now. */
  clear(): void {
    for (let i = 0; i < this.#length; i++) {
      const e = this.#list[i];
      e.listed = false;
      retire(e);
    }
    this.#list = [];
    this.#length = 0;
    this.#spareList = undefined;
    this.#swept = undefined;
  }
}
