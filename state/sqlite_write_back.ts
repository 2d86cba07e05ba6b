/**
 * A write-back's records: the dirty keys a SQLite store gives up, encoded once for the
 * working file's batch (sqlite_write_batch.ts), which reads find while the batch is pending
 * (sqlite_write_queue.ts), and for the changelog of the capture epoch (sqlite_changelog.ts).
 * @module
 */
import { encode } from "../codec/cbor.ts";
import { hashKey } from "./key_group.ts";
import type { KeyFilter } from "./sqlite_bloom.ts";
import type { CacheEntry } from "./sqlite_cache_entry.ts";
import type { ChangelogWriter } from "./sqlite_changelog.ts";
import type { RowBytes } from "./sqlite_row_bytes.ts";
import type { StateCodec } from "./sqlite_forms.ts";
import { WriteBatch } from "./sqlite_write_batch.ts";

/** What encoding a write-back needs of its store. */
export interface WriteBackContext {
  bytes: RowBytes;
  codecs: ReadonlyMap<number, StateCodec>;
  /** The changelog of the capture epoch (incremental checkpoints), if kept. */
  log: ChangelogWriter | undefined;
  /**
   * The last epoch a checkpoint's capture ended: an entry changed after it goes to the log
   * (the epochs of materializations between checkpoints are part of the next one's).
   */
  changesFrom: number;
  /** Keys written to the file, if still tracked. */
  written: KeyFilter | undefined;
  /** An encoder's error for a stored value of state `sid`, naming the state (SqliteStateStore.namedError). */
  named?: (sid: number, stored: unknown, err: unknown) => unknown;
}

/**
 * Encodes `entries` (each key once) into a batch, record `i` of `entries[i]`, and appends those
 * changed since the last checkpoint's capture to the log; one changed before was captured by
 * the snapshot that ended its epoch, so its value is in that checkpoint already. A log record of a batch
 * that is then not written does no harm: the key stays dirty, and what is written or
 * captured of it later comes after it in the file.
 * @throws {WeirError} `value_not_persistable` for a value or key that cannot be encoded
 */
export function encodeWriteBack(entries: readonly CacheEntry[], c: WriteBackContext): WriteBatch {
  const { bytes, log, changesFrom } = c;
  const batch = new WriteBatch(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const k = bytes.key(e.canonical);
    const logged = log !== undefined && e.epoch > changesFrom;
    if (e.mem === undefined) {
      batch.remove(e.keyGroup, e.sid, k);
      if (logged) log.remove(e.keyGroup, e.sid, k);
      continue;
    }
    c.written?.add(e.sid, hashKey(e.canonical));
    const ok = e.key === undefined ? null : encode(e.key, "a state key");
    const codec = c.codecs.get(e.sid)!;
    const stored = codec.toStored(e.mem);
    let v: Uint8Array;
    try {
      v = bytes.value(stored);
    } catch (err) {
      throw c.named ? c.named(e.sid, stored, err) : err;
    }
    batch.put(e.keyGroup, e.sid, k, ok, v);
    if (logged) log.put(e.keyGroup, e.sid, k, ok, v);
  }
  return batch;
}
