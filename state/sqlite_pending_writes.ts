/**
 * The keys of write-back batches not yet known committed (sqlite_write_queue.ts), kept as
 * the batches' own bytes and where each key's record starts in them, not as an object and a
 * view per key. The pending keys of a group live for a few hundred milliseconds, long enough
 * to survive a young-generation collection: an object and a Uint8Array view per key were
 * copied by every scavenge (about 200 bytes per record on Deno, with every record missing
 * the cache), which made scavenges of 10–80 ms.
 *
 * An index of the keys finds each one's newest record (latest()), and the queue reuses the
 * whole (reset()) once its group committed.
 *
 * Each key holds its cache entry pinned (CacheEntry.pins) until the group is dropped and no
 * capture holds it any more: an entry is reused for another key only once nothing reads it.
 * @module
 */
import { RECORD_KEY_OFFSET, recordU32, recordValueAt } from "./sqlite_changelog.ts";
import { WeirError } from "../errors.ts";
import { type CacheEntry, unpin } from "./sqlite_cache_entry.ts";
import { cacheKeyHash, sameKey } from "./sqlite_key_table.ts";

/**
 * Where the value's length field of the record at `at` lies; for a tombstone (no value),
 * minus where the record ends.
 */
function valueFieldAt(batch: Uint8Array, at: number): number {
  const kEnd = at + RECORD_KEY_OFFSET + recordU32(batch, at + RECORD_KEY_OFFSET - 4);
  return batch[at] === 0 ? -kEnd : recordValueAt(batch, kEnd);
}

/**
 * Keys written back in batches, in order, with their records.
 *
 * @example
 * ```ts
 * import { PendingWrites } from "./sqlite_pending_writes.ts";
 * import { WriteBatch } from "./sqlite_write_batch.ts";
 * import { CacheEntry } from "./sqlite_cache_entry.ts";
 * const b = new WriteBatch();
 * b.put(1, 0, Uint8Array.of(7), null, Uint8Array.of(9, 8));
 * b.remove(1, 0, Uint8Array.of(6));
 * const p = new PendingWrites();
 * p.add([new CacheEntry(0, 7, 1, undefined, 9, 0), new CacheEntry(0, 6, 1, undefined, undefined, 0)], b.bytes());
 * console.assert(p.length === 2 && p.value(0)!.join() === "9,8" && p.value(1) === undefined);
 * ```
 */
export class PendingWrites {
  /** The batches' bytes, in order. */
  readonly batches: Uint8Array[] = [];
  readonly #entries: CacheEntry[] = [];
  /** Per key: its batch's index in `batches`, and where its record starts there. */
  #batchOf = new Int32Array(1024);
  #at = new Int32Array(1024);
  #count = 0;
  /**
   * Open addressing by the keys' cacheKeyHash(): 1 + the index of the newest record of the
   * key whose home slot it is or follows (0: empty). Never a key removed: the index is
   * dropped whole (reset()).
   */
  #slots = new Int32Array(2048);
  /** Captures reading these keys (hold()); the entries stay pinned until the last lets go. */
  #holders = 0;
  #dropped = false;

  /** `onReusable` is called once these keys are dropped and no capture holds them (then reusable). */
  constructor(readonly onReusable?: (writes: PendingWrites) => void) {}

  /** Keys so far. */
  get length(): number {
    return this.#count;
  }

  /**
   * Adds a batch and its keys: `entries[i]` is the key of the batch's `i`th record (as
   * encodeWriteBack() writes them); each is pinned.
   */
  add(entries: readonly CacheEntry[], batch: Uint8Array): void {
    const b = this.batches.length;
    this.batches.push(batch);
    if (this.#count + entries.length > this.#batchOf.length) this.#growKeys(this.#count + entries.length);
    if (2 * (this.#count + entries.length) > this.#slots.length) this.#growSlots(2 * (this.#count + entries.length));
    let at = 0;
    for (const e of entries) {
      const i = this.#count++;
      e.pins++;
      this.#entries.push(e);
      this.#batchOf[i] = b;
      this.#at[i] = at;
      this.#index(e, i);
      const vAt = valueFieldAt(batch, at);
      at = vAt < 0 ? -vAt : vAt + 4 + recordU32(batch, vAt);
    }
  }

  #growKeys(n: number): void {
    let size = this.#batchOf.length;
    while (size < n) size *= 2;
    const batchOf = new Int32Array(size);
    const at = new Int32Array(size);
    batchOf.set(this.#batchOf.subarray(0, this.#count));
    at.set(this.#at.subarray(0, this.#count));
    this.#batchOf = batchOf;
    this.#at = at;
  }

  #growSlots(n: number): void {
    let size = this.#slots.length;
    while (size < n) size *= 2;
    this.#slots = new Int32Array(size);
    for (let i = 0; i < this.#count; i++) this.#index(this.#entries[i], i);
  }

  /** Makes `i`, the newest record so far, its key's. */
  #index(e: CacheEntry, i: number): void {
    // Entries made outside a cache (tests, restores) have no hash yet.
    const hash = e.hash || (e.hash = cacheKeyHash(e.sid, e.canonical));
    this.#slots[this.#slotOf(e.sid, e.canonical, hash)] = i + 1;
  }

  /** The slot of `canonical` in state `sid`: the one naming its newest record, or the empty one it would take. */
  #slotOf(sid: number, canonical: unknown, hash: number): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const held = slots[s];
      if (held === 0) return s;
      const o = this.#entries[held - 1];
      if (o.hash === hash && o.sid === sid && sameKey(o.canonical, canonical)) return s;
    }
  }

  /**
   * The index of the newest record of `canonical` in state `sid`, -1 when none; `hash` is
   * cacheKeyHash(sid, canonical), given when known.
   */
  latest(sid: number, canonical: unknown, hash: number = cacheKeyHash(sid, canonical)): number {
    return this.#slots[this.#slotOf(sid, canonical, hash)] - 1;
  }

  /** The cache entry of the `i`th key. */
  entry(i: number): CacheEntry {
    return this.#entries[i];
  }

  /** The encoded value of the `i`th key, as a view made now (undefined: deleted). */
  value(i: number): Uint8Array | undefined {
    const batch = this.batches[this.#batchOf[i]];
    const at = this.#at[i];
    const vAt = valueFieldAt(batch, at);
    return vAt < 0 ? undefined : batch.subarray(vAt + 4, vAt + 4 + recordU32(batch, vAt));
  }

  /** A capture reads these keys until it calls letGo(). */
  hold(): void {
    this.#holders++;
  }

  /** A capture is done with these keys. */
  letGo(): void {
    if (this.#holders === 0) throw new WeirError("invariant_broken", "Pending SQLite write-backs were let go of more often than held");
    if (--this.#holders === 0 && this.#dropped) this.#unpinAll();
  }

  /** The queue is done with these keys (committed): unpinned once no capture holds them. */
  drop(): void {
    if (this.#dropped) return;
    this.#dropped = true;
    if (this.#holders === 0) this.#unpinAll();
  }

  /** Dropped, and no capture holds these keys: reset() may make this an empty one. */
  get reusable(): boolean {
    return this.#dropped && this.#holders === 0;
  }

  /**
   * Empties this for new batches, keeping its arrays: a group's index made anew per group
   * was an Int32Array of 128 KB and a key list of 16 K every few hundred milliseconds.
   * @throws {WeirError} `invariant_broken` while it is not reusable (its keys not yet
   *   committed, or a capture still holding them)
   */
  reset(): void {
    if (!this.reusable) {
      const why = this.#dropped ? `${this.#holders} captures still hold its keys` : "its keys are not yet committed";
      throw new WeirError("invariant_broken", `Pending SQLite write-backs were reused while ${why}`);
    }
    this.batches.length = 0;
    this.#slots.fill(0);
    this.#count = 0;
    this.#dropped = false;
  }

  #unpinAll(): void {
    for (const e of this.#entries) unpin(e);
    this.#entries.length = 0;
    // Kept as a spare by the queue, this would hold a committed group's bytes (2 MB or more)
    // until the next group: nothing reads them any more.
    this.batches.length = 0;
    this.onReusable?.(this);
  }
}
