/**
 * The miss path of the SQLite state store's cache (sqlite_store.ts): a key not cached is
 * found among the write-backs not yet known committed, known absent (the key filter of keys
 * this store wrote), or read from the file, one key at a time or in batched statements.
 * What it finds goes into the cache through the store.
 * @module
 */
import { copyValue } from "../codec/values.ts";
import { hashKey } from "./key_group.ts";
import { KeyFilter } from "./sqlite_bloom.ts";
import { PENDING_DELETE, type WriteBackQueue } from "./sqlite_write_queue.ts";
import { keyBytes } from "./sqlite_keys.ts";
import { cacheKeyHash } from "./sqlite_key_table.ts";
import type { EntryCache } from "./sqlite_cache.ts";
import type { CacheEntry } from "./sqlite_cache_entry.ts";
import type { StoreConnection } from "./sqlite_store_connection.ts";

/** What a lookup reads through and fills; the store's own parts. */
export interface RowLookupParts {
  readonly maxParallelism: number;
  readonly cache: EntryCache;
  readonly writes: WriteBackQueue;
  /** The store's connection now (a restored file replaces it). */
  connection(): StoreConnection;
  /** A stored value in its in-memory form; `shared`: a view into a batch's buffer, copied when kept. */
  fromStored(sid: number, v: Uint8Array | undefined, shared: boolean): unknown;
  /** Caches an entry of a key not cached (`hash`: its cacheKeyHash()). */
  insert(e: CacheEntry, hash: number): void;
}

/**
 * Loads keys missing from the cache. Not safe to share between stores.
 *
 * @example
 * ```ts
 * import { SqliteStateStore } from "./sqlite_store.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * // Every read of a store that missed its cache went through a RowLookup.
 * const path = `${sqliteDriver.tempDirectory()}/weir-doc-lookup-${performance.now()}.db`;
 * const store = new SqliteStateStore(sqliteDriver, { path, maxParallelism: 128, cacheEntriesMax: 1 });
 * const plain = { toStored: (v: unknown) => v, fromStored: (v: unknown) => v };
 * store.declare(0, plain);
 * store.write(0, "a", "a", 1);
 * store.write(0, "b", "b", 2);
 * store.prefetch(0, ["a"], ["a"], 1);
 * console.assert(store.read(0, "a", "a") === 1);
 * store.dispose();
 * ```
 */
export class RowLookup {
  readonly #parts: RowLookupParts;
  /**
   * Keys written to the file by this store, so a new key skips the lookup; undefined once
   * rows came from elsewhere (a restore), when every miss asks the file.
   */
  #written: KeyFilter | undefined = new KeyFilter();
  /** prefetch()'s arrays, reused: the missing keys' key groups, key bytes, cache hashes, places, values. */
  readonly #batch = { kgs: [] as number[], keyBytes: [] as Uint8Array[], keyHashes: [] as number[], at: [] as number[], values: [] as (Uint8Array | undefined)[] };

  constructor(parts: RowLookupParts) {
    this.#parts = parts;
  }

  /** The filter of keys this store wrote (write-backs add to it), while it is kept. */
  get written(): KeyFilter | undefined {
    return this.#written;
  }

  /** Rows arrive from elsewhere (a restored file): every miss asks the file from now on. */
  forgetWrittenKeys(): void {
    this.#written = undefined;
  }

  /** Loads a key of state `sid` not cached (`keyHash`: its cacheKeyHash()) into the cache; returns its value. */
  load(sid: number, canonical: unknown, key: unknown, keyHash: number): unknown {
    const { writes, maxParallelism } = this.#parts;
    const hash = hashKey(canonical);
    const kg = hash % maxParallelism;
    // A key written back and not yet known committed is read from its encoded value.
    const pending = writes.find(sid, canonical, keyHash);
    const v = pending !== undefined
      ? (pending === PENDING_DELETE ? undefined : pending)
      : this.#written && !this.#written.mayHold(sid, hash)
      ? undefined
      : this.#parts.connection().read(kg, sid, keyBytes(canonical), writes.committedSeq());
    const mem = this.#parts.fromStored(sid, v, false);
    this.#parts.insert(this.#parts.cache.entry(sid, canonical, kg, canonical === key ? undefined : key, mem), keyHash);
    return mem;
  }

  /**
   * Loads into the cache the keys among `canonicals[0, count)` (with `keys[i]` as load()'s
   * `key`, copied when it is an object) that are neither cached, nor pending, nor known
   * absent, in batched statements (StoreConnection.readMany); marks the cached ones used.
   * See SqliteStateStore.prefetch.
   */
  prefetch(sid: number, canonicals: readonly unknown[], keys: readonly unknown[], count: number): void {
    const { cache, writes, maxParallelism } = this.#parts;
    const { kgs, keyBytes: bytes, keyHashes, at, values } = this.#batch;
    let misses = 0;
    try {
      for (let i = 0; i < count; i++) {
        const c = canonicals[i];
        const keyHash = cacheKeyHash(sid, c);
        const cached = cache.find(sid, c, keyHash);
        if (cached !== undefined) {
          cached.hit = true;
          continue;
        }
        if (writes.find(sid, c, keyHash) !== undefined) continue;
        const hash = hashKey(c);
        if (this.#written && !this.#written.mayHold(sid, hash)) continue;
        kgs[misses] = hash % maxParallelism;
        bytes[misses] = keyBytes(c);
        keyHashes[misses] = keyHash;
        at[misses++] = i;
      }
      if (misses === 0) return;
      this.#parts.connection().readMany(sid, kgs, bytes, misses, writes.committedSeq(), values);
      for (let j = 0; j < misses; j++) {
        const i = at[j];
        const c = canonicals[i];
        const keyHash = keyHashes[j];
        // A key twice in the batch: cached by its first turn.
        if (cache.find(sid, c, keyHash) !== undefined) continue;
        const key = keys[i];
        const original = c === key ? undefined : typeof key === "object" ? copyValue(key) : key;
        this.#parts.insert(cache.entry(sid, c, kgs[j], original, this.#parts.fromStored(sid, values[j], true)), keyHash);
      }
    } finally {
      // The reused arrays hold no key or value (views into a batch's buffer) past the call.
      bytes.length = values.length = 0;
    }
  }
}
