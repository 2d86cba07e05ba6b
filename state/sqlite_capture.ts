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
 *
 * Even taking the dirty keys is not done at the snapshot point: the capture keeps the
 * cache's dirty list as it is then and passes over it in the snapshot's steps (one pass
 * at 100 K dirty keys held records up for 11–70 ms). A key the pass has not reached is
 * taken first when it is used, changed or written back (visit()), so what the pass finds
 * is still its state at the snapshot point.
 *
 * A capture given somewhere to write (writeTo(): a snapshot's changelog) writes what its
 * pass finds there and then, rather than taking it: the key is neither pinned nor listed,
 * and not visited again to read it out and to untie it. Each of those passes missed the CPU
 * cache once per dirty key (80 K keys a second at 1 M keys), about a third of a
 * checkpoint's time on the subtask's thread in a Bun profile. Only keys taken before the
 * pass reached them are read out afterwards (value()).
 * @module
 */
import { encode } from "../codec/cbor.ts";
import { namedStateError } from "./state_not_persistable.ts";
import { WeirError } from "../errors.ts";
import { type CacheEntry, unpin } from "./sqlite_cache_entry.ts";
import type { PendingWrites } from "./sqlite_pending_writes.ts";
import type { StateCodec } from "./sqlite_forms.ts";

/** A captured key's value as stored: encoded bytes, or undefined for a deleted key. */
export interface CapturedValue {
  entry: CacheEntry;
  /** The value's stored form, not yet encoded (undefined: deleted); see `bytes`. */
  stored: unknown;
  /** The encoded stored form, when it was encoded early (the key was used again). */
  bytes: Uint8Array | undefined;
}

/**
 * Where a capture's pass writes a key's value at the snapshot point as it finds it: its
 * encoded bytes, or its stored form, or neither (a deleted key). May throw (a value that
 * cannot be encoded): the capture keeps the first error for failure().
 */
export type CapturedValueSink = (entry: CacheEntry, bytes: Uint8Array | undefined, stored: unknown) => void;

/**
 * The dirty keys of a store at one snapshot point, with their values then.
 *
 * @example
 * ```ts
 * import { DirtyCapture } from "./sqlite_capture.ts";
 * import { CacheEntry } from "./sqlite_cache_entry.ts";
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
  /** Written-back keys not yet known in the file, by their encoded values: lists and how many of each. */
  readonly #pending: { writes: PendingWrites; count: number }[] = [];
  #pendingCount = 0;
  readonly #entries: CacheEntry[];
  readonly #mems: unknown[];
  /** Values encoded early (the key was used again), by index: few. */
  readonly #bytes = new Map<number, Uint8Array>();
  /** A value that could not be encoded early: the snapshot fails with it when it gets there. */
  readonly #errors = new Map<number, unknown>();
  /** The dirty list at the snapshot point, its end, and how far the pass over it got. */
  #list: readonly CacheEntry[] = [];
  #listEnd = 0;
  #listAt = 0;
  /** The cache's epoch ending at the snapshot point, and the epoch after which keys changed to be taken (-1: every dirty key). */
  #epoch = -1;
  #since = -1;
  /** Where the pass writes what it finds (writeTo()), and the pending keys written so far. */
  #sink: CapturedValueSink | undefined;
  #pendingWritten = 0;
  /** The first error of the sink: the pass wrote nothing after it. */
  #failure: unknown;
  /** Leading pending lists, and their keys, that letGoBefore() let go of already. */
  #pendingGone = 0;
  #pendingGoneKeys = 0;
  /** Leading entries that letGoBefore() let go of already. */
  #entriesGone = 0;

  /** An empty capture; take() adds keys, or a pass (pass()) over the dirty list of beginPass(). */
  readonly #named: (sid: number, stored: unknown, err: unknown) => unknown;

  /**
   * `named` turns an encoder's error for stored value `stored` of state `sid` into one naming
   * the state and operator (SqliteStateStore.namedError); by default the state alone is named.
   */
  constructor(codecs: ReadonlyMap<number, StateCodec>, named?: (sid: number, stored: unknown, err: unknown) => unknown) {
    this.#codecs = codecs;
    this.#named = named ?? ((sid, stored, err) => namedStateError(codecs, undefined, sid, stored, err));
    this.#entries = [];
    this.#mems = [];
  }

  /**
   * At the snapshot point: the keys of `list[0, end)` that are dirty and were last changed
   * in an epoch after `since` and up to `epoch` (`since` -1: every dirty key) are taken by
   * the pass, or by visit() before the key changes.
   */
  beginPass(list: readonly CacheEntry[], end: number, epoch: number, since: number): void {
    this.#list = list;
    this.#listEnd = end;
    this.#listAt = 0;
    this.#epoch = epoch;
    this.#since = since;
  }

  /**
   * Keys the pass has yet to reach (0 once it is over): of the dirty list, and with a sink
   * the written-back keys it has yet to write (they come first, and may be a whole group).
   */
  get unpassed(): number {
    return this.#listEnd - this.#listAt + (this.#sink !== undefined ? this.#pendingCount - this.#pendingWritten : 0);
  }

  /** Whether the pass is on over `list` (the cache reuses a list only once no pass reads it). */
  reads(list: readonly CacheEntry[]): boolean {
    return this.#listAt < this.#listEnd && this.#list === list;
  }

  /**
   * The pass is over (or was never begun): size and value() are final. With a sink, its
   * pending keys are written too, even when the dirty list was empty at the snapshot point.
   */
  get passed(): boolean {
    return this.#listAt >= this.#listEnd && (this.#sink === undefined || this.#pendingWritten >= this.#pendingCount);
  }

  /**
   * From now on the pass writes each key it finds to `sink` rather than take it: the
   * written-back keys taken first (takePending()), then the dirty list's. Keys taken before
   * the pass reached them are still read out with value(), after the pass.
   */
  writeTo(sink: CapturedValueSink): void {
    this.#sink = sink;
  }

  /** The first error the sink threw, once the pass is over; undefined if none. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Passes over `n` more keys (all with Infinity); true once the pass is over. */
  pass(n: number): boolean {
    let left = Math.max(1, n);
    if (this.#sink !== undefined && this.#pendingWritten < this.#pendingCount) left = this.#writePending(left);
    const list = this.#list;
    const end = Math.min(this.#listEnd, this.#listAt + left);
    if (this.#sink === undefined) {
      for (let i = this.#listAt; i < end; i++) {
        const e = list[i];
        if (e.seenBy !== this) this.visit(e);
      }
    } else {
      for (let i = this.#listAt; i < end; i++) {
        const e = list[i];
        if (e.seenBy !== this) this.#write(e);
      }
    }
    this.#listAt = end;
    if (!this.passed) return false;
    this.#list = [];
    return true;
  }

  /** Writes up to `n` pending keys to the sink; returns what is left of `n`. */
  #writePending(n: number): number {
    const sink = this.#sink!;
    const end = Math.min(this.#pendingCount, this.#pendingWritten + n);
    for (let i = this.#pendingWritten; i < end && this.#failure === undefined; i++) {
      const { entry, bytes } = this.#pendingValue(i);
      try {
        sink(entry, bytes, undefined);
      } catch (err) {
        this.#failure = err;
      }
    }
    n -= end - this.#pendingWritten;
    this.#pendingWritten = end;
    return n;
  }

  /**
   * `e`, not yet visited, holds a value of the snapshot point this capture takes: dirty then,
   * and changed in the epochs it takes. Changed after the snapshot point, it was visited
   * then; clean then, it is not taken.
   */
  #belongs(e: CacheEntry): boolean {
    return e.dirty && e.epoch > this.#since && e.epoch <= this.#epoch;
  }

  /** The pass's visit() of a capture with a sink: the value goes to the sink, not taken. */
  #write(e: CacheEntry): void {
    e.seenBy = this;
    if (!this.#belongs(e) || this.#failure !== undefined) return;
    const mem = e.mem;
    try {
      this.#sink!(e, undefined, mem === undefined ? undefined : this.#codecs.get(e.sid)!.toStored(mem));
    } catch (err) {
      this.#failure = err;
    }
  }

  /**
   * Takes `e` now if it belongs to this capture and the pass has not taken it yet: called
   * before `e` is used, changed or written back while the pass is on.
   */
  visit(e: CacheEntry): void {
    e.seenBy = this;
    if (this.#belongs(e)) {
      // Still tied to an earlier snapshot that has not written it yet: that one encodes it now.
      e.capture?.preserve(e);
      this.take(e);
    }
  }

  /** Takes `e` (dirty, in no other capture) with its value now; it stays pinned until let go of (letGoBefore(), release()). */
  take(e: CacheEntry): void {
    e.pins++;
    e.capture = this;
    e.captureAt = this.#entries.length;
    this.#entries.push(e);
    this.#mems.push(e.mem);
  }

  /**
   * Takes keys written back but perhaps not yet in the file: the first `count` of `writes`
   * (which may grow later), by their encoded values (undefined: deleted), held until let
   * go of (letGoBefore(), release()). They are out of the cache, so nothing changes them:
   * no copy is due. They come before every key taken otherwise (those are newer).
   */
  takePending(writes: PendingWrites, count: number): void {
    if (count === 0) return;
    writes.hold();
    this.#pending.push({ writes, count });
    this.#pendingCount += count;
  }

  /**
   * Keys captured that value() reads out (the pass is finished first): with a sink, those
   * taken before the pass reached them; without, the pending ones too.
   */
  get size(): number {
    if (!this.passed) this.pass(Infinity);
    return (this.#sink === undefined ? this.#pendingCount : 0) + this.#entries.length;
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
    const stored = this.#codecs.get(e.sid)!.toStored(mem);
    try {
      this.#bytes.set(i, encode(stored, "a keyed state value"));
    } catch (err) {
      this.#errors.set(i, this.#named(e.sid, stored, err));
    }
    this.#mems[i] = undefined;
  }

  /**
   * The value of the `i`th captured key as it was at the snapshot point (the pass is
   * finished first); the key is no longer tied to this capture.
   * @throws {WeirError} `value_not_persistable` when the value cannot be encoded
   */
  value(i: number): CapturedValue {
    if (!this.passed) this.pass(Infinity);
    if (this.#sink === undefined) {
      if (i < this.#pendingGoneKeys) throw new WeirError("invariant_broken", `Captured written-back key ${i} was read after it was let go of`);
      if (i < this.#pendingCount) return this.#pendingValue(i);
      i -= this.#pendingCount;
    }
    if (i < this.#entriesGone) throw new WeirError("invariant_broken", `Captured key ${i} was read after it was let go of`);
    const entry = this.#entries[i];
    if (entry.capture === this) entry.capture = undefined;
    const err = this.#errors.get(i);
    if (err !== undefined) throw err;
    const bytes = this.#bytes.get(i);
    const mem = this.#mems[i];
    return { entry, bytes, stored: bytes !== undefined || mem === undefined ? undefined : this.#codecs.get(entry.sid)!.toStored(mem) };
  }

  #pendingValue(i: number): CapturedValue {
    const pending = this.#pending;
    let at = i - this.#pendingGoneKeys;
    for (let b = this.#pendingGone; b < pending.length; b++) {
      const { writes, count } = pending[b];
      if (at < count) return { entry: writes.entry(at), bytes: writes.value(at), stored: undefined };
      at -= count;
    }
    throw new WeirError("invariant_broken", `Captured key ${i} is past the written-back keys taken`);
  }

  /**
   * The values before index `end` were read for the last time (value() is read in order):
   * their keys are let go of now, a slice at a time, rather than all at release(), where
   * the 100 000 keys of a job's first checkpoint held its records up for 12 ms.
   */
  letGoBefore(end: number): void {
    let entriesEnd = end;
    if (this.#sink === undefined) {
      const pending = this.#pending;
      while (this.#pendingGone < pending.length && this.#pendingGoneKeys + pending[this.#pendingGone].count <= end) {
        const { writes, count } = pending[this.#pendingGone++];
        writes.letGo();
        this.#pendingGoneKeys += count;
      }
      entriesEnd -= this.#pendingCount;
    }
    this.#letGoOfEntries(Math.min(entriesEnd, this.#entries.length));
  }

  /** Unpins the entries from #entriesGone up to `end`. */
  #letGoOfEntries(end: number): void {
    const entries = this.#entries;
    const mems = this.#mems;
    for (let i = this.#entriesGone; i < end; i++) {
      const e = entries[i];
      if (e.capture === this) e.capture = undefined;
      unpin(e);
      mems[i] = undefined;
    }
    if (end > this.#entriesGone) this.#entriesGone = end;
  }

  /** Unties every key still tied to this capture (done, or dropped). */
  release(): void {
    // A pass not over ends: the cache stops visiting keys for it.
    this.#list = [];
    this.#listAt = this.#listEnd = 0;
    for (let b = this.#pendingGone; b < this.#pending.length; b++) this.#pending[b].writes.letGo();
    this.#pending.length = 0;
    this.#pendingCount = this.#pendingWritten = this.#pendingGone = this.#pendingGoneKeys = 0;
    this.#letGoOfEntries(this.#entries.length);
    this.#entriesGone = 0;
    this.#entries.length = 0;
    this.#mems.length = 0;
    this.#bytes.clear();
  }
}
