/**
 * Write-back batches of the SQLite backend: the dirty keys that a cache eviction or a
 * flush gives up, as records of the changelog format (sqlite_changelog.ts), applied to
 * the working file in one transaction. A batch is bytes, so it can cross to the thread
 * that writes it (platforms/sqlite_writer.ts): upserting 2 048 rows at random places of
 * a 1 M-row B-tree took 9 ms of the subtask's thread per eviction, half of a job's time
 * when every record misses the cache, and the longest pause between records.
 * @module
 */
import { WeirError } from "../errors.ts";
import { BulkRowWriter } from "./sqlite_bulk.ts";
import { ChainChanges, type SortedChanges } from "./sqlite_chain_changes.ts";
import { CHANGE_KEY_OFFSET } from "./sqlite_key_sort.ts";
import { NO_ORIGINAL_KEY, recordBytes, recordU32, recordValueAt, writeRecord } from "./sqlite_changelog.ts";
import type { SqliteDatabase } from "./sqlite_driver.ts";
import { inTransaction } from "./sqlite_transaction.ts";

/** Bytes a batch starts with per record it is expected to hold (it grows when they are more). */
const BYTES_PER_RECORD = 48;

/**
 * Records of one write-back, each key at most once.
 *
 * @example
 * ```ts
 * import { WriteBatch, applyWriteBatches } from "./sqlite_write_batch.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * import { SCHEMA } from "./sqlite_store.ts";
 * const db = sqliteDriver.open(":memory:");
 * db.exec(SCHEMA);
 * const b = new WriteBatch();
 * b.put(3, 0, Uint8Array.of(1), null, Uint8Array.of(9));
 * b.remove(3, 0, Uint8Array.of(2));
 * applyWriteBatches(db, [b.bytes()], 8);
 * console.assert((db.prepare("SELECT v FROM kv").get()?.v as Uint8Array)[0] === 9);
 * db.close();
 * ```
 */
export class WriteBatch {
  #buf: Uint8Array;
  #view: DataView;
  #at = 0;
  /** Records so far. */
  records = 0;

  /**
   * A batch sized for `expected` records (default 1 024). Every write-back makes one, kept
   * until its group commits: a fixed 64 KiB, mostly empty, made V8 count more memory
   * outside its heap and collect more often.
   */
  constructor(expected = 1024) {
    this.#buf = new Uint8Array(Math.max(256, expected * BYTES_PER_RECORD));
    this.#view = new DataView(this.#buf.buffer);
  }

  /** A put of `v` at (kg, s, k); `ok` is the original key's encoding, or null. */
  put(kg: number, s: number, k: Uint8Array, ok: Uint8Array | null, v: Uint8Array): void {
    this.#room(recordBytes(k, ok, v));
    this.#at = writeRecord(this.#buf, this.#view, this.#at, kg, s, k, ok, v);
    this.records++;
  }

  /** A delete of (kg, s, k). */
  remove(kg: number, s: number, k: Uint8Array): void {
    this.#room(recordBytes(k, null, null));
    this.#at = writeRecord(this.#buf, this.#view, this.#at, kg, s, k, null, null);
    this.records++;
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(2 * this.#buf.length, this.#at + n));
    grown.set(this.#buf.subarray(0, this.#at));
    this.#buf = grown;
    this.#view = new DataView(grown.buffer);
  }

  /** The records written, as a view (valid until the next put or remove). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#at);
  }
}

/**
 * Applies write-back batches to `db`'s kv table, all in one transaction: the last record of
 * each key (the batches in order, a later one winning), in primary-key order, so the
 * upserts walk the B-tree once from its first page to its last rather than jump about it.
 * Several batches at once touch fewer pages per row too (random keys in a 1 M-row table:
 * about 15 µs a row in transactions of 2 048, 7 µs in 32 768, unsorted). Key groups are
 * below `keyGroups`.
 * @throws {WeirError} `storage_failed` naming the file when SQLite refuses them (a full
 *   disk); nothing of them is applied then
 */
export function applyWriteBatches(db: SqliteDatabase, batches: readonly Uint8Array[], keyGroups: number): void {
  const changes = new ChainChanges({ start: 0, end: keyGroups - 1 }, undefined);
  for (const bytes of batches) changes.add({ bytes, what: "a write-back batch" });
  const sorted = changes.lastInKeyOrder();
  inTransaction(db, () => upsertSorted(db, sorted), (err) => new WeirError("storage_failed", `Cannot write keyed state to ${db.path}: ${err.message}`, { cause: err }));
}

/**
 * Writes the last record of each key (`changes`, in key order) into the `kv` table, in the
 * caller's transaction: the puts as bulk upserts, the tombstones as deletes.
 */
export function upsertSorted(db: SqliteDatabase, changes: SortedChanges): void {
  const { count, bytes, at, keyGroup, stateId, keyLength } = changes;
  const rows = new BulkRowWriter(db);
  const del = db.prepare("DELETE FROM kv WHERE kg = ? AND s = ? AND k = ?");
  for (let j = 0; j < count; j++) {
    const kAt = at[j] + CHANGE_KEY_OFFSET;
    const kEnd = kAt + keyLength[j];
    const k = bytes.subarray(kAt, kEnd);
    // Each key once: a delete may run before the puts buffered beside it.
    if (bytes[at[j]] === 0) {
      del.run(keyGroup[j], stateId[j], k);
      continue;
    }
    const vAt = recordValueAt(bytes, kEnd);
    rows.row(keyGroup[j], stateId[j], k, recordU32(bytes, kEnd) === NO_ORIGINAL_KEY ? null : bytes.subarray(kEnd + 4, vAt), bytes.subarray(vAt + 4, vAt + 4 + recordU32(bytes, vAt)));
  }
  rows.finish();
}
