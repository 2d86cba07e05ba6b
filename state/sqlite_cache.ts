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

/**
 * A cached key: its value in memory (undefined: absent), and whether the file lags behind it.
 *
 * Entries of a cache are reused for other keys (EntryCache.entry()) once evicted, clean, off
 * the dirty list, and unpinned by every capture and pending write-back that read them. With every
 * record missing the cache, a new entry per miss lived about a second in the cache, long
 * enough for young-generation collections to copy it: with the pending write-backs' objects
 * (see sqlite_pending_writes.ts), 480 bytes copied per record and scavenges of 10–80 ms on
 * Deno.
 *
 * An entry leaves the dirty list (by its sweep) before it is reused, though reuse while it is
 * named there would be safe (a capture's pass judges an entry by what it holds now): how
 * long the list is decides how many steps a pass takes, and it must not depend on when the
 * background writer commits, which unpins entries (the simulator replays seeds bit for bit).
 */
export class CacheEntry {
  constructor(
    /** The state id, canonical key, key group and original key: set anew only when reused. */
    public sid: number,
    public canonical: unknown,
    public keyGroup: number,
    /** The original key when it is an object (canonical is its text); else undefined. */
    public key: unknown,
    public mem: unknown,
    /** The cache's capture epoch when the value last changed. */
    public epoch: number,
    /** The free list this entry returns to when nothing refers to it (none: never reused). */
    readonly pool?: EntryPool,
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
  /** In its cache's Map (false once evicted). */
  cached = true;
  /** Captures and pending write-backs that read this entry (it is not reused while any does). */
  pins = 0;
  /** On its pool's free list. */
  free = false;
}

/** Keys of the dirty list a sweep passes over per key listed or written back. */
const SWEEP_PER_KEY = 8;

/** A cache's entries free for reuse, at most `max` (its capacity: evicted keys leave the dirty list in bulk). */
interface EntryPool {
  readonly free: CacheEntry[];
  readonly max: number;
}

/**
 * Returns `e` to its pool if nothing refers to it any more. A dirty entry is never free: out
 * of the cache it is a victim being written back, whose group may commit and unpin it (a
 * background writer is fast) before the store marks it clean (cleaned(): a capture's pass
 * may still take its value then); evicted() retires it after that.
 */
function retire(e: CacheEntry): void {
  const pool = e.pool;
  if (pool === undefined || e.cached || e.dirty || e.listed || e.pins > 0 || e.free || pool.free.length >= pool.max) return;
  e.free = true;
  // Nothing of the key it held stays reachable through it.
  e.canonical = e.key = e.mem = undefined;
  e.capture = e.seenBy = undefined;
  pool.free.push(e);
}

/** A capture or pending write-back no longer reads `e`. */
export function unpin(e: CacheEntry): void {
  e.pins--;
  retire(e);
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
  /** The dirty list: append-only while a sweep is on (captures pass over it as it is). */
  #dirty: CacheEntry[] = [];
  /** The sweep compacting the dirty list, a slice at a time: the list it builds, and how far it got of `#dirty[0, #sweepEnd)`. */
  #swept: CacheEntry[] | undefined;
  #sweepAt = 0;
  #sweepEnd = 0;
  #dirtyCount = 0;
  #epoch = 0;
  /** The CLOCK hand: a live iterator over one state's Map (it sees entries added later). */
  #hand: Iterator<CacheEntry> | undefined;
  #handAt = 0;
  /** The newest capture, while its pass over the dirty list is on. */
  #passing: DirtyCapture | undefined;
  /** Entries evicted and free of every reference, for reuse. */
  readonly #pool: EntryPool;

  /** `batchMax` victims at most per takeVictims() (a quarter of `capacity` at most). */
  constructor(capacity: number, batchMax = 2048) {
    this.capacity = capacity;
    this.#pool = { free: [], max: capacity };
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
    return e;
  }

  insert(e: CacheEntry): void {
    this.map(e.sid).set(e.canonical, e);
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
    e.listed = true;
    this.#dirty.push(e);
    this.#sweepIfSparse(SWEEP_PER_KEY);
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
    this.#sweepIfSparse(SWEEP_PER_KEY * entries.length);
  }

  /**
   * Clean and evicted keys linger in the dirty list; once they outnumber the dirty ones a
   * sweep drops them, `n` keys per call. Compacting 200 K keys at once held records up for
   * 10–25 ms.
   */
  #sweepIfSparse(n: number): void {
    if (this.#swept === undefined) {
      if (this.#dirty.length <= 2 * this.#dirtyCount + 1024) return;
      this.#startSweep();
    }
    this.#sweep(n);
  }

  #startSweep(): void {
    this.#swept = [];
    this.#sweepAt = 0;
    this.#sweepEnd = this.#dirty.length;
  }

  /**
   * Sweeps `n` more keys of the dirty list into the list being built; at the end, the keys
   * listed since the sweep began follow, and the new list replaces the old one. The old one
   * is never changed: a capture's pass that holds it sees every key listed at its snapshot
   * point (and perhaps keys dropped since, which visit() finds clean or changed later).
   */
  #sweep(n: number): void {
    const list = this.#dirty;
    const kept = this.#swept!;
    const end = Math.min(this.#sweepEnd, this.#sweepAt + n);
    for (let i = this.#sweepAt; i < end; i++) {
      const e = list[i];
      if (e.dirty) kept.push(e);
      else {
        e.listed = false;
        retire(e);
      }
    }
    this.#sweepAt = end;
    if (end < this.#sweepEnd) return;
    for (let i = end; i < list.length; i++) kept.push(list[i]);
    this.#dirty = kept;
    this.#swept = undefined;
  }

  /** Every dirty key. */
  dirtyEntries(): CacheEntry[] {
    // The sweep on, if any, then one over the whole list.
    if (this.#swept !== undefined) this.#sweep(Infinity);
    this.#startSweep();
    this.#sweep(Infinity);
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
        e.cached = false;
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
    // The entries dropped here keep `cached` and are never reused: nothing need be known of
    // who still holds them.
    for (const m of this.#maps.values()) m.clear();
    for (const e of this.#dirty) e.listed = false;
    this.#dirty = [];
    this.#swept = undefined;
    this.#size = 0;
    this.#hand = undefined;
  }
}
