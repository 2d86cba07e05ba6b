/**
 * The SQLite backend's index of cached keys (sqlite_cache.ts) and of pending write-backs
 * (sqlite_pending_writes.ts): open addressing over one array, keyed by state id and
 * canonical key. Not a Map: a Map whose keys come and go is rebuilt whole now and then (its
 * deleted slots reclaimed), 40–56 ms for a 100 K-key cache on a 2-core VM, and splitting it
 * into a thousand small Maps (stop 29) still allocated a new backing store per rebuild, which
 * young-generation collections copied. Here a removal shifts the keys behind it back
 * (Knuth's Algorithm R for linear probing), so that no slot is ever marked deleted and the
 * array is replaced only when it grows.
 * @module
 */
import { mix32 } from "./key_group.ts";
import { EntryIds, type IdentifiedEntry } from "./sqlite_entry_ids.ts";

/** What a table holds: a key of a state, and the hash it was added with (set by add()). */
export interface KeyedEntry extends IdentifiedEntry {
  sid: number;
  canonical: unknown;
  hash: number;
}

/** Slots of a table made for a larger capacity, at first: it grows as keys come. */
const INITIAL_SLOTS = 1024;

const f64 = new Float64Array(1);
const i32 = new Int32Array(f64.buffer);
const FNV_PRIME = 0x01000193;

/**
 * The hash of key `canonical` (number, string, boolean or bigint: key_group.ts) of state
 * `sid`: 1 to 2^30 - 1 (0 stands for "not known yet" in KeyedEntry.hash). Every bit of the key
 * counts: an integer's words, a fraction's both float64 words, every character of a string,
 * every 32-bit word of a bigint and its sign. Not hashKey(), which makes a string of a
 * fraction or a bigint first. -0 and 0 hash alike, and every NaN alike, as sameKey() has it.
 */
export function cacheKeyHash(sid: number, canonical: unknown): number {
  let h: number;
  if (typeof canonical === "number") {
    h = canonical | 0;
    if (h !== canonical) {
      if (canonical !== canonical) h = 0x7ff80000;
      else {
        f64[0] = canonical;
        h = i32[0] ^ mix32(i32[1]);
      }
    }
  } else if (typeof canonical === "string") {
    const n = canonical.length;
    h = Math.imul(n, 0x9e3779b1);
    for (let i = 0; i < n; i++) h = Math.imul(h ^ canonical.charCodeAt(i), FNV_PRIME);
  } else if (typeof canonical === "bigint") {
    let x = canonical < 0n ? -canonical : canonical;
    h = canonical < 0n ? 0x5bd1e995 : 0;
    do {
      h = Math.imul(h ^ Number(BigInt.asUintN(32, x)), FNV_PRIME);
      x >>= 32n;
    } while (x > 0n);
  } else h = canonical === true ? 1 : 2;
  // 30 bits: a small integer to V8 (31-bit Smis with pointer compression). A hash beyond
  // that is a heap number, allocated whenever it is stored in an entry or passed to a call
  // not inlined; with an entry of the old generation holding it, every scavenge had to
  // visit it (Deno: a third of the scavenges took over 5 ms, copying 300 KB).
  return (mix32(h ^ Math.imul(sid + 1, 0x27d4eb2f)) & 0x3fffffff) || 1;
}

/** Whether two canonical keys are one: SameValueZero, as a Map has it (every NaN is one key, -0 is 0). */
export function sameKey(a: unknown, b: unknown): boolean {
  return a === b || (a !== a && b !== b);
}

/**
 * Entries by (state id, canonical key), each key once. The slots hold the entries' ids and
 * hashes in typed arrays (see sqlite_entry_ids.ts for why not the entries).
 *
 * @example
 * ```ts
 * import { KeyTable } from "./sqlite_key_table.ts";
 * const t = new KeyTable<{ id: number; sid: number; canonical: unknown; hash: number }>(4);
 * const a = { id: 0, sid: 0, canonical: "a", hash: 0 };
 * t.add(a);
 * console.assert(t.get(0, "a") === a && t.get(1, "a") === undefined && t.size === 1);
 * t.remove(a);
 * console.assert(t.get(0, "a") === undefined && t.size === 0);
 * ```
 */
export class KeyTable<E extends KeyedEntry> {
  /** Entry ids (0: an empty slot). */
  #slots: Int32Array;
  /** The hash of the entry in each slot: a probe compares these before it looks at an entry. */
  #hashes: Int32Array;
  #mask: number;
  #size = 0;
  readonly #initial: number;
  readonly #ids: EntryIds<E>;

  /**
   * Made for about `capacity` keys; it starts smaller (1 024 slots at most) and doubles when
   * half full. An entry added without an id gets one from `ids` (shared with whoever else
   * holds the entries by id).
   */
  constructor(capacity: number, ids: EntryIds<E> = new EntryIds()) {
    let n = 16;
    while (n < INITIAL_SLOTS && n < 2 * capacity) n *= 2;
    this.#initial = n;
    this.#slots = new Int32Array(n);
    this.#hashes = new Int32Array(n);
    this.#mask = n - 1;
    this.#ids = ids;
  }

  /** Keys held. */
  get size(): number {
    return this.#size;
  }

  /** The entry of `canonical` in state `sid`, if any; `hash` is cacheKeyHash(sid, canonical), given when known. */
  get(sid: number, canonical: unknown, hash: number = cacheKeyHash(sid, canonical)): E | undefined {
    const slots = this.#slots;
    const hashes = this.#hashes;
    const mask = this.#mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const id = slots[i];
      if (id === 0) return undefined;
      if (hashes[i] !== hash) continue;
      const e = this.#ids.get(id);
      if (e.sid === sid && sameKey(e.canonical, canonical)) return e;
    }
  }

  /**
   * Adds `e`, whose key is not held yet (a second entry of a key is never found); sets
   * `e.hash` to `hash`, cacheKeyHash() of its key, and gives it an id if it has none.
   */
  add(e: E, hash: number = cacheKeyHash(e.sid, e.canonical)): void {
    e.hash = hash;
    if (e.id === 0) this.#ids.add(e);
    if (2 * (this.#size + 1) > this.#slots.length) this.#grow();
    this.#place(e.id, hash);
    this.#size++;
  }

  #place(id: number, hash: number): void {
    const slots = this.#slots;
    const mask = this.#mask;
    let i = hash & mask;
    while (slots[i] !== 0) i = (i + 1) & mask;
    slots[i] = id;
    this.#hashes[i] = hash;
  }

  #grow(): void {
    const old = this.#slots;
    const oldHashes = this.#hashes;
    this.#slots = new Int32Array(old.length * 2);
    this.#hashes = new Int32Array(old.length * 2);
    this.#mask = this.#slots.length - 1;
    for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.#place(old[i], oldHashes[i]);
  }

  /** Removes `e` (the very entry added); false when it is not held. */
  remove(e: E): boolean {
    const slots = this.#slots;
    const hashes = this.#hashes;
    const mask = this.#mask;
    const id = e.id;
    if (id === 0) return false;
    let i = e.hash & mask;
    for (;; i = (i + 1) & mask) {
      const s = slots[i];
      if (s === 0) return false;
      if (s === id) break;
    }
    // The entries of the cluster behind the hole that may move into it do (their home
    // slot is not cyclically within (hole, their slot]), and the hole moves to where they were.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const s = slots[j];
      if (s === 0) break;
      const home = hashes[j] & mask;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      slots[i] = s;
      hashes[i] = hashes[j];
      i = j;
    }
    slots[i] = 0;
    this.#size--;
    return true;
  }

  /** Every entry, in slot order (a copy). */
  values(): E[] {
    const out: E[] = [];
    for (const id of this.#slots) if (id !== 0) out.push(this.#ids.get(id));
    return out;
  }

  /** Forgets every entry; back to the first size. Their ids stay theirs. */
  clear(): void {
    this.#slots = new Int32Array(this.#initial);
    this.#hashes = new Int32Array(this.#initial);
    this.#mask = this.#initial - 1;
    this.#size = 0;
  }
}
