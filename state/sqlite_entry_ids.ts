/**
 * Small integer ids for the SQLite cache's entries, so that its large tables (the key table's
 * slots, the CLOCK's frames) hold ids in typed arrays rather than references in arrays.
 *
 * Why: JavaScriptCore (Bun) remembers an old object written to, whatever it was given, and
 * its young-generation collection visits every slot of it again. A cache of 1 M keys stored
 * an entry into arrays of 1–2 M slots on every miss, so nearly every Eden collection went
 * over them: 5–50 ms each on a 2-core VM, the longest of the subtask's gaps. (V8 remembers
 * the slots written, not the object.) Ids live here in chunks of 1 024, of which a new entry
 * touches one.
 * @module
 */

/** Entries per chunk: an Eden collection visits the chunks written since the last. */
const CHUNK_BITS = 10;
const CHUNK = 1 << CHUNK_BITS;

/** An entry with an id: 0 until registered. */
export interface IdentifiedEntry {
  id: number;
}

/**
 * Entries by id (1, 2, …; 0 is none). An id released is given to a later entry.
 *
 * @example
 * ```ts
 * import { EntryIds } from "./sqlite_entry_ids.ts";
 * const ids = new EntryIds<{ id: number }>();
 * const a = { id: 0 };
 * ids.add(a);
 * console.assert(a.id === 1 && ids.get(1) === a);
 * ids.release(a);
 * console.assert(a.id === 0 && ids.size === 0);
 * ```
 */
export class EntryIds<E extends IdentifiedEntry> {
  readonly #chunks: (E | undefined)[][] = [];
  readonly #released: number[] = [];
  #next = 1;
  #size = 0;

  /** Entries registered now. */
  get size(): number {
    return this.#size;
  }

  /** Gives `e` (id 0) an id. */
  add(e: E): void {
    const id = this.#released.pop() ?? this.#next++;
    const chunk = (this.#chunks[id >> CHUNK_BITS] ??= new Array(CHUNK).fill(undefined));
    chunk[id & (CHUNK - 1)] = e;
    e.id = id;
    this.#size++;
  }

  /** The entry of `id` (registered: ids come from the tables that hold them). */
  get(id: number): E {
    return this.#chunks[id >> CHUNK_BITS][id & (CHUNK - 1)]!;
  }

  /** Forgets `e`, which is not in any table any more; its id goes to a later entry. */
  release(e: E): void {
    const id = e.id;
    if (id === 0) return;
    this.#chunks[id >> CHUNK_BITS][id & (CHUNK - 1)] = undefined;
    this.#released.push(id);
    e.id = 0;
    this.#size--;
  }
}
