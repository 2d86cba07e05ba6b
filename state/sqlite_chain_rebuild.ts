/**
 * A restore of a native chain (a base and its changelogs, sqlite_native.ts) into an empty
 * store as one merge: the base's `kv` cells read from its file in key order
 * (sqlite_btree_cells.ts), the chain's last record per key in key order
 * (sqlite_chain_changes.ts), and the merged rows written as a new file, full pages a
 * megabyte at a time (sqlite_btree_file.ts), which the store adopts. Upserting the changes into the base
 * through SQLite cost 1.7 µs a row in key order and 5–7 µs in the changelogs' order; the
 * merge reads and copies bytes once. The base's file is read into memory, so bases over
 * {@link REBUILD_BASE_BYTES_MAX} take SQLite's path, and so does a chain whose records need
 * an overflow page.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { KeyGroupRange } from "./key_group.ts";
import { type PagedFile, filePageSize, forEachIndexCell } from "./sqlite_btree_cells.ts";
import { KvFileWriter, kvTemplate } from "./sqlite_btree_file.ts";
import type { SortedChanges } from "./sqlite_chain_changes.ts";
import { CHANGE_KEY_OFFSET } from "./sqlite_key_sort.ts";
import { NO_ORIGINAL_KEY, recordU32, recordValueAt } from "./sqlite_changelog.ts";
import { varintLength } from "./sqlite_records.ts";
import { inTransaction, restoreFailure } from "./sqlite_transaction.ts";
import { upsertSorted } from "./sqlite_write_batch.ts";
import type { SqliteStateStore } from "./sqlite_store.ts";

/**
 * The largest base file merged in memory. The merge holds the base, the chain's records
 * and their grouped copy at once (the merged file is written a megabyte at a time); a
 * larger base, as state larger than memory has, is applied file by file.
 */
export const REBUILD_BASE_BYTES_MAX = 64 * 2 ** 20;

/** A base's file: its bytes and the root page of its `kv` table. */
export interface BaseFile {
  file: PagedFile;
  kvRoot: number;
  what: string;
}

/**
 * Writes the rows of `base` whose key group is in `range`, with a chain's last records (in
 * key order) merged in, to `out` (a put replaces or adds a row, a tombstone removes one).
 * False, the file left unfinished, when a record is larger than a page holds or spills to
 * an overflow page in the base.
 * @throws {WeirError} `checkpoint_corrupt` for a damaged base; `storage_failed`
 */
export function mergeChain(base: BaseFile, changes: SortedChanges, range: KeyGroupRange, out: KvFileWriter): boolean {
  const { bytes, at: recordAt, keyGroup, stateId, keyLength, count } = changes;
  const { records, recordBytesMax } = out;
  let j = 0;
  let fits = true;
  /** Adds change `i` (a put) as a record; false when it is too large. */
  const put = (i: number): boolean => {
    const at = recordAt[i];
    if (bytes[at] !== 1) return true;
    const kAt = at + CHANGE_KEY_OFFSET;
    const kEnd = kAt + keyLength[i];
    const okLength = recordU32(bytes, kEnd);
    const none = okLength === NO_ORIGINAL_KEY;
    const vAt = recordValueAt(bytes, kEnd);
    const size = records.addFrom(keyGroup[i], stateId[i], bytes, kAt, keyLength[i], bytes, none ? -1 : kEnd + 4, none ? 0 : okLength, bytes, vAt + 4, recordU32(bytes, vAt));
    // Checked before the window is packed, which would refuse it: too large goes file by file.
    if (size > recordBytesMax) return false;
    out.written();
    return true;
  };
  const complete = forEachIndexCell(base.file, base.kvRoot, base.what, (start, end, file) => {
    if (!fits) return;
    // The record: its header's size, the serial types of kg, s and k, then their bodies.
    const headerStart = start + varintAt(file, start);
    const header = readVarint(file, headerStart);
    const types = headerStart + varintAt(file, headerStart);
    const kgType = file[types];
    const sType = file[types + 1];
    const kType = readVarint(file, types + 2);
    if (!isSmallInt(kgType) || !isSmallInt(sType) || kType < 12 || kType % 2 !== 0) {
      throw new WeirError("checkpoint_corrupt", `The SQLite file ${base.what} holds a kv row of serial types ${kgType}, ${sType}, ${kType}`);
    }
    let body = headerStart + header;
    const kg = intAt(file, body, kgType);
    body += intSize(kgType);
    const s = intAt(file, body, sType);
    body += intSize(sType);
    const kLength = (kType - 12) / 2;
    for (; j < count; j++) {
      // The change's key against the row's: key group, state id, then key bytes.
      let c = keyGroup[j] - kg || stateId[j] - s;
      if (c === 0) {
        const n = keyLength[j];
        const kAt = recordAt[j] + CHANGE_KEY_OFFSET;
        const m = n < kLength ? n : kLength;
        let x = 0;
        while (x < m && bytes[kAt + x] === file[body + x]) x++;
        c = x < m ? bytes[kAt + x] - file[body + x] : n - kLength;
      }
      if (c > 0) break;
      if (!put(j)) return void (fits = false);
      if (c === 0) {
        j++;
        return;
      }
    }
    if (kg < range.start || kg > range.end) return;
    if (end - start - varintLength(end - start) > recordBytesMax) return void (fits = false);
    records.addCell(file, start, end);
    out.written();
  });
  if (!complete || !fits) return false;
  for (; j < count; j++) if (!put(j)) return false;
  return true;
}

/**
 * Merges `changes` into `base` (see mergeChain()) and makes the result `store`'s file.
 * Returns false, having changed nothing, when the chain cannot be merged this way.
 * @throws {WeirError} `checkpoint_corrupt`; `storage_failed` when the file cannot be written
 */
export function rebuildChain(store: SqliteStateStore, base: BaseFile, changes: SortedChanges, range: KeyGroupRange): boolean {
  if (filePageSize(base.file.parts[0]) === 0) throw new WeirError("checkpoint_corrupt", `The SQLite file ${base.what} has no database header`);
  const template = kvTemplate(store);
  try {
    const out = new KvFileWriter(store.driver, template.path, template);
    if (!mergeChain(base, changes, range, out)) {
      store.driver.removeFiles(template.path);
      return false;
    }
    out.finish();
    store.forgetWrittenKeys();
    store.adoptFile(template.path);
    return true;
  } catch (e) {
    store.driver.removeFiles(template.path);
    throw e;
  }
}

/**
 * Writes a chain's last records (in key order) into the store's file through SQLite: a put
 * replaces or adds its row, a tombstone deletes one. What a restore does when the changes
 * are few against the base (it adopts the base's file as it is, then this): each upsert
 * lands next to the previous one, where the merge passes over every row of the base.
 * @throws {WeirError} `checkpoint_corrupt` when SQLite cannot apply them, `storage_failed`
 *   when the local disk fails (restoreFailure())
 */
export function upsertChanges(store: SqliteStateStore, changes: SortedChanges, what: string): void {
  const db = store.db;
  store.clearCache();
  store.forgetWrittenKeys();
  // As a restore's other writes: no snapshot reads the file yet, so without the WAL.
  db.exec("PRAGMA main.journal_mode = OFF");
  try {
    inTransaction(db, () => upsertSorted(db, changes), (err) => restoreFailure(`apply the changes of ${what}`, err));
  } finally {
    db.exec("PRAGMA main.journal_mode = WAL");
  }
}

/** An integer serial type of at most 4 bytes, or the constants 0 and 1. */
function isSmallInt(type: number): boolean {
  return (type >= 1 && type <= 4) || type === 8 || type === 9;
}


/** Bytes of the varint at `at`. */
function varintAt(b: Uint8Array, at: number): number {
  let n = 1;
  while (n < 9 && b[at + n - 1] >= 0x80) n++;
  return n;
}

/** The value of the varint at `at` (below 2^53). */
function readVarint(b: Uint8Array, at: number): number {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    const x = b[at + i];
    v = v * 128 + (x & 0x7f);
    if (x < 0x80) break;
  }
  return v;
}

/** Body bytes of an integer of serial type 1–4, 8 or 9. */
function intSize(type: number): number {
  return type >= 8 ? 0 : type;
}

/** The integer of serial type 1–4, 8 or 9 at `at` (big-endian, two's complement). */
function intAt(b: Uint8Array, at: number, type: number): number {
  if (type >= 8) return type - 8;
  let v = b[at] & 0x80 ? -1 : 0;
  for (let i = 0; i < type; i++) v = v * 256 + b[at + i];
  return v;
}
