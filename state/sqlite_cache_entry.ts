/**
 * A key in the SQLite backend's cache (sqlite_cache.ts), and the pool its entries return to
 * for reuse once nothing refers to them.
 * @module
 */
import type { DirtyCapture } from "./sqlite_capture.ts";
import type { EntryIds } from "./sqlite_entry_ids.ts";

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
  /** In its cache's table (false once evicted). */
  cached = true;
  /** cacheKeyHash() of its key while in its cache's table (0: not known). */
  hash = 0;
  /** Captures and pending write-backs that read this entry (it is not reused while any does). */
  pins = 0;
  /** On its pool's free list. */
  free = false;
  /** Its id in its cache's EntryIds (0: none): the cache's tables hold ids, not entries. */
  id = 0;
}

/** A cache's entries free for reuse, at most `max`, and the ids of all its entries. */
export interface EntryPool {
  readonly free: CacheEntry[];
  readonly max: number;
  readonly ids: EntryIds<CacheEntry>;
}

/**
 * Returns `e` to its pool if nothing refers to it any more. A dirty entry is never free: out
 * of the cache it is a victim being written back, whose group may commit and unpin it (a
 * background writer is fast) before the store marks it clean (cleaned(): a capture's pass
 * may still take its value then); evicted() retires it after that.
 */
export function retire(e: CacheEntry): void {
  const pool = e.pool;
  if (pool === undefined || e.cached || e.dirty || e.listed || e.pins > 0 || e.free) return;
  if (pool.free.length >= pool.max) {
    // Dropped: no table names it any more, and the pool will not give it out again.
    pool.ids.release(e);
    return;
  }
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
