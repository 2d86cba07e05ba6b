/**
 * One table's entries as a heap snapshot collects them (heap_snapshot.ts), by key group:
 * as columns, a keys and a values builder per key group taken from the backend's pool and
 * given back at release, or, when the snapshot encodes as it collects, as `[key, value]`
 * pairs in a CBOR writer per key group, whose chunks come from the process's pool
 * (codec/chunk_pool.ts) and go back once the checkpoint's file is stored.
 * @module
 */
import { CborWriter } from "../codec/cbor_writer.ts";
import { checkpointChunks } from "../codec/chunk_pool.ts";
import type { EncodedGroup } from "./backend.ts";
import type { ColumnBuilder, ColumnPool } from "./column_builder.ts";

/**
 * Entries by key group, in the order they were added.
 *
 * @example
 * ```ts
 * import { KeyGroupEntries } from "./heap_snapshot_groups.ts";
 * import { ColumnPool } from "./column_builder.ts";
 * const e = new KeyGroupEntries(new ColumnPool());
 * e.addColumns(5, "b", 2);
 * e.addColumns(1, "a", 1);
 * console.assert(e.columns().map(([g]) => g).join() === "1,5");
 * e.release();
 * ```
 */
export class KeyGroupEntries {
  readonly #pool: ColumnPool;
  /** Columns by key group (index = key group). */
  #columns: ({ keys: ColumnBuilder; values: ColumnBuilder } | undefined)[] = [];
  /** Encoded pairs by key group (index = key group). */
  #pairs: ({ w: CborWriter; entries: number } | undefined)[] = [];
  /** Groups encoded elsewhere (state/number_pairs.ts), ascending, to follow each group's own pairs. */
  #added: EncodedGroup[][] = [];

  constructor(pool: ColumnPool) {
    this.#pool = pool;
  }

  /** True once an entry was added. */
  get collected(): boolean {
    return this.#columns.length > 0 || this.#pairs.length > 0;
  }

  /** Adds an entry to key group g's columns. */
  addColumns(g: number, key: unknown, value: unknown): void {
    let cols = this.#columns[g];
    if (cols === undefined) this.#columns[g] = cols = { keys: this.#pool.take(), values: this.#pool.take() };
    cols.keys.push(key);
    cols.values.push(value);
  }

  /**
   * Appends a `[key, value]` pair to key group g's writer; `what` names the state in errors.
   * @throws {WeirError} `value_not_persistable` for a value that would not read back as itself
   */
  addPair(g: number, key: unknown, value: unknown, what: string): void {
    let out = this.#pairs[g];
    // Small first chunks: a key group holds 1/128 of the keys or less.
    if (out === undefined) this.#pairs[g] = out = { w: new CborWriter(what, 4096, false, checkpointChunks), entries: 0 };
    out.w.pair(key, value);
    out.entries++;
  }

  /** Key groups encoded elsewhere (ascending): their entries follow those addPair() wrote. */
  addEncoded(groups: EncodedGroup[]): void {
    if (groups.length > 0) this.#added.push(groups);
  }

  /** The columns by ascending key group: valid until release(), which reuses their buffers. */
  columns(): [keyGroup: number, keys: ArrayLike<unknown>, values: ArrayLike<unknown>][] {
    const out: [number, ArrayLike<unknown>, ArrayLike<unknown>][] = [];
    this.#columns.forEach((cols, g) => {
      if (cols) out.push([g, cols.keys.items(), cols.values.items()]);
    });
    return out;
  }

  /** The encoded pairs by ascending key group, as their writers' chunks (handed over). */
  takeEncoded(): EncodedGroup[] {
    let out: EncodedGroup[] = [];
    this.#pairs.forEach((p, keyGroup) => {
      if (p) out.push({ keyGroup, entries: p.entries, chunks: p.w.takeParts() });
    });
    this.#pairs = [];
    for (const added of this.#added) out = mergeGroups(out, added);
    this.#added = [];
    return out;
  }

  /** Gives the column builders back to the pool and forgets every entry. */
  release(): void {
    for (const cols of this.#columns) {
      if (cols === undefined) continue;
      this.#pool.give(cols.keys);
      this.#pool.give(cols.values);
    }
    this.#columns = [];
    this.#pairs = [];
    this.#added = [];
  }
}

/** Two lists of groups by ascending key group as one: a group in both has a's chunks, then b's. */
function mergeGroups(a: EncodedGroup[], b: EncodedGroup[]): EncodedGroup[] {
  if (a.length === 0) return b;
  const out: EncodedGroup[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j === b.length || (i < a.length && a[i].keyGroup < b[j].keyGroup)) out.push(a[i++]);
    else if (i === a.length || b[j].keyGroup < a[i].keyGroup) out.push(b[j++]);
    else {
      out.push({ keyGroup: a[i].keyGroup, entries: a[i].entries + b[j].entries, chunks: [...a[i].chunks, ...b[j].chunks] });
      i++;
      j++;
    }
  }
  return out;
}
