/**
 * Encodes heap snapshot columns (heap_snapshot.ts) in steps, straight into one growing
 * buffer (codec/cbor_writer.ts): a budget of entries per step, so that a million keys are
 * written between records and without an array per entry. Two layouts of the same map of
 * tables (`{ [name]: { kind, ttl?, groups } }`):
 * - `pairs`: the canonical form every backend reads (savepoints, full checkpoints), a
 *   group being `[keyGroup, [[key, value], …]]`;
 * - `columns`: the heap's own checkpoint files (heap_changelog.ts, format 3), a group
 *   being `[keyGroup, keys, values]`, each column an array or, when its items allow, a
 *   typed form (heap_columns.ts: int32 or float64 bytes, one text with string ends) that
 *   decodes in bulk, without a CBOR item per entry.
 * @module
 */
import type { CborWriter } from "../codec/cbor_writer.ts";
import { WeirError } from "../errors.ts";
import type { KeyedStateSnapshot } from "./backend.ts";
import type { StateKind } from "./keyed_state.ts";
import { type ColumnForm, columnForm, writeNumberColumnHead, writeNumbers, writeStringColumn } from "./heap_columns.ts";

/**
 * One table's entries as columns: per key group (ascending), the original keys and the
 * values in their snapshot form, index by index.
 */
export interface TableColumns {
  name: string;
  kind: StateKind;
  ttl: boolean;
  groups: [keyGroup: number, keys: ArrayLike<unknown>, values: ArrayLike<unknown>][];
  /**
   * Key group items encoded already, in the `columns` layout (number pairs encoded off the
   * thread, number_pairs.ts): `groupCount` items back to back, ascending key group, after
   * those of `groups` (none then).
   */
  encoded?: { bytes: Uint8Array; groupCount: number };
}

/** A keyed snapshot that can hand over its entries as columns (the heap's). */
export interface ColumnarSnapshot extends KeyedStateSnapshot {
  /**
   * The tables as columns; only after step() finished. They stay valid until release(),
   * which may hand their buffers to another snapshot: release only once they were read.
   */
  columns(): TableColumns[];
}

/** True when a keyed snapshot hands over columns, so that its encoder can skip the canonical pairs. */
export function isColumnar(snap: KeyedStateSnapshot): snap is ColumnarSnapshot {
  return typeof (snap as Partial<ColumnarSnapshot>).columns === "function";
}

/** How groups are laid out; see the module doc. */
export type ColumnsLayout = "pairs" | "columns";

/**
 * Writes a map of tables into a writer, a budget of entries at a time.
 *
 * @example
 * ```ts
 * import { ColumnsEncoder } from "./heap_encode.ts";
 * import { CborWriter } from "../codec/cbor_writer.ts";
 * import { decode } from "../codec/cbor.ts";
 * const w = new CborWriter();
 * const e = new ColumnsEncoder(w, [{ name: "n", kind: "value", ttl: false, groups: [[3, ["a", "b"], [1, 2]]] }], "pairs");
 * while (!e.step(1)) { }
 * const t = decode<Record<string, { groups: [number, [string, number][]][] }>>(w.bytes());
 * console.assert(t.n.groups[0][1][1][1] === 2);
 * ```
 */
export class ColumnsEncoder {
  readonly #w: CborWriter;
  readonly #tables: TableColumns[];
  readonly #layout: ColumnsLayout;
  #t = -1;
  #g = 0;
  /** Entry index within the group; for `columns`, keys then values (n + i). */
  #i = -1;
  /** Columns layout: the column being written (0 keys, 1 values, 2 done), its form and next item. */
  #col = 0;
  #form: ColumnForm | undefined;
  #ci = 0;

  constructor(writer: CborWriter, tables: TableColumns[], layout: ColumnsLayout) {
    this.#w = writer;
    this.#tables = tables;
    this.#layout = layout;
  }

  /** The table and the key group's values being written, if any: an error names the state. */
  get writing(): { name: string; values: ArrayLike<unknown> } | undefined {
    const t = this.#tables[this.#t];
    const g = t?.groups[this.#g];
    return g && { name: t.name, values: g[2] };
  }

  /** Writes about `budget` more entries; true once the whole map is written. */
  step(budget: number): boolean {
    const w = this.#w;
    let left = Math.max(1, budget);
    if (this.#t < 0) {
      w.head(5, this.#tables.length);
      this.#t = 0;
    }
    while (this.#t < this.#tables.length) {
      const t = this.#tables[this.#t];
      if (this.#i < 0 && this.#g === 0) this.#tableHead(t);
      if (t.encoded) {
        if (this.#layout !== "columns" || t.groups.length > 0) throw new WeirError("invariant_broken", `The columns of "${t.name}" were encoded for the heap's files and cannot be written as ${this.#layout}`);
        // Their own chunk, not copied: a million entries are megabytes.
        w.chunk(t.encoded.bytes);
        left -= t.encoded.groupCount;
        this.#next();
        if (left <= 0 && this.#t < this.#tables.length) return false;
        continue;
      }
      while (this.#g < t.groups.length) {
        const [g, keys, values] = t.groups[this.#g];
        const n = keys.length;
        if (this.#i < 0) {
          w.head(4, this.#layout === "pairs" ? 2 : 3);
          w.value(g);
          if (this.#layout === "pairs") w.head(4, n);
          this.#i = 0;
        }
        if (this.#layout === "pairs") {
          let i = this.#i;
          const end = Math.min(n, i + left);
          for (; i < end; i++) {
            w.head(4, 2);
            w.value(keys[i]);
            w.value(values[i]);
          }
          left -= end - this.#i;
          this.#i = i;
          if (i < n) return false;
        } else {
          if (this.#col === 0) left = this.#column(keys, left);
          if (this.#col === 1) left = this.#column(values, left);
          if (this.#col < 2) return false;
          this.#col = 0;
        }
        this.#i = -1;
        this.#g++;
        if (left <= 0 && (this.#g < t.groups.length || this.#t + 1 < this.#tables.length)) {
          if (this.#g === t.groups.length) this.#next();
          return false;
        }
      }
      this.#next();
    }
    return true;
  }

  /**
   * Writes on in the current column (keys, then values) of a group in the columns layout,
   * in its form (heap_columns.ts); returns the budget left, and moves to the next column
   * once this one is written.
   */
  #column(items: ArrayLike<unknown>, budget: number): number {
    const w = this.#w;
    const n = items.length;
    let left = budget;
    if (this.#form === undefined) {
      if (left <= 0) return left;
      this.#form = columnForm(items);
      this.#ci = 0;
      if (this.#form === "str") {
        // Only an array of strings has this form.
        writeStringColumn(w, items as readonly unknown[]);
        this.#ci = n;
        left -= n;
      } else if (this.#form === "array") w.head(4, n);
      else writeNumberColumnHead(w, this.#form, n);
    }
    const form = this.#form;
    const from = this.#ci;
    const end = Math.min(n, from + Math.max(0, left));
    if (form === "i32" || form === "f64") {
      if (end > from) writeNumbers(w, form, items, from, end);
    } else if (form === "array") for (let i = from; i < end; i++) w.value(items[i]);
    left -= end - from;
    this.#ci = end;
    if (end < n) return left;
    this.#form = undefined;
    this.#col++;
    return left;
  }

  #next(): void {
    this.#t++;
    this.#g = 0;
    this.#i = -1;
  }

  #tableHead(t: TableColumns): void {
    const w = this.#w;
    w.value(t.name);
    w.head(5, t.ttl ? 3 : 2);
    w.value("kind");
    w.value(t.kind);
    if (t.ttl) {
      w.value("ttl");
      w.value(true);
    }
    w.value("groups");
    w.head(4, t.encoded ? t.encoded.groupCount : t.groups.length);
  }
}
