/**
 * One table's number pairs in a heap snapshot (heap_snapshot.ts): entries whose key and
 * value are both numbers, collected flat during the visit (number_pairs.ts), then either
 * handed to the platform's encoder off the subtask's thread, or added to the table's own
 * entries on it — encoded as pairs at once (a batch under the encoder's minimum: small), or
 * into its columns a budget a step (a table whose other values keep it on this thread: a
 * million numbers in one step held records up for 50 ms).
 * @module
 */
import type { KeyGroupEntries } from "./heap_snapshot_groups.ts";
import { type EncodedNumberPairs, type NumberPairBatch, type NumberPairsLayout, type PairEncoding, encodeNumberPairs, encodedGroupsOf, giveBackBatch, numberPairBatch, pairEncoder } from "./number_pairs.ts";

/**
 * A table's number pairs, from the visit to their bytes.
 *
 * @example
 * ```ts
 * import { TableNumbers } from "./heap_snapshot_numbers.ts";
 * import { KeyGroupEntries } from "./heap_snapshot_groups.ts";
 * import { ColumnPool } from "./column_builder.ts";
 * const entries = new KeyGroupEntries(new ColumnPool());
 * const numbers = new TableNumbers(4);
 * console.assert(numbers.push(1, 2, 3) && !numbers.push("a", 2, 3));
 * numbers.visited("columns", entries);
 * console.assert(numbers.addToColumns(entries, 10) === 9 && numbers.encodedColumns() === undefined);
 * console.assert(entries.columns()[0][0] === 3);
 * ```
 */
export class TableNumbers {
  #batch: NumberPairBatch | undefined;
  /** An entry other than a number pair was collected too: the numbers stay on this thread (columns). */
  #mixed = false;
  /** Numbers joining the columns here, from `at`. */
  #moving: { batch: NumberPairBatch; at: number } | undefined;
  /** The numbers handed to the encoder, until it answers. */
  #encoding: PairEncoding | undefined;
  /** What the encoder answered. */
  #encoded: EncodedNumberPairs | undefined;

  /** `capacity`: the table's slots at the snapshot point (each entry is collected once). */
  constructor(capacity: number) {
    this.#batch = numberPairBatch(capacity);
  }

  /** Takes a number pair of key group g; false for any other entry (or no room), which the caller collects. */
  push(key: unknown, value: unknown, g: number): boolean {
    const b = this.#batch;
    if (b !== undefined && typeof key === "number" && typeof value === "number" && b.length < b.keys.length) {
      const i = b.length++;
      b.keys[i] = key;
      b.values[i] = value;
      b.groups[i] = g;
      return true;
    }
    this.#mixed = true;
    return false;
  }

  /**
   * The visit is done: the numbers go to the encoder when there are enough of them (and,
   * for columns, nothing else was collected); else pairs are encoded into `entries` now,
   * and columns wait for addToColumns().
   */
  visited(layout: NumberPairsLayout, entries: KeyGroupEntries): void {
    const batch = this.#batch;
    if (batch === undefined) return;
    this.#batch = undefined;
    const offThread = pairEncoder();
    if (offThread !== undefined && batch.length >= offThread.minEntries && (layout === "pairs" || !this.#mixed)) {
      this.#encoding = offThread.encoder.encode(batch, layout);
    } else if (layout === "columns") this.#moving = { batch, at: 0 };
    else {
      if (batch.length > 0) entries.addEncoded(encodedGroupsOf(encodeNumberPairs(batch)));
      giveBackBatch(batch);
    }
  }

  /** Adds about `budget` of the numbers kept here to `entries`' columns; the budget left, negative while more remain. */
  addToColumns(entries: KeyGroupEntries, budget: number): number {
    const moving = this.#moving;
    if (moving === undefined) return budget;
    const { batch } = moving;
    const end = Math.min(batch.length, moving.at + Math.max(0, budget));
    for (let i = moving.at; i < end; i++) entries.addColumns(batch.groups[i], batch.keys[i], batch.values[i]);
    const left = budget - (end - moving.at);
    moving.at = end;
    if (end < batch.length) return Math.min(left, -1);
    this.#moving = undefined;
    giveBackBatch(batch);
    return left;
  }

  /** True while the encoder has the numbers. */
  get encoding(): boolean {
    return this.#encoding !== undefined;
  }

  /**
   * True once the encoder's answer is in (or nothing was sent); its encoding to wait for otherwise.
   * @throws {WeirError} `storage_failed` when the encoder's thread failed or ended
   */
  answer(): true | PairEncoding {
    const encoding = this.#encoding;
    if (encoding === undefined) return true;
    const r = encoding.poll();
    if (r === undefined) return encoding;
    this.#encoding = undefined;
    this.#encoded = r;
    return true;
  }

  /** The pairs the encoder wrote, for a table encoded as collected (added to `entries` once). */
  takePairs(entries: KeyGroupEntries): void {
    if (this.#encoded === undefined) return;
    entries.addEncoded(encodedGroupsOf(this.#encoded));
    this.#encoded = undefined;
  }

  /** The key group items the encoder wrote, for a table collecting columns. */
  encodedColumns(): { bytes: Uint8Array; groupCount: number } | undefined {
    return this.#encoded && { bytes: this.#encoded.bytes, groupCount: this.#encoded.groups.length / 4 };
  }

  /** The snapshot is released: arrays back to the pool, an encoding in flight abandoned. */
  release(): void {
    if (this.#batch) giveBackBatch(this.#batch);
    if (this.#moving) giveBackBatch(this.#moving.batch);
    this.#encoding?.abandon();
    this.#batch = this.#moving = this.#encoding = this.#encoded = undefined;
  }
}
