/**
 * The SQLite backend's cache of decoded values in front of its working file: one Map per
 * state, a CLOCK hand choosing what to drop when the cache is full, and the list of dirty
 * keys (changed and not yet written back). The store (sqlite_store.ts) reads the file on a
 * miss and writes back the dirty keys the cache gives up.
 * @module
 */
import { WeirError } from "../errors.ts";
import { DirtyCapture } from "./sqlite_capture.ts";
import type { StateCodec } from "./sqlite_store.ts";

/** A cached key: its value in memory (undefined: absent), and whether the file lags behind it. */
export class CacheEntry {
  constructor(
    readonly sid: number,
    readonly canonical: unknown,
    readonly keyGroup: number,
    /** The original key when it is an object (canonical is its text); else undefined. */
    readonly key: unknown,
    public mem: unknown,
    /** The cache's capture epoch when the value last changed. */
    public epoch: number,
  ) {}
  /** The file lags behind `mem`. */
  dirty = false;
  /** In the cache's dirty list (perhaps clean by now: the list is compacted now and then). */
  listed = false;
  /** Read or written since the CLOCK hand last passed (second chance). */
  hit = true;
  /** The capture holding this key's value by reference, until the key is used again. */
  capture: DirtyCapture | undefined = undefined;
  /** This key's index in `capture`. */
  captureAt = 0;
  /** The newest capture whose pass visited this key (see DirtyCapture.visit()). */
  seenBy: DirtyCapture | undefined = undefined;
}

/**
 * Cached keys per state id, at most `capacity` in all before victims are taken.
 *
 * @example
 * ```ts
 * import { CacheEntry, EntryCache } from "./sqlite_cache.ts";
 * const cache = new EntryCache(2);
 * cache.declare(0);
 * for (const k of ["a", "b", "c"]) cache.insert(new CacheEntry(0, k, 0, undefined, 1, cache.epoch));
 * console.assert(cache.overfull && cache.takeVictims().length === 1 && cache.size === 2);
 * ```
 */
export class EntryCache {
  readonly capacity: number;
  /** Victims per takeVictims(): small, so that writing the dirty ones back is a short pause. */
  readonly batch: number;
  readonly #maps = new Map<number, Map<unknown, CacheEntry>>();
  readonly #mapList: Map<unknown, CacheEntry>[] = [];
  #size = 0;
  #dirty: CacheEntry[] = [];
  #dirtyCount = 0;
  #epoch = 0;
  /** The CLOCK hand: a live iterator over one state's Map (it sees entries added later). */
  #hand: Iterator<CacheEntry> | undefined;
  #handAt = 0;
  /** The newest capture, while its pass over the dirty list is on. */
  #passing: DirtyCapture | undefined;

  /** `batchMax` victims at most per takeVictims() (a quarter of `capacity` at most). */
  constructor(capacity: number, batchMax = 2048) {
    this.capacity = capacity;
    this.batch = Math.max(1, Math.min(batchMax, Math.floor(capacity / 4)));
  }

  /** The capture epoch: bumped by capture(). */
  get epoch(): number {
    return this.#epoch;
  }

  /** Keys cached now. */
  get size(): number {
    return this.#size;
  }

  /** Keys changed and not yet written back. */
  get dirtyCount(): number {
    return this.#dirtyCount;
  }

  /** More keys are cached than `capacity`: takeVictims() is due. */
  get overfull(): boolean {
    return this.#size > this.capacity;
  }

  declare(sid: number): void {
    if (this.#maps.has(sid)) return;
    const m = new Map<unknown, CacheEntry>();
    this.#maps.set(sid, m);
    this.#mapList.push(m);
  }

  /**
   * The cached keys of state `sid`.
   * @throws {WeirError} `invariant_broken` when the state was not declared
   */
  map(sid: number): Map<unknown, CacheEntry> {
    const m = this.#maps.get(sid);
    if (!m) throw new WeirError("invariant_broken", `SQLite state id ${sid} was used before it was declared`);
    return m;
  }

  insert(e: CacheEntry): void {
    this.map(e.sid).set(e.canonical, e);
    this.#size++;
  }

  /**
   * Called before `e`'s value is handed out or replaced: a capture that holds the key, or
   * whose pass has not reached it, keeps its value first.
   */
  use(e: CacheEntry): void {
    const p = this.#passOn();
    if (p !== undefined && e.seenBy !== p) p.visit(e);
    e.capture?.preserve(e);
  }

  /** The newest capture if its pass is still on (forgotten once it is over). */
  #passOn(): DirtyCapture | undefined {
    if (this.#passing?.passed) this.#passing = undefined;
    return this.#passing;
  }

  /** Notes that `e`'s value changed (replaced, or changed in place). */
  changed(e: CacheEntry): void {
    e.epoch = this.#epoch;
    if (e.dirty) return;
    e.dirty = true;
    this.#dirtyCount++;
    if (e.listed) return;
    e.listed = true;
    this.#dirty.push(e);
    this.#compactIfSparse();
  }

  /** Notes that `entries` were written back (committed). */
  cleaned(entries: readonly CacheEntry[]): void {
    const p = this.#passOn();
    for (const e of entries) {
      if (!e.dirty) continue;
      // Dirty at the snapshot point: the capture takes it before it is clean.
      if (p !== undefined && e.seenBy !== p) p.visit(e);
      e.dirty = false;
      this.#dirtyCount--;
    }
    // Here too, not only in changed(): reads alone write dirty keys back as they evict
    // them, and a list never compacted would hold every key that was dirty.
    this.#compactIfSparse();
  }

  /** Clean and evicted keys linger in the dirty list; dropped once they outnumber the dirty ones. */
  #compactIfSparse(): void {
    if (this.#dirty.length > 2 * this.#dirtyCount + 1024) this.#compact();
  }

  #compact(): void {
    const kept: CacheEntry[] = [];
    for (const e of this.#dirty) {
      if (e.dirty) kept.push(e);
      else e.listed = false;
    }
    this.#dirty = kept;
  }

  /** Every dirty key. */
  dirtyEntries(): CacheEntry[] {
    this.#compact();
    return this.#dirty.slice();
  }

  /**
   * Takes `batch` keys (or down to `capacity`, whichever is more) out of the cache, oldest
   * first, sparing once each key used since the hand last passed it, and `spare` always (the
   * key just inserted: its reader may change its value in place and touch it next). The
   * dirty ones among them are the caller's to write back.
   */
  takeVictims(spare?: CacheEntry): CacheEntry[] {
    const want = Math.max(this.batch, this.#size - this.capacity);
    const victims: CacheEntry[] = [];
    // Two turns of the hand at most: the first clears every hit.
    for (let seen = 0, limit = 2 * this.#size + 2; victims.length < want && seen < limit; seen++) {
      const e = this.#next();
      if (e === undefined) break;
      if (e.hit) e.hit = false;
      else if (e !== spare) {
        // Out of its Map at once: the second turn passes the keys the first took again.
        this.#maps.get(e.sid)!.delete(e.canonical);
        victims.push(e);
      }
    }
    this.#size -= victims.length;
    return victims;
  }

  #next(): CacheEntry | undefined {
    const maps = this.#mapList;
    for (let tries = 0; tries <= maps.length; tries++) {
      if (this.#hand === undefined) {
        this.#handAt = (this.#handAt + 1) % maps.length;
        this.#hand = maps[this.#handAt].values();
      }
      const r = this.#hand.next();
      if (!r.done) return r.value;
      this.#hand = undefined;
    }
    return undefined;
  }

  /**
   * The snapshot point's take: the dirty keys (every one, or with `changedOnly` those
   * changed since the previous capture), into `capture` (a new one by default), which
   * passes over them in steps (DirtyCapture.pass()) and meanwhile takes a key before it is
   * used (use(), cleaned()); a new epoch begins.
   */
  capture(changedOnly: boolean, codecs: ReadonlyMap<number, StateCodec>, capture = new DirtyCapture(codecs)): DirtyCapture {
    this.#endPass();
    capture.beginPass(this.#dirty, this.#dirty.length, this.#epoch++, changedOnly);
    this.#passing = capture;
    return capture;
  }

  /** Finishes the pass of the newest capture, if it is still on. */
  #endPass(): void {
    this.#passing?.pass(Infinity);
    this.#passing = undefined;
  }

  /**
   * Forgets every cached key.
   * @throws {WeirError} `invariant_broken` when some are dirty (write them back first)
   */
  clear(): void {
    if (this.#dirtyCount > 0) throw new WeirError("invariant_broken", `The SQLite state cache was cleared with ${this.#dirtyCount} unwritten values`);
    this.#endPass();
    for (const m of this.#maps.values()) m.clear();
    for (const e of this.#dirty) e.listed = false;
    this.#dirty = [];
    this.#size = 0;
    this.#hand = undefined;
  }
}
