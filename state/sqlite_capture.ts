/**
 * The SQLite backend's cached keys, and what a snapshot takes of them at its snapshot
 * point without writing them to the file then: the values of the dirty keys, kept
 * copy-on-access. A snapshot's rows are then the working file as it was at the snapshot
 * point (a pinned read, or the changelog file the write-backs went to) overlaid with these
 * values, written off the snapshot point in slices. Writing the dirty keys back at the
 * snapshot point itself held records up for 200–600 ms at 100 K cached keys.
 *
 * A captured value is a reference until the key is used again; a value that is an object
 * (a list, a map, an accumulator) is encoded before the first read after the snapshot
 * point hands it out, since the reader may change it in place: the copy-on-write of
 * Flink's heap snapshots (CopyOnWriteStateMap), at the granularity of a key.
 * @module
 */
import { encode } from "../codec/cbor.ts";
import type { CacheEntry } from "./sqlite_cache.ts";
import type { StateCodec } from "./sqlite_store.ts";

/** A captured key's value as stored: encoded bytes, or undefined for a deleted key. */
export interface CapturedValue {
  entry: CacheEntry;
  /** The value's stored form, not yet encoded (undefined: deleted); see `bytes`. */
  stored: unknown;
  /** The encoded stored form, when it was encoded early (the key was used again). */
  bytes: Uint8Array | undefined;
}

/**
 * The dirty keys of a store at one snapshot point, with their values then.
 *
 * @example
 * ```ts
 * import { DirtyCapture } from "./sqlite_capture.ts";
 * import { CacheEntry } from "./sqlite_cache.ts";
 * import { decode } from "../codec/cbor.ts";
 * const codecs = new Map([[0, { toStored: (v: unknown) => v, fromStored: (v: unknown) => v }]]);
 * const e = new CacheEntry(0, "k", 3, undefined, [1], 0);
 * const c = new DirtyCapture(codecs);
 * c.take(e);
 * c.preserve(e); // what the store does before handing the list out again
 * (e.mem as number[]).push(2);
 * console.assert(JSON.stringify(decode(c.value(0).bytes!)) === "[1]");
 * ```
 */
export class DirtyCapture {
  readonly #codecs: ReadonlyMap<number, StateCodec>;
  readonly #entries: CacheEntry[];
  readonly #mems: unknown[];
  /** Values encoded early (the key was used again), by index: few. */
  readonly #bytes = new Map<number, Uint8Array>();
  /** A value that could not be encoded early: the snapshot fails with it when it gets there. */
  readonly #errors = new Map<number, unknown>();

  /** An empty capture; take() adds keys (at the snapshot point: one pass over the dirty keys). */
  constructor(codecs: ReadonlyMap<number, StateCodec>) {
    this.#codecs = codecs;
    this.#entries = [];
    this.#mems = [];
  }

  /** Takes `e` (dirty, in no other capture) with its value now. */
  take(e: CacheEntry): void {
    e.capture = this;
    e.captureAt = this.#entries.length;
    this.#entries.push(e);
    this.#mems.push(e.mem);
  }

  /**
   * Takes a key written back but perhaps not yet in the file, by its encoded value
   * (undefined: deleted). It is out of the cache, so nothing changes it: no copy is due.
   */
  takeEncoded(e: CacheEntry, bytes: Uint8Array | undefined): void {
    const i = this.#entries.length;
    this.#entries.push(e);
    this.#mems.push(undefined);
    if (bytes !== undefined) this.#bytes.set(i, bytes);
  }

  /** Keys captured. */
  get size(): number {
    return this.#entries.length;
  }

  /**
   * Called before `e`'s value is handed out or replaced: an object is encoded now, as it may
   * change in place; a primitive is kept as it is. Never throws: a value that cannot be
   * encoded fails the snapshot when it reaches it.
   */
  preserve(e: CacheEntry): void {
    const i = e.captureAt;
    e.capture = undefined;
    const mem = this.#mems[i];
    if (mem === null || typeof mem !== "object") return;
    try {
      this.#bytes.set(i, encode(this.#codecs.get(e.sid)!.toStored(mem), "a keyed state value"));
    } catch (err) {
      this.#errors.set(i, err);
    }
    this.#mems[i] = undefined;
  }

  /**
   * The value of the `i`th captured key as it was at the snapshot point; the key is no
   * longer tied to this capture.
   * @throws {WeirError} `value_not_persistable` when the value cannot be encoded
   */
  value(i: number): CapturedValue {
    const entry = this.#entries[i];
    if (entry.capture === this) entry.capture = undefined;
    const err = this.#errors.get(i);
    if (err !== undefined) throw err;
    const bytes = this.#bytes.get(i);
    const mem = this.#mems[i];
    return { entry, bytes, stored: bytes !== undefined || mem === undefined ? undefined : this.#codecs.get(entry.sid)!.toStored(mem) };
  }

  /** Unties every key still tied to this capture (done, or dropped). */
  release(): void {
    for (const e of this.#entries) if (e.capture === this) e.capture = undefined;
    this.#mems.length = 0;
    this.#bytes.clear();
  }
}
