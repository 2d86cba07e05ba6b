/**
 * The keys of write-back batches not yet known committed (sqlite_write_queue.ts), kept as
 * the batches' own bytes and where each key's record starts in them, not as an object and a
 * view per key. The pending keys of a group live for a few hundred milliseconds, long enough
 * to survive a young-generation collection: an object and a Uint8Array view per key were
 * copied by every scavenge (about 200 bytes per record on Deno, with every record missing
 * the cache), which made scavenges of 10–80 ms.
 *
 * Each key holds its cache entry pinned (CacheEntry.pins) until the group is dropped and no
 * capture holds it any more: an entry is reused for another key only once nothing reads it.
 * @module
 */
import { RECORD_KEY_OFFSET, recordU32, recordValueAt } from "./sqlite_changelog.ts";
import { type CacheEntry, unpin } from "./sqlite_cache_entry.ts";

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
  readonly #batchOf: number[] = [];
  readonly #at: number[] = [];
  /** Captures reading these keys (hold()); the entries stay pinned until the last lets go. */
  #holders = 0;
  #dropped = false;

  /** Keys so far. */
  get length(): number {
    return this.#entries.length;
  }

  /**
   * Adds a batch and its keys: `entries[i]` is the key of the batch's `i`th record (as
   * encodeWriteBack() writes them); each is pinned.
   */
  add(entries: readonly CacheEntry[], batch: Uint8Array): void {
    const b = this.batches.length;
    this.batches.push(batch);
    let at = 0;
    for (const e of entries) {
      e.pins++;
      this.#entries.push(e);
      this.#batchOf.push(b);
      this.#at.push(at);
      const vAt = valueFieldAt(batch, at);
      at = vAt < 0 ? -vAt : vAt + 4 + recordU32(batch, vAt);
    }
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
    if (--this.#holders === 0 && this.#dropped) this.#unpinAll();
  }

  /** The queue is done with these keys (committed): unpinned once no capture holds them. */
  drop(): void {
    if (this.#dropped) return;
    this.#dropped = true;
    if (this.#holders === 0) this.#unpinAll();
  }

  #unpinAll(): void {
    for (const e of this.#entries) unpin(e);
    this.#entries.length = 0;
  }
}

