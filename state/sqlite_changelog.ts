/**
 * The SQLite backend's changelog files (format version 2 of sqlite_native.ts): the rows
 * written back to the working file during one capture epoch, then the values captured at
 * its snapshot point, appended as they come, each a put or a tombstone; applied in order,
 * the last record of a key wins. An append costs a copy of the row's bytes, where a second
 * B-tree insert per row (version 1's changelog was a SQLite file) cost as much again as
 * writing the row back, which with every key changing made checkpoints every second cost
 * 40 % of the job's throughput. Flink's changelog state backend (FLIP-158) logs state
 * changes the same way, beside materialized bases.
 *
 * A record: tag (1 byte: 1 put, 0 tombstone), key group (u32), state id (u32), key length
 * (u32) and key bytes; a put adds original key length (u32; 0xFFFFFFFF: none) and bytes,
 * value length (u32) and bytes. Numbers are little-endian.
 * @module
 */
import { WeirError } from "../errors.ts";
import { BulkRowWriter } from "./sqlite_bulk.ts";
import { RowBytes, keyRoom, valueRoom, writeKey, writeValue } from "./sqlite_row_bytes.ts";
import type { SqliteDatabase, SqliteDriver } from "./sqlite_driver.ts";
import type { KeyGroupRange } from "./key_group.ts";

/** Bytes buffered before they are appended to the file. */
const CHUNK_BYTES = 256 * 1024;
/** A chunk kept in memory: a part of its upload (sqlite_part_upload.ts's PART_BYTES). */
const KEPT_CHUNK_BYTES = 2 ** 20;
/**
 * Bytes of a capture epoch's changelog kept in memory before it goes to its file (see
 * ChangelogWriter): an epoch of a second with every record missing a 100 K-key cache wrote
 * about 7 MB at 180 K records/s; longer epochs outgrow it and use the file as before.
 */
export const CHANGELOG_MEMORY_BYTES = 16 * 2 ** 20;

/**
 * Bytes of changelogs kept in memory by every writer of this thread together, and the most
 * they may be (64 MiB): a process running many subtasks of sqlite state, each with long
 * epochs, keeps its memory bounded as that backend promises; past it, chunks go to files. A
 * writer's bytes come back when its chunks are released (ChangelogWriter.release()). Tests
 * may lower `max`.
 */
export const changelogMemory = { kept: 0, max: 64 * 2 ** 20 };
/** A record's key starts this far into it: tag, key group, state id, key length. */
export const RECORD_KEY_OFFSET = 13;
/** The original-key length of a record whose key is its own (no original key). */
export const NO_ORIGINAL_KEY = 0xffffffff;

/** Bytes one record takes: a put of `v`, or a tombstone when `v` is null. */
export function recordBytes(k: Uint8Array, ok: Uint8Array | null, v: Uint8Array | null): number {
  return v === null ? RECORD_KEY_OFFSET + k.length : RECORD_KEY_OFFSET + 8 + k.length + (ok?.length ?? 0) + v.length;
}

/**
 * Writes one record (a put of `v`, or a tombstone when `v` is null) into `buf` at `at`;
 * returns where it ends. The caller makes room for recordBytes().
 */
export function writeRecord(buf: Uint8Array, view: DataView, at: number, kg: number, s: number, k: Uint8Array, ok: Uint8Array | null, v: Uint8Array | null): number {
  at = writeBytes(buf, view, writeRecordHead(buf, view, at, v !== null, kg, s), k);
  if (v === null) return at;
  return writeBytes(buf, view, writeBytes(buf, view, at, ok), v);
}

/** Writes a record's tag (`put` or tombstone), key group and state id at `at`; returns where its key length goes. */
function writeRecordHead(buf: Uint8Array, view: DataView, at: number, put: boolean, kg: number, s: number): number {
  buf[at] = put ? 1 : 0;
  view.setUint32(at + 1, kg, true);
  view.setUint32(at + 5, s, true);
  return at + 9;
}

function writeBytes(buf: Uint8Array, view: DataView, at: number, b: Uint8Array | null): number {
  view.setUint32(at, b === null ? NO_ORIGINAL_KEY : b.length, true);
  if (b === null) return at + 4;
  buf.set(b, at + 4);
  return at + 4 + b.length;
}

/** The little-endian u32 at `at` of a record's bytes (a length; NO_ORIGINAL_KEY: none). */
export function recordU32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/**
 * Where the value's length field of a put record lies, given the end of its key `kEnd`
 * (the value's bytes follow that field): past the original key's length field and bytes.
 */
export function recordValueAt(b: Uint8Array, kEnd: number): number {
  const okLength = recordU32(b, kEnd);
  return okLength === NO_ORIGINAL_KEY ? kEnd + 4 : kEnd + 4 + okLength;
}

/**
 * Appends records to a changelog file, or keeps them in memory up to a bound.
 *
 * Kept in memory (`memoryBytesMax`), a changelog is chunks of at most 1 MiB, each a part its
 * upload puts as it is: written to the file and read back for the upload, an epoch's
 * changelog cost the subtask's thread a copy in and a copy out (0.25 s of the 1.3 s its
 * checkpoints took in a Bun profile of 5 M records with a checkpoint every second). Past
 * the bound, what was kept goes to the file, and the rest follows it there.
 *
 * @example
 * ```ts
 * import { ChangelogWriter, readChangelog } from "./sqlite_changelog.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * const path = `${sqliteDriver.tempDirectory()}/weir-doc-changelog-${performance.now()}.log`;
 * const w = new ChangelogWriter(sqliteDriver, path);
 * w.put(3, 0, Uint8Array.of(1), null, Uint8Array.of(9));
 * w.remove(4, 0, Uint8Array.of(2));
 * w.finish();
 * const seen: string[] = [];
 * readChangelog(sqliteDriver.readFile(path), path, (kg, s, k, ok, v) => seen.push(`${kg}:${v ? "put" : "gone"}`));
 * console.assert(seen.join() === "3:put,4:gone" && w.records === 2);
 * sqliteDriver.removeFiles(path);
 * ```
 */
export class ChangelogWriter {
  readonly path: string;
  readonly #driver: SqliteDriver;
  #buf = new Uint8Array(CHUNK_BYTES);
  #view = new DataView(this.#buf.buffer);
  #at = 0;
  /** Rows of keys and values putValue() cannot write itself (rare). */
  #slowBytes: RowBytes | undefined;
  /** The chunks kept in memory, and their bytes; undefined once (or unless) the records go to the file. */
  #kept: Uint8Array[] | undefined;
  #keptBytes = 0;
  readonly #memoryBytesMax: number;
  /** Records written so far. */
  records = 0;
  /** Some record is a tombstone. */
  tombstones = false;
  /**
   * Why appending failed (a full disk): later records are dropped, and finish() throws it, so
   * the checkpoint this file was for fails rather than the write-back that appended.
   */
  #failed: WeirError | undefined;

  /**
   * Appends to `path` (created empty unless `append`; a failure shows at finish()), or with
   * `memoryBytesMax` (bytes; not with `append`) keeps up to that many in memory first: the
   * file is then created only when they outgrow it.
   */
  constructor(driver: SqliteDriver, path: string, append = false, memoryBytesMax = 0) {
    this.#driver = driver;
    this.path = path;
    this.#memoryBytesMax = append ? 0 : memoryBytesMax;
    if (this.#memoryBytesMax > 0) {
      this.#kept = [];
      this.#buf = new Uint8Array(KEPT_CHUNK_BYTES);
      this.#view = new DataView(this.#buf.buffer);
      return;
    }
    if (!append) this.#create();
  }

  #create(): void {
    try {
      this.#driver.writeFile(this.path, new Uint8Array(0));
    } catch (e) {
      this.#failed = new WeirError("storage_failed", `Cannot create the changelog file ${this.path}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Once finished, the records as the chunks kept in memory, in order (each at most 1 MiB,
   * records whole); undefined when they are in the file.
   */
  get chunks(): readonly Uint8Array[] | undefined {
    return this.#kept;
  }


  /** A put of `v` at (kg, s, k); `ok` is the original key's encoding, or null. */
  put(kg: number, s: number, k: Uint8Array, ok: Uint8Array | null, v: Uint8Array): void {
    if (this.#failed) return;
    this.#room(recordBytes(k, ok, v));
    this.#at = writeRecord(this.#buf, this.#view, this.#at, kg, s, k, ok, v);
    this.records++;
  }

  /**
   * A put of the key whose canonical form is `canonical` (its bytes: keyBytes()) with the
   * stored value `stored` (its bytes: RowBytes.value()), both written straight into the
   * buffer: a view of each per captured key (every dirty key at every checkpoint) cost
   * the subtask's thread a tenth of the checkpoint's time on Bun.
   * @throws {WeirError} `invalid_key`, `value_not_persistable` as keyBytes() and encode()
   */
  putValue(kg: number, s: number, canonical: unknown, ok: Uint8Array | null, stored: unknown): void {
    if (this.#failed) return;
    const kRoom = keyRoom(canonical);
    const vRoom = valueRoom(stored);
    if (kRoom < 0 || vRoom < 0) return this.#putSlow(kg, s, canonical, ok, stored);
    this.#room(RECORD_KEY_OFFSET + 8 + kRoom + (ok?.length ?? 0) + vRoom);
    const buf = this.#buf;
    const view = this.#view;
    const at = this.#at;
    const kEnd = writeKey(buf, view, at + RECORD_KEY_OFFSET, canonical);
    if (kEnd < 0) return this.#putSlow(kg, s, canonical, ok, stored);
    const vAt = writeBytes(buf, view, kEnd, ok);
    const vEnd = writeValue(buf, view, vAt + 4, stored);
    if (vEnd < 0) return this.#putSlow(kg, s, canonical, ok, stored);
    view.setUint32(writeRecordHead(buf, view, at, true, kg, s), kEnd - at - RECORD_KEY_OFFSET, true);
    view.setUint32(vAt, vEnd - vAt - 4, true);
    this.#at = vEnd;
    this.records++;
  }

  /** putValue() of a key or value that keyBytes() or encode() must write. */
  #putSlow(kg: number, s: number, canonical: unknown, ok: Uint8Array | null, stored: unknown): void {
    const bytes = (this.#slowBytes ??= new RowBytes());
    bytes.reuse();
    this.put(kg, s, bytes.key(canonical), ok, bytes.value(stored));
  }

  /** A tombstone of (kg, s, k). */
  remove(kg: number, s: number, k: Uint8Array): void {
    if (this.#failed) return;
    this.#room(recordBytes(k, null, null));
    this.#at = writeRecord(this.#buf, this.#view, this.#at, kg, s, k, null, null);
    this.records++;
    this.tombstones = true;
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    this.#spill();
    if (n > this.#buf.length) {
      this.#buf = new Uint8Array(n);
      this.#view = new DataView(this.#buf.buffer);
    }
  }

  /** A full (or finished) buffer goes to memory, or to the file once memory is past its bound. */
  #spill(): void {
    if (this.#at === 0) return;
    if (this.#kept !== undefined) {
      if (this.#mayKeep(this.#at)) return this.#keep();
      this.#toFile();
    }
    try {
      this.#driver.writeFile(this.path, this.#buf.subarray(0, this.#at), true);
    } catch (e) {
      this.#failed = new WeirError("storage_failed", `Cannot append to the changelog file ${this.path}: ${(e as Error).message}`, { cause: e });
    }
    this.#at = 0;
  }

  /** The buffer becomes a kept chunk; the next records go to a new one. */
  /** `n` bytes more may stay in memory: within this writer's bound and the thread's. */
  #mayKeep(n: number): boolean {
    return this.#keptBytes + n <= this.#memoryBytesMax && changelogMemory.kept + n <= changelogMemory.max;
  }

  #keep(last = false): void {
    // A last chunk much shorter than its buffer is copied: a storage that keeps what it is
    // handed (MemoryStorage) would keep the whole megabyte alive for it.
    const short = last && this.#at < this.#buf.length >> 1;
    if (this.#at > 0) this.#kept!.push(short ? this.#buf.slice(0, this.#at) : this.#buf.subarray(0, this.#at));
    this.#keptBytes += this.#at;
    changelogMemory.kept += this.#at;
    this.#at = 0;
    // After the last chunk a record (after finish()) starts a buffer of its own.
    this.#buf = new Uint8Array(last ? 0 : KEPT_CHUNK_BYTES);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Past the bound: the file is created with what was kept, and takes every record from now on. */
  #toFile(): void {
    const kept = this.#kept!;
    this.release();
    this.#kept = undefined;
    this.#create();
    for (const chunk of kept) {
      if (this.#failed) return;
      try {
        this.#driver.writeFile(this.path, chunk, true);
      } catch (e) {
        this.#failed = new WeirError("storage_failed", `Cannot append to the changelog file ${this.path}: ${(e as Error).message}`, { cause: e });
      }
    }
  }

  /** Appends what is buffered (kept in memory: nothing to do); never throws (see finish()). */
  flush(): void {
    if (this.#kept === undefined) this.#spill();
  }

  /**
   * Gives up the chunks kept in memory (they were uploaded, or are not needed): their bytes
   * count no more against the thread's bound. Idempotent; `chunks` is empty after it.
   */
  release(): void {
    if (this.#kept === undefined) return;
    changelogMemory.kept -= this.#keptBytes;
    this.#keptBytes = 0;
    this.#kept = [];
  }

  /**
   * Appends what is buffered: the file (or, kept in memory, chunks) holds every record.
   * @throws {WeirError} `storage_failed` when some append failed
   */
  finish(): void {
    if (this.#kept !== undefined && this.#mayKeep(this.#at)) return this.#keep(true);
    this.#spill();
    if (this.#failed) throw this.#failed;
  }
}

/**
 * Calls `row` for each record of a changelog file's bytes, in order (`v` null: a tombstone).
 * @throws {WeirError} `checkpoint_corrupt` naming `what` when a record is cut short or has an unknown tag
 */
export function readChangelog(bytes: Uint8Array, what: string, row: (kg: number, s: number, k: Uint8Array, ok: Uint8Array | null, v: Uint8Array | null) => void): void {
  scanChangelog(bytes, what, (at, _end, kg, s, kAt, kLength) => {
    const k = bytes.subarray(kAt, kAt + kLength);
    if (bytes[at] === 0) return row(kg, s, k, null, null);
    const okAt = kAt + kLength;
    const vAt = recordValueAt(bytes, okAt);
    const ok = recordU32(bytes, okAt) === NO_ORIGINAL_KEY ? null : bytes.subarray(okAt + 4, vAt);
    row(kg, s, k, ok, bytes.subarray(vAt + 4, vAt + 4 + recordU32(bytes, vAt)));
  });
}

/**
 * Calls `record` with where each record of a changelog file's bytes lies, in order: its
 * bytes [at, end) (at `at` its tag: 1 put, 0 tombstone), key group, state id and key bytes
 * [kAt, kAt + kLength); a put's original key and value follow the key as written (see the
 * module doc). Every length is checked here, so a caller may read them back unchecked.
 *
 * A file read in the parts it was stored in (sqlite_changelog_parts.ts) is scanned a part
 * at a time: from `from` on, and with `partial` a record cut short by the end of `bytes`
 * ends the scan rather than being an error; `offset` is where `bytes` starts in the file,
 * for errors. Returns where the scan stopped: `bytes.length`, or the start of the record
 * cut short.
 * @throws {WeirError} `checkpoint_corrupt` naming `what` when a record is cut short (unless
 *   `partial`) or has an unknown tag
 */
export function scanChangelog(bytes: Uint8Array, what: string, record: (at: number, end: number, kg: number, s: number, kAt: number, kLength: number) => void, from = 0, partial = false, offset = 0): number {
  const n = bytes.length;
  let at = from;
  const corrupt = (why: string) => new WeirError("checkpoint_corrupt", `The SQLite changelog file ${what} is damaged at byte ${offset + at}: ${why}`);
  /** A record cut short by the end of `bytes`: where the scan stops, or an error. */
  const cutShort = (why: string): number => {
    if (partial) return at;
    throw corrupt(why);
  };
  // Lengths read byte by byte: Bun's DataView reads made this loop 4 times slower.
  const u32 = (i: number) => (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) >>> 0;
  while (at < n) {
    const tag = bytes[at];
    if (tag !== 0 && tag !== 1) throw corrupt(`unknown record tag ${tag}`);
    if (at + RECORD_KEY_OFFSET > n) return cutShort("a record head is cut short");
    const kLength = u32(at + 9);
    let end = at + RECORD_KEY_OFFSET + kLength;
    if (end > n) return cutShort(`${kLength} key bytes announced, ${n - at - RECORD_KEY_OFFSET} left`);
    if (tag === 1) {
      if (end + 4 > n) return cutShort("a length is cut short");
      const okLength = u32(end);
      end += 4;
      if (okLength !== NO_ORIGINAL_KEY) {
        if (end + okLength > n) return cutShort(`${okLength} original key bytes announced, ${n - end} left`);
        end += okLength;
      }
      if (end + 4 > n) return cutShort("a length is cut short");
      const vLength = u32(end);
      end += 4 + vLength;
      if (end > n) return cutShort(`${vLength} value bytes announced, ${n - end + vLength} left`);
    }
    record(at, end, u32(at + 1), u32(at + 5), at + RECORD_KEY_OFFSET, kLength);
    at = end;
  }
  return n;
}

/**
 * Applies a changelog file's records of key groups in `range` to `db`'s kv table, each
 * state id mapped (`sids`: theirs → ours; others skipped), on an open transaction.
 * @throws {WeirError} `checkpoint_corrupt` (see readChangelog)
 */
export function applyChangelog(db: SqliteDatabase, bytes: Uint8Array, what: string, range: KeyGroupRange, sids: ReadonlyMap<number, number>): void {
  const rows = new BulkRowWriter(db);
  const del = db.prepare("DELETE FROM kv WHERE kg = ? AND s = ? AND k = ?");
  readChangelog(bytes, what, (kg, theirs, k, ok, v) => {
    const s = sids.get(theirs);
    if (s === undefined || kg < range.start || kg > range.end) return;
    if (v !== null) return rows.row(kg, s, k, ok, v);
    // Puts buffered before it come first: the log's order decides.
    rows.finish();
    del.run(kg, s, k);
  });
  rows.finish();
}
