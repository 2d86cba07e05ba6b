/**
 * The SQLite backend's own checkpoint format (`state: { backend: "sqlite", incremental: true }`):
 * files in the job's storage, as Flink's RocksDB backend uploads SST files. A checkpoint
 * writes either a base (every row: a page image of the working file that the background
 * writer copies, or a SQLite database copied row by row inside SQLite; no value decoded
 * into the JavaScript heap either way) or a changelog (the rows written since the
 * previous checkpoint and the keys deleted since, in sqlite_changelog.ts's format; in
 * format version 1 a SQLite database too), and refers to the base and the changelogs
 * before it as shared files, which a restore downloads and applies in order (the chain's
 * format: sqlite_native_format.ts). A new base is written when the chain grows long, by a
 * materialization between checkpoints (sqlite_materialization.ts, as in Flink 1.15's
 * changelog backend) or by a checkpoint itself when there is none. A base leaves out the
 * rows of TTL states that expired (Flink's cleanup in full snapshot). Files go up in parts
 * (sqlite_part_upload.ts).
 * @module
 */
import type { Scheduler } from "../actors/time.ts";
import { decode, encode } from "../codec/cbor.ts";
import { WeirError, assert } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import type { IncrementalKeyedState, KeyedStateSnapshot } from "./backend.ts";
import type { KeyGroupRange } from "./key_group.ts";
import type { StateKind } from "./keyed_state.ts";
import type { SqliteDriver, WriterImage } from "./sqlite_driver.ts";
import { liveStored } from "./sqlite_forms.ts";
import type { DirtyCapture } from "./sqlite_capture.ts";
import type { CacheEntry } from "./sqlite_cache_entry.ts";
import { PART_BYTES, PartUpload, type UploadFile, inParts } from "./sqlite_part_upload.ts";
import { RowBytes } from "./sqlite_row_bytes.ts";
import { RowCopyBase } from "./sqlite_row_copy.ts";
import { ChangelogWriter } from "./sqlite_changelog.ts";
import type { SqliteStateStore } from "./sqlite_store.ts";
import { type NativeChain, type NativeFile, type NativeLayout, type NativeState, SQLITE_NATIVE_VERSION } from "./sqlite_native_format.ts";

/**
 * Dirty keys the capture's pass visits per unit of a step's budget (a unit is about a row
 * copied). A quarter: a step's budget grows while the pass meets clean keys (cheap), and at
 * one key a unit the next step could meet 4 096 dirty keys to encode, 20–28 ms on Bun.
 */
const PASS_KEYS_PER_UNIT = 0.25;

/**
 * Captured values written to the changelog per unit of a step's budget. A half: a budget
 * grown on a pass over clean keys reached 16 384 a materialization turn, and at 0.3–0.9 µs
 * a value (1.3–1.7 µs in a checkpoint's steps, out of the caches between records) such
 * turns took 5–15 ms.
 */
const WRITTEN_VALUES_PER_UNIT = 0.5;

/**
 * Bytes of the working file up to which a base is a page image the background writer
 * copies (SqliteBackgroundWriter.pageImage), held whole in memory until uploaded; a
 * larger file, a base of TTL states or one without a background writer copies its rows.
 */
const IMAGE_BYTES_MAX = 64 * 1024 * 1024;

/** Where one snapshot writes and what it extends. */
export interface NativeSnapshotInit {
  store: SqliteStateStore;
  driver: SqliteDriver;
  storage: StorageAdapter;
  /** Storage key prefix of this backend's shared files (no trailing slash). */
  keyPrefix: string;
  checkpointId: number;
  range: KeyGroupRange;
  states: NativeState[];
  /** The chain to extend with a changelog; undefined writes a base. */
  previous: NativeChain | undefined;
  /**
   * The TTL (ms) declared in this run per state id, and the processing time of the snapshot
   * point: a base leaves out rows whose every part expired (Flink's cleanup in full snapshot).
   */
  ttls?: ReadonlyMap<number, number>;
  now?: number;
  /** The job's scheduler, told of the wait for a page image (Scheduler.hold). */
  scheduler?: Scheduler;
  /**
   * A materialization (a base between checkpoints, sqlite_materialization.ts) rather than a
   * checkpoint: its capture leaves what the next checkpoint's changelog takes as it was, it
   * takes no changelog file over, and its parts are named when their upload starts, for
   * the id `fileId()` gives then (`checkpointId` is the materialization's number: it names
   * its local files and tells its parts from another's named for the same id).
   */
  materialization?: { fileId(): number };
  /** Called with the chain once the result was taken; aborted snapshots call `onAbort`. */
  onResult(chain: NativeChain): void;
  onAbort(): void;
}

/**
 * One native snapshot. At construction (the snapshot point) the store's dirty keys are
 * captured (sqlite_capture.ts) and its changelog file of the epoch ending now is taken
 * over; a base asks the background writer for a page image of the working file (or, where
 * it cannot have one, pins the file in a read transaction of a second connection). step()
 * copies a pinned base's rows into its file a slice at a time, appends the captured values
 * to the changelog (the taken-over file, or a base's own after it) a slice at a time, waits
 * (parked) for a page image, then uploads the files in parts. Nothing is written to the working file at the
 * snapshot point, and the capture takes no key there either (its pass is the first steps).
 */
export class SqliteNativeSnapshot implements KeyedStateSnapshot {
  readonly checkpointId: number;
  readonly #init: NativeSnapshotInit;
  readonly #kind: "base" | "changelog";
  readonly #capture: DirtyCapture;
  /** A base copied row by row (no page image): the copy, until every row is in. */
  #rowCopy: RowCopyBase | undefined;
  /**
   * Where the captured values go: a changelog's file, which the write-backs of the epoch
   * ending at the snapshot point filled; a base's own changelog after it (overwriting rows
   * in the base itself, out of key order, cost 4 µs a row against 0.15).
   */
  #log: ChangelogWriter | undefined;
  /** The files to upload, in the chain's order: their sizes once written, and what is uploaded of them. */
  readonly #files: (UploadFile & { kind: NativeFile["kind"]; rows: number })[] = [];
  /** State id → kind, for the TTL of captured values and of a base's rows. */
  readonly #kinds: ReadonlyMap<number, StateKind>;
  /** Keys and values of captured rows, across steps. */
  readonly #rowBytes = new RowBytes();
  #chain: NativeChain | undefined;
  /** A base the background writer writes as a page image of the working file, until taken. */
  #image: WriterImage | undefined;
  /** The image was awaited once (whenDone() resolves only once it is done). */
  #imageAwaited = false;
  #captured = 0;
  #logWritten = false;
  #copied = false;
  /** Made when the upload starts: a materialization's parts are named for an id known only then. */
  #upload: PartUpload | undefined;
  #result: IncrementalKeyedState | undefined;
  #taken = false;
  #released = false;

  constructor(init: NativeSnapshotInit) {
    this.#init = init;
    this.checkpointId = init.checkpointId;
    this.#kind = init.previous ? "changelog" : "base";
    this.#kinds = new Map(init.states.map(([, sid, kind]) => [sid, kind]));
    const { store, driver } = init;
    const base = this.#kind === "base";
    const materializing = init.materialization !== undefined;
    // Named after the working file, so that it carries its owner's tag (sqlite_working_files.ts).
    const path = `${store.path}-${materializing ? "m" : ""}${init.checkpointId}-base.db`;
    if (base) driver.removeFiles(path);
    // A base of TTL states leaves their expired rows out, which only a copy row by row can.
    const imaged = base && (init.ttls?.size ?? 0) === 0 && store.fileBytes() <= IMAGE_BYTES_MAX ? store.captureWithImage(`the page image of snapshot ${init.checkpointId}`, PART_BYTES, materializing) : undefined;
    this.#capture = imaged?.capture ?? store.capture(!base, false, materializing);
    this.#capture.writeTo((e, b, stored) => this.#writeValue(e, b, stored));
    this.#image = imaged?.image;
    // A materialization leaves the epoch's write-backs to the next checkpoint's changelog.
    let log: ChangelogWriter | undefined;
    try {
      if (!materializing) log = store.rotateLog();
    } catch (e) {
      this.#capture.release();
      this.#image?.abandon();
      throw e;
    }
    if (!base) {
      this.#log = log;
      this.#files.push({ path: log!.path, kind: "changelog", rows: 0, parts: 0, size: 0 });
      return;
    }
    // A base's changelog is its captured values alone: the epoch's write-backs are in its image or copy.
    if (log) {
      log.release();
      driver.removeFiles(log.path);
    }
    this.#files.push({ path, kind: "base", rows: 0, parts: 0, size: 0 });
    if (this.#image) return;
    const { ttls, now } = init;
    try {
      this.#rowCopy = new RowCopyBase(driver, store.path, path, ttls && now !== undefined ? { ttls, kinds: this.#kinds, now } : undefined);
    } catch (e) {
      this.#capture.release();
      driver.removeFiles(path);
      throw e;
    }
  }

  /**
   * True while the snapshot waits for its base's page image: nothing the subtask does then
   * changes what the snapshot holds, so records flow (the runtime parks it; on virtual time
   * the clock is held meanwhile, and nothing runs), and while it waits for its parts' puts
   * (sqlite_part_upload.ts), which read only the snapshot's own bytes (SnapshotJob.parkable).
   * A snapshot point that comes meanwhile starts a base (sqlite_native_chain.ts).
   */
  get awaitsStorageOnly(): boolean {
    return (this.#image !== undefined && this.#logWritten && !this.#init.store.waitForWriter) || this.#copied;
  }

  /** Keys its capture's pass has yet to reach (0 once it is over): a newer capture would pass them at once. */
  get passLeft(): number {
    return this.#capture.passed ? 0 : this.#capture.unpassed + 1;
  }

  step(budget: number): boolean | Promise<boolean> {
    if (this.#result) return true;
    assert(!this.#released, () => `Native snapshot ${this.checkpointId} was stepped after its release`);
    if (!this.#copied) {
      try {
        // The capture's pass first: until it is over, every key used is checked against it.
        if (!this.#capture.passed) this.#capture.pass(budget === Infinity ? Infinity : Math.max(16, Math.floor(budget * PASS_KEYS_PER_UNIT)));
        else if (this.#rowCopy) this.#copyRows(budget);
        else if (!this.#logWritten) this.#writeCaptured(budget);
        else {
          const waiting = this.#takeImage();
          if (waiting) return waiting;
        }
        // A value the pass could not write fails the snapshot (perhaps a pass finished by the next capture).
        if (this.#capture.failure !== undefined) throw this.#capture.failure;
      } catch (e) {
        // A full disk (or any SQLite failure) fails this checkpoint, not the working file.
        this.#rowCopy?.close();
        // A bug (not I/O) fails the operator: as storage_failed it would only decline checkpoints.
        if (e instanceof WeirError || e instanceof TypeError || e instanceof ReferenceError) throw e;
        throw new WeirError("storage_failed", `Cannot write snapshot ${this.checkpointId} of ${this.#init.store.path}: ${(e as Error).message}`, { cause: e });
      }
      return this.#copied && this.#finishUploaded();
    }
    if (this.#finishUploaded()) return true;
    const put = this.#uploader().step(budget);
    return put === undefined ? false : put.then(() => this.#finishUploaded());
  }

  /** The upload of the files, begun on first use (once every file is written). */
  #uploader(): PartUpload {
    if (this.#upload) return this.#upload;
    const init = this.#init;
    const m = init.materialization;
    // A materialization's `checkpointId` is its number (SqliteKeyedStateBackend counts them).
    this.#upload = new PartUpload(m ? { ...init, checkpointId: m.fileId(), materialized: init.checkpointId } : init, this.#files);
    return this.#upload;
  }

  /** Finishes the snapshot once every part is in storage; true then. */
  #finishUploaded(): boolean {
    if (!this.#uploader().done) return false;
    this.#finish();
    return true;
  }

  /** A base copied row by row: about `budget` rows more. */
  #copyRows(budget: number): void {
    const copy = this.#rowCopy!;
    const done = copy.step(budget);
    const base = this.#files[0];
    base.rows = copy.rows;
    if (!done) return;
    // Every row is copied: the pin on the working file ended; captured values follow.
    this.#rowCopy = undefined;
    base.size = this.#init.driver.fileSize(base.path);
  }

  /** The changelog the captured values go to; a base's is made when first needed. */
  #changelog(): ChangelogWriter {
    if (this.#log) return this.#log;
    // A base's captured values: a changelog after it, even when there are none, so a
    // base is always two files (a restore need not tell the cases apart).
    this.#log = new ChangelogWriter(this.#init.driver, `${this.#files[0].path}.log`, false, this.#init.store.changelogMemoryBytes);
    this.#files.push({ path: this.#log.path, kind: "changelog", rows: 0, parts: 0, size: 0 });
    return this.#log;
  }

  /**
   * Appends a captured key's value (`b` encoded, or `stored`; neither: deleted) to the
   * changelog; a deleted key, or one whose TTL expired, as a tombstone.
   */
  #writeValue(e: CacheEntry, b: Uint8Array | undefined, stored: unknown): void {
    const log = this.#changelog();
    let live = b !== undefined || stored !== undefined;
    const { ttls, now } = this.#init;
    const ttl = ttls?.get(e.sid);
    if (live && this.#kind === "base" && ttl !== undefined && now !== undefined) {
      live = liveStored(this.#kinds.get(e.sid)!, b ? decode(b, "a captured keyed state value") : stored, ttl, now) !== undefined;
    }
    // The log copies what it is given at once: one buffer serves every key.
    const bytes = this.#rowBytes;
    bytes.reuse();
    const ok = live && e.key !== undefined ? encode(e.key, "a state key") : null;
    if (!live) log.remove(e.keyGroup, e.sid, bytes.key(e.canonical));
    else if (b) log.put(e.keyGroup, e.sid, bytes.key(e.canonical), ok, b);
    else {
      try {
        log.putValue(e.keyGroup, e.sid, e.canonical, ok, stored);
      } catch (err) {
        throw this.#init.store.namedError(e.sid, stored, err);
      }
    }
  }

  /**
   * Appends about `budget` × WRITTEN_VALUES_PER_UNIT of the captured values the pass did
   * not write (keys taken before it reached them) to the changelog, letting go of their
   * keys; after the last, closes it.
   */
  #writeCaptured(budget: number): void {
    const capture = this.#capture;
    const log = this.#changelog();
    const end = Math.min(capture.size, this.#captured + Math.max(64, Math.floor(budget * WRITTEN_VALUES_PER_UNIT)));
    for (let i = this.#captured; i < end; i++) {
      const { entry, bytes, stored } = capture.value(i);
      this.#writeValue(entry, bytes, stored);
    }
    capture.letGoBefore(end);
    this.#captured = end;
    if (end < capture.size) return;
    capture.release();
    log.finish();
    const file = this.#files[this.#files.length - 1];
    file.rows = log.records;
    file.partBytes = log.chunks;
    file.size = file.partBytes?.reduce((n, c) => n + c.length, 0) ?? this.#init.driver.fileSize(file.path);
    this.#logWritten = true;
    this.#copied = this.#image === undefined;
  }

  /**
   * A base's page image, once the background writer copied it (100–400 ms for 28 MB on a
   * 2-core VM, longer than the pass and the captured values take). Until then a promise of
   * it, which parks the snapshot (awaitsStorageOnly) while records flow, unless the store
   * waits for its writer (SqliteBackendOptions.waitForWriter). A scheduler that holds its
   * clock for real work (virtual time, Scheduler.hold) is always handed the wait, written
   * or not, so that its events do not depend on the writer thread's pace.
   */
  #takeImage(): Promise<boolean> | undefined {
    const image = this.#image!;
    const scheduler = this.#init.scheduler;
    if (!this.#imageAwaited && !this.#init.store.waitForWriter && (scheduler?.hold !== undefined || !image.done())) {
      // Awaited, not stepped: stepping the snapshot until then kept an idle subtask's
      // thread busy, on a core the writer needs.
      this.#imageAwaited = true;
      const written = image.whenDone();
      scheduler?.hold?.(written);
      return written.then(() => false);
    }
    const base = this.#files[0];
    this.#image = undefined;
    const { bytes, rows, partChecksums } = image.take();
    base.rows = rows;
    base.partBytes = inParts(bytes);
    base.partChecksums = partChecksums;
    base.size = bytes.length;
    this.#copied = true;
  }

  #finish(): void {
    this.#removeFiles();
    const prev = this.#init.previous;
    const files = this.#files.map(({ kind, parts, rows }): NativeFile => ({ kind, parts, rows }));
    const chain: NativeChain = { files: [...(prev?.files ?? []), ...files], shared: [...(prev?.shared ?? []), ...this.#uploader().refs] };
    const layout: NativeLayout = { states: this.#init.states, files: chain.files };
    this.#result = { format: "incremental", backend: "sqlite", version: SQLITE_NATIVE_VERSION, range: this.#init.range, shared: chain.shared, inline: encode(layout, "the SQLite state layout") };
    this.#chain = chain;
  }

  #removeFiles(): void {
    for (const f of this.#files) {
      // Parts in memory have no file; their bytes are the storage's now, or nobody's.
      if (f.partBytes) f.partBytes = f.partChecksums = undefined;
      else this.#init.driver.removeFiles(f.path);
    }
    // Nor does the changelog keep them alive while this snapshot is referenced, or count them.
    this.#log?.release();
    this.#log = undefined;
  }

  result(): IncrementalKeyedState {
    assert(this.#result && !this.#released, () => `Native snapshot ${this.checkpointId} was asked for its result before it finished`);
    if (!this.#taken) {
      this.#taken = true;
      this.#init.onResult(this.#chain!);
    }
    return this.#result;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#rowCopy?.close();
    this.#capture.release();
    // Not finished: the writer removes its file, so a release never waits for it.
    this.#image?.abandon();
    this.#image = undefined;
    this.#removeFiles();
    if (!this.#taken) {
      this.#init.onAbort();
      // Parts of an aborted snapshot are referenced by nothing.
      this.#upload?.deleteParts();
    }
  }
}
