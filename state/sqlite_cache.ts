/**
 * The SQLite backend's cache of decoded values in front of its working file: a table of the
 * cached keys (sqlite_key_table.ts), a CLOCK hand choosing what to drop when the cache is
 * full, and the list of dirty keys (changed and not yet written back). The store (sqlite_store.ts) reads the file on a
 * miss and writes back the dirty keys the cache gives up.
 * @module
 */
import { WeirError } from "../errors.ts";
import { DirtyCapture } from "./sqlite_capture.ts";
import { DirtyList } from "./sqlite_dirty_list.ts";
import { CacheEntry, type EntryPool, retire } from "./sqlite_cache_entry.ts";
import { KeyTable } from "./sqlite_key_table.ts";
import { EntryIds } from "./sqlite_entry_ids.ts";
import { ClockFrames } from "./sqlite_clock.ts";
import type { StateCodec } from "./sqlite_forms.ts";

/**
 * Free entries a cache keeps at most: entries come free about as fast as misses take them,
 * but in bursts (a write group's keys at once, 16 K, when it commits). A pool of 16 K
 * overflowed at those bursts and ran dry between them, so that 2–7 % of misses made a new
 * entry, each one promoted to the old generation (Deno, 1 M keys, every record missing); at
 * 32 K none did (the pool held 11–29 K). Each kept one is heap a state larger than memory may
 * need (a pool as large as a 100 K-key cache took the 5 M-key test over its 96 MB).
 */
const POOL_MAX = 32_768;

/** Keys of the dirty list a sweep passes over per key listed or written back. */
const SWEEP_PER_KEY = 8;
/**
 * Keys a sweep passes over per write-back at most: 8 per key of a 2 048-key write-back were
 * 16 K keys scattered over the heap, 2–10 ms on a 2-core VM. Reads alone list no key, so a
 * sweep that a write-back carries on this slowly still ends.
 */
const SWEEP_PER_WRITE_BACK = 2048;

/**
 * Frames the CLOCK hand passes per victim wanted, at most, in one takeVictims(). With every
 * record missing the cache, every key is hit once inserted, and one turn in two hundred
 * cleared 100 K hits at once: 3–15 ms on a 2-core VM (Bun, 1 M keys), the subtask's longest
 * gaps after collections.
 */
const HAND_STEPS_PER_VICTIM = 8;

/**
 * Cached keys per state id, at most `capacity` in all before victims are taken.
 *
 * @example
 * ```ts
 * import { EntryCache } from "./sqlite_cache.ts";
 * import { CacheEntry } from "./sqlite_cache_entry.ts";
 * const cache = new EntryCache(2);
 * cache.declare(0);
 * for (const k of ["a", "b", "c"]) cache.insert(new CacheEntry(0, k, 0, undefined, 1, cache.epoch));
 * console.assert(cache.overfull && cache.takeVictims().length === 1 && cache.size === 2 && cache.find(0, "c") !== undefined);
 * ```
 */
export class EntryCache {
  readonly capacity: number;
  /** Victims per takeVictims(): small, so that writing the dirty ones back is a short pause. */
  readonly batch: number;
  /** Every cached key, by state id and canonical key. */
  readonly #table: KeyTable<CacheEntry>;
  readonly #declared = new Set<number>();
  /** Every entry of this cache by id: the table and the frames hold ids (see sqlite_entry_ids.ts). */
  readonly #ids = new EntryIds<CacheEntry>();
  /** The CLOCK's frames, each cached entry's id in one. */
  readonly #clock = new ClockFrames();
  #size = 0;
  /** The dirty keys (and clean or evicted ones not yet swept; sqlite_dirty_list.ts). */
  readonly #dirty = new DirtyList(() => this.#passOn());
  #dirtyCount = 0;
  #epoch = 0;
  /** The last epoch a counted capture ended (-1: none yet): changedOnly takes keys changed after it. */
  #changesFrom = -1;
  /** The newest capture, while its pass over the dirty list is on. */
  #passing: DirtyCapture | undefined;
  /** Entries evicted and free of every reference, for reuse. */
  readonly #pool: EntryPool;

  /** `batchMax` victims at most per takeVictims() (a quarter of `capacity` at most). */
  constructor(capacity: number, batchMax = 2048) {
    this.capacity = capacity;
    this.#pool = { free: [], max: Math.min(capacity, POOL_MAX), ids: this.#ids };
    this.batch = Math.max(1, Math.min(batchMax, Math.floor(capacity / 4)));
    this.#table = new KeyTable(capacity + this.batch, this.#ids);
  }

  /** The capture epoch: bumped by capture(). */
  get epoch(): number {
    return this.#epoch;
  }

  /** The last epoch a counted capture ended (-1: none yet): keys changed after it are in no checkpoint yet. */
  get changesFrom(): number {
    return this.#changesFrom;
  }

  /** Keys cached now. */
  get size(): number {
    return this.#size;
  }

  /** Entries with an id now: cached, pooled, or evicted and still read (for tests: dropped ones give theirs back). */
  get entriesWithIds(): number {
    return this.#ids.size;
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
    this.#declared.add(sid);
  }

  /** @throws {WeirError} `invariant_broken` when state `sid` was not declared */
  #checkDeclared(sid: number): void {
    if (!this.#declared.has(sid)) throw new WeirError("invariant_broken", `SQLite state id ${sid} was used before it was declared`);
  }

  /**
   * The cached entry of `canonical` in state `sid`, if any; `hash` is
   * cacheKeyHash(sid, canonical), given when known.
   * @throws {WeirError} `invariant_broken` when the state was not declared
   */
  find(sid: number, canonical: unknown, hash?: number): CacheEntry | undefined {
    const e = this.#table.get(sid, canonical, hash);
    if (e === undefined) this.#checkDeclared(sid);
    return e;
  }

  /** Every cached entry of state `sid`, in the CLOCK's order (a copy; for tests and checks). */
  entries(sid: number): CacheEntry[] {
    const out: CacheEntry[] = [];
    for (let f = 0; f < this.#clock.length; f++) {
      const id = this.#clock.at(f);
      if (id === 0) continue;
      const e = this.#ids.get(id);
      if (e.sid === sid) out.push(e);
    }
    return out;
  }

  /**
   * A clean entry for a key of state `sid`, changed in this epoch as far as the cache knows:
   * a free one reused, or a new one.
   */
  entry(sid: number, canonical: unknown, keyGroup: number, key: unknown, mem: unknown): CacheEntry {
    const e = this.#pool.free.pop();
    if (e === undefined) return new CacheEntry(sid, canonical, keyGroup, key, mem, this.#epoch, this.#pool);
    e.free = false;
    e.sid = sid;
    e.canonical = canonical;
    e.keyGroup = keyGroup;
    e.key = key;
    e.mem = mem;
    // A newer epoch than any capture's: a pass that still lists this object under its former
    // key finds it changed after the snapshot point and leaves it.
    e.epoch = this.#epoch;
    e.dirty = false;
    e.hit = true;
    e.captureAt = 0;
    e.cached = true;
    e.hash = 0;
    return e;
  }

  /**
   * Caches `e`, whose key is not cached; `hash` as for find().
   * @throws {WeirError} `invariant_broken` when its state was not declared
   */
  insert(e: CacheEntry, hash?: number): void {
    this.#checkDeclared(e.sid);
    this.#table.add(e, hash);
    this.#clock.place(e.id);
    e.cached = true;
    this.#size++;
  }

  /** Evicted entries whose values went where they belong (written back, or clean): reused once free. */
  evicted(entries: readonly CacheEntry[]): void {
    for (const e of entries) {
      // An evicted key may stay in the dirty list until it is compacted: without its value
      // there, which a capture keeps for itself, the heap does not hold evicted values too.
      e.mem = undefined;
      retire(e);
    }
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
    this.#dirty.append(e);
    this.#dirty.sweepIfSparse(SWEEP_PER_KEY, this.#dirtyCount);
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
    this.#dirty.sweepIfSparse(Math.min(SWEEP_PER_KEY * entries.length, SWEEP_PER_WRITE_BACK), this.#dirtyCount);
  }

  /** Every dirty key. */
  dirtyEntries(): CacheEntry[] {
    return this.#dirty.compacted();
  }

  /**
   * Takes `batch` keys (or down to `capacity`, whichever is more) out of the cache, oldest
   * first, sparing once each key used since the hand last passed it, and `spare` always (the
   * key just inserted: its reader may change its value in place and touch it next). The
   * dirty ones among them are the caller's to write back. Fewer, perhaps none, when the hand
   * passed HAND_STEPS_PER_VICTIM frames per key wanted first: the next call goes on.
   */
  takeVictims(spare?: CacheEntry): CacheEntry[] {
    const want = Math.max(this.batch, this.#size - this.capacity);
    const victims: CacheEntry[] = [];
    const clock = this.#clock;
    const ids = this.#ids;
    const n = clock.length;
    // Two turns of the hand at most (the first clears every hit), and HAND_STEPS_PER_VICTIM
    // frames per victim wanted: when every key is hit, the turn that clears them is spread
    // over the next calls, each insert making one (the cache stays overfull meanwhile by up
    // to frames / (8 × batch) keys, 244 for 1 M; by a quarter of it at worst, every key hit
    // again before the hand comes round).
    for (let seen = 0, limit = Math.min(2 * n, HAND_STEPS_PER_VICTIM * want); victims.length < want && seen < limit; seen++) {
      const f = clock.advance();
      const id = clock.at(f);
      if (id === 0) continue;
      const e = ids.get(id);
      if (e.hit) e.hit = false;
      else if (e !== spare) {
        if (!this.#table.remove(e)) throw new WeirError("invariant_broken", `SQLite state ${e.sid}: cached key ${String(e.canonical)} was not in the cache's table`);
        clock.vacate(f);
        e.cached = false;
        victims.push(e);
      }
    }
    this.#size -= victims.length;
    return victims;
  }

  /**
   * The snapshot point's take: the dirty keys (every one, or with `changedOnly` those
   * changed since the previous counted capture), into `capture` (a new one by default),
   * which passes over them in steps (DirtyCapture.pass()) and meanwhile takes a key before
   * it is used (use(), cleaned()); a new epoch begins. A capture `uncounted` (a
   * materialization's, between checkpoints) leaves what the next changedOnly one takes as it was.
   */
  capture(changedOnly: boolean, codecs: ReadonlyMap<number, StateCodec>, capture = new DirtyCapture(codecs), uncounted = false): DirtyCapture {
    this.#endPass();
    capture.beginPass(this.#dirty.entries, this.#dirty.length, this.#epoch, changedOnly ? this.#changesFrom : -1);
    if (!uncounted) this.#changesFrom = this.#epoch;
    this.#epoch++;
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
    // The entries dropped here keep `cached` and are never reused: nothing need be known of
    // who still holds them. Their ids go.
    for (const e of this.#table.values()) this.#ids.release(e);
    this.#table.clear();
    this.#clock.clear();
    // An evicted key the sweep had not reached waited only for this: pooled, or its id goes.
    this.#dirty.clear();
    this.#size = 0;
  }
}
