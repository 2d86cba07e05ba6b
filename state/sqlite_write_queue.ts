/**
 * Where the SQLite backend's write-backs go: inline on the subtask's thread, or to a
 * background writer (platforms/sqlite_writer.ts) while the subtask goes on. A key written
 * back stays readable here, by its encoded value, until its batch commits: the file does
 * not have it before, and the cache gave it up. Flink's RocksDB backend reads a memtable
 * being flushed the same way.
 *
 * What a snapshot needs of it: a changelog already has every batch's records (appended
 * when the batch was made); a base pins the file, which may lack the batches not yet
 * committed, so it takes their values too (capturePending()); a base that is a page image
 * the writer copies after the batches sent (pageImage()) takes only those not yet sent.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { CacheEntry } from "./sqlite_cache_entry.ts";
import type { DirtyCapture } from "./sqlite_capture.ts";
import type { SqliteBackgroundWriter, SqliteDatabase, WriterImage } from "./sqlite_driver.ts";
import { cacheKeyHash } from "./sqlite_key_table.ts";
import { PendingWrites } from "./sqlite_pending_writes.ts";
import { type WriteBatch, applyWriteBatches } from "./sqlite_write_batch.ts";

/** What find() gives for a key whose pending write is a delete. */
export const PENDING_DELETE: unique symbol = Symbol("pending delete");

/**
 * Rows gathered before they go to the background writer as one transaction: large enough
 * that a B-tree page takes several (random keys in a 1 M-row table cost about 15 µs a row
 * in transactions of 2 048 rows, 7 µs in 32 768), small enough to hold in memory.
 */
export const GROUP_ROWS = 16_384;

/**
 * Bytes of records at which a group goes out before it has GROUP_ROWS: the pending keys'
 * values are on the subtask's heap until their group commits (large values, a small heap).
 */
const GROUP_BYTES = 2 * 1024 * 1024;

/** Groups sent and not yet known committed, before the subtask waits for the oldest to commit. */
const MAX_GROUPS_IN_FLIGHT = 3;
/**
 * Groups in flight beyond which each write-back waits up to PACE_MS for the oldest: a
 * writer slower than the subtask holds it back in short waits between records rather than
 * in one wait per group (16 384 rows: 10–70 ms on a 2-core VM, the subtask's longest gaps).
 */
const PACED_GROUPS = 1;
/** The longest a write-back waits for the writer while it is paced, ms. */
const PACE_MS = 2;
/** How long pageImage() with `waitReady` waits for the writer's thread to come up, ms. */
const READY_WAIT_MS = 10_000;

interface Group {
  /** Sequence number once sent. */
  seq: number;
  bytes: number;
  /**
   * The group's batches and keys, kept until it commits: pending reads find their values
   * there (PendingWrites.latest(): an index per group, dropped whole once it commits; one of
   * every pending key, its keys deleted as groups committed, was rehashed every few thousand
   * writes, for 12 ms each on a 2-core VM).
   */
  writes: PendingWrites;
}

/** Committed groups' PendingWrites kept for the next groups (see PendingWrites.reset()). */
const SPARE_WRITES = 2;

/**
 * Write-backs of one store.
 *
 * @example
 * ```ts
 * import { WriteBackQueue } from "./sqlite_write_queue.ts";
 * import { WriteBatch } from "./sqlite_write_batch.ts";
 * import { CacheEntry } from "./sqlite_cache_entry.ts";
 * import { SCHEMA } from "./sqlite_store.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * const db = sqliteDriver.open(":memory:");
 * db.exec(SCHEMA);
 * const q = new WriteBackQueue(db, 8, undefined); // inline: committed on return
 * const b = new WriteBatch();
 * b.put(1, 0, Uint8Array.of(7), null, Uint8Array.of(9));
 * q.write(b, [new CacheEntry(0, 7, 1, undefined, 9, 0)]);
 * console.assert(q.find(0, 7) === undefined && db.prepare("SELECT v FROM kv").get() !== undefined);
 * db.close();
 * ```
 */
export class WriteBackQueue {
  #db: SqliteDatabase;
  readonly #open: (() => SqliteBackgroundWriter) | undefined;
  #writer: SqliteBackgroundWriter | undefined;
  /** Groups sent, oldest first, until known committed. */
  readonly #sent: Group[] = [];
  /** The group being gathered. */
  #gathering: Group;
  /** PendingWrites of committed groups that no capture holds, for the next groups. */
  readonly #spare: PendingWrites[] = [];
  #pendingKeys = 0;
  /** The sequence number of the latest page image asked for (pageImage()). */
  #imageSeq = 0;
  readonly #groupRows: number;
  readonly #keyGroups: number;
  /** SqliteBackendOptions.waitForWriter: nothing here depends on the writer thread's pace. */
  readonly #waitForWriter: boolean;
  /** A writer waited for did not come up: later write-backs are written here without waiting again. */
  #writerLate = false;

  /**
   * Key groups are below `keyGroups`. `open` starts the background writer when the first batch comes, and batches go to it
   * once it is up, gathered into transactions of `groupRows` rows (or 2 MB); without it every batch is applied to `db` before
   * write() returns. With `waitForWriter` (the simulator's), what is pending at a snapshot point never depends on the writer
   * thread's pace: the first batch waits for the writer to come up rather than be applied here, and a capture of every
   * pending key (capturePending()) waits for the groups sent to commit.
   */
  constructor(db: SqliteDatabase, keyGroups: number, open: (() => SqliteBackgroundWriter) | undefined, groupRows = GROUP_ROWS, waitForWriter = false) {
    this.#db = db;
    this.#keyGroups = keyGroups;
    this.#open = open;
    this.#groupRows = groupRows;
    this.#waitForWriter = waitForWriter;
    this.#gathering = this.#newGroup();
  }

  #newGroup(): Group {
    const writes = this.#spare.pop();
    writes?.reset();
    return { seq: 0, bytes: 0, writes: writes ?? new PendingWrites(this.#keep) };
  }

  /** Keeps a committed group's PendingWrites that no capture holds for a later group, two at most. */
  readonly #keep = (writes: PendingWrites): void => {
    if (this.#spare.length < SPARE_WRITES) this.#spare.push(writes);
  };

  /** The store reopened its connection (a restored file). */
  set db(db: SqliteDatabase) {
    this.#db = db;
  }

  /**
   * Starts the background writer if there is one and resolves once it is up (false: there
   * is none, or it did not come up within `timeoutMs`), so that a test knows where the next
   * batches go.
   */
  writerReady(timeoutMs = 10_000): Promise<boolean> {
    if (this.#open === undefined) return Promise.resolve(false);
    return (this.#writer ??= this.#open()).whenReady(timeoutMs);
  }

  /**
   * The background writer's commit count while it is up, idle and has not failed;
   * undefined while batches are written inline (no writer, or not up yet, each committed on
   * return) and while the writer works on a message (a snapshot held across its commit
   * would keep the WAL checkpoint after it from finishing: see SqliteBackgroundWriter.applying()).
   */
  committedSeq(): number | undefined {
    const writer = this.#writer;
    return writer !== undefined && writer.ready() && !writer.applying() && writer.failure() === undefined ? writer.committed() : undefined;
  }

  /** Keys written back and not yet known committed (a key written twice counts twice). */
  get pendingKeys(): number {
    return this.#pendingKeys;
  }

  /**
   * Writes `batch`, whose `i`th record is of `entries[i]`, each key once. Inline it is
   * committed on return; otherwise its keys stay readable by find() until it is.
   * @throws {WeirError} `storage_failed` when this batch (inline) or an earlier one could
   *   not be written: inline nothing of this one is written then; with a background writer
   *   it stays in the group gathered (findable), which goes out with the next send
   */
  write(batch: WriteBatch, entries: readonly CacheEntry[]): void {
    if (this.#open === undefined) return applyWriteBatches(this.#db, [batch.bytes()], this.#keyGroups);
    const writer = (this.#writer ??= this.#open());
    // Not up yet (it starts on the thread's next turns): this one is written here.
    if (!writer.ready() && this.#pendingKeys === 0 && !this.#waitedForWriter(writer)) return applyWriteBatches(this.#db, [batch.bytes()], this.#keyGroups);
    const failed = writer.failure();
    if (failed !== undefined) throw new WeirError("storage_failed", failed);
    const group = this.#gathering;
    const { writes } = group;
    // A batch is made per write-back: its bytes stay as they are.
    const bytes = batch.bytes();
    writes.add(entries, bytes);
    group.bytes += bytes.length;
    this.#pendingKeys += entries.length;
    if (writes.length >= this.#groupRows || group.bytes >= GROUP_BYTES) this.#send(writer);
    else this.#pace(writer);
  }

  /** Groups allowed in flight beyond `limit`: one more while the writer copies a page image (100–400 ms). */
  #inFlight(writer: SqliteBackgroundWriter, limit: number): number {
    return writer.committed() < this.#imageSeq ? limit + 1 : limit;
  }

  /** With more than PACED_GROUPS in flight (one more while an image is copied), waits up to PACE_MS for the oldest to commit. */
  #pace(writer: SqliteBackgroundWriter): void {
    this.#prune();
    const sent = this.#sent;
    if (sent.length > this.#inFlight(writer, PACED_GROUPS) && writer.waitForAtMost(sent[0].seq, PACE_MS)) this.#prune();
  }

  /**
   * With waitForWriter, waits once for a writer not up yet: true when it came up. One that
   * did not within READY_WAIT_MS is not waited for again (each write-back would block).
   */
  #waitedForWriter(writer: SqliteBackgroundWriter): boolean {
    if (!this.#waitForWriter || this.#writerLate) return false;
    if (writer.waitReady(READY_WAIT_MS)) return true;
    this.#writerLate = true;
    return false;
  }

  /** Sends the gathered group; returns its sequence number. */
  #send(writer: SqliteBackgroundWriter): number {
    const group = this.#gathering;
    // Sent first: if send() throws, the group stays the one gathered and its keys findable.
    group.seq = writer.send(group.writes.batches);
    this.#gathering = this.#newGroup();
    this.#sent.push(group);
    const sent = this.#sent;
    const inFlight = this.#inFlight(writer, MAX_GROUPS_IN_FLIGHT);
    if (sent.length > inFlight) writer.waitFor(sent[sent.length - 1 - inFlight].seq);
    this.#prune();
    return group.seq;
  }

  /**
   * The encoded value of a key's pending write, the newest group's, if it may not be in the
   * file yet: PENDING_DELETE for a delete, undefined when none is pending. `hash` is
   * cacheKeyHash(sid, canonical), given when known.
   */
  find(sid: number, canonical: unknown, hash: number = cacheKeyHash(sid, canonical)): Uint8Array | typeof PENDING_DELETE | undefined {
    if (this.#pendingKeys === 0) return undefined;
    this.#prune();
    const { writes } = this.#gathering;
    const p = writes.latest(sid, canonical, hash);
    if (p >= 0) return writes.value(p) ?? PENDING_DELETE;
    const sent = this.#sent;
    for (let i = sent.length - 1; i >= 0; i--) {
      const q = sent[i].writes.latest(sid, canonical, hash);
      if (q >= 0) return sent[i].writes.value(q) ?? PENDING_DELETE;
    }
    return undefined;
  }

  /** Forgets the groups committed. */
  #prune(): void {
    const sent = this.#sent;
    if (sent.length === 0) return;
    const committed = this.#writer!.committed();
    let done = 0;
    for (; done < sent.length && sent[done].seq <= committed; done++) {
      const { writes } = sent[done];
      this.#pendingKeys -= writes.length;
      // Back to #keep now, or when the last capture holding it lets go (a base may read it for seconds).
      writes.drop();
    }
    if (done > 0) sent.splice(0, done);
  }

  /**
   * Blocks until every batch written is committed: the file then has every key written back.
   * @throws {WeirError} `storage_failed` when a batch failed
   */
  drain(): void {
    if (this.#pendingKeys === 0) return;
    // Keys are gathered only once the writer is up.
    const writer = this.#writer!;
    const last = this.#gathering.writes.length > 0 ? this.#send(writer) : this.#sent[this.#sent.length - 1]?.seq;
    if (last !== undefined) writer.waitFor(last);
    this.#prune();
  }

  /**
   * Drains, then closes the background connection: the subtask's own connection may then
   * change the file's journal mode or replace the file.
   * @throws {WeirError} `storage_failed` when a batch failed
   */
  quiesce(): void {
    this.drain();
    this.#writer?.closeConnection();
  }

  /**
   * Gives `capture` every pending key (with `unsentOnly`, those of the group not yet sent),
   * oldest first (the cache's dirty keys come after: newer), as the lists they are in: no
   * pass over them.
   */
  capturePending(capture: DirtyCapture, unsentOnly = false): void {
    if (this.#pendingKeys === 0) return;
    // Which sent groups are committed by now is the writer's pace; none is then.
    if (this.#waitForWriter && !unsentOnly && this.#sent.length > 0) this.#writer!.waitFor(this.#sent[this.#sent.length - 1].seq);
    this.#prune();
    for (const g of unsentOnly ? [this.#gathering] : [...this.#sent, this.#gathering]) capture.takePending(g.writes, g.writes.length);
  }

  /**
   * Asks the background writer for a page image of the file (named `what` in errors, its
   * parts of `partBytes` checksummed; see SqliteBackgroundWriter.pageImage()),
   * holding every group sent so far (not the one being gathered); undefined when no writer
   * is up or the driver cannot copy pages. With `waitReady`, a writer not up yet is waited
   * for (up to 10 s), so that whether a base is an image does not depend on how soon the
   * writer's thread started (SqliteBackendOptions.waitForWriter: the simulator's seeds).
   */
  pageImage(what: string, partBytes?: number, waitReady = false): WriterImage | undefined {
    if (this.#open === undefined || this.#db.serialize === undefined) return undefined;
    const writer = (this.#writer ??= this.#open());
    if (!writer.ready() && !(waitReady && writer.waitReady(READY_WAIT_MS))) return undefined;
    if (writer.failure() !== undefined) return undefined;
    const image = writer.pageImage(what, partBytes);
    this.#imageSeq = image.seq;
    return image;
  }

  /** Ends the background writer; pending keys are dropped with the file. Idempotent. */
  dispose(): void {
    this.#writer?.terminate();
    this.#writer = undefined;
    this.#sent.length = 0;
    this.#gathering = this.#newGroup();
    this.#pendingKeys = 0;
  }
}
