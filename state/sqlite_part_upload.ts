/**
 * Uploading a native snapshot's files (sqlite_native.ts) to checkpoint storage in parts,
 * each part its own storage object with its checksum, a step at a time: a part is read in
 * one step, checksummed in slices, and its put begun in a step of its own (reading 4 MiB into
 * fresh memory took 12 ms of the subtask's thread on a 2-core VM, and its checksum as
 * long); up to PUTS_IN_FLIGHT_MAX puts go on meanwhile.
 * @module
 */
import { ChecksumInSlices } from "../checkpoint/checksum.ts";
import { type StorageAdapter, handOver } from "../storage/adapter.ts";
import type { SharedStateRef } from "./backend.ts";
import type { SqliteDriver } from "./sqlite_driver.ts";

/** The largest part of a file put into storage at once: each its own storage object. */
export const PART_BYTES = 2 ** 20;
/**
 * Bytes of a part checksummed per unit of a step's budget (a unit is about a row copied):
 * 256 KiB for 4096, which a process's first checksums, before the JIT compiled the loop,
 * take 1.5–3 ms for (heap_incremental.ts).
 */
const CHECKSUM_BYTES_PER_UNIT = 64;
/**
 * Bytes checksummed per step at least: a small file takes one step whatever its size, so
 * that how many rows were pending in the working file (the background writer's timing)
 * does not change how many steps a snapshot takes (the simulator's traces compare them).
 */
const CHECKSUM_BYTES_MIN = 64 * 1024;

/**
 * A file to upload; `size` is final once the upload starts, `parts` counts the parts put.
 * `partBytes`, when given, are the file's bytes in memory as the parts to put, in order
 * (a page image's views, a changelog's chunks), and `path` is not read; `partChecksums`,
 * when given with them, are their checksums in order, computed where they were made, not
 * here again.
 */
export interface UploadFile {
  path: string;
  kind: string;
  size: number;
  parts: number;
  partBytes?: readonly Uint8Array[];
  partChecksums?: readonly string[];
}

/** `bytes` as views of PART_BYTES each (the last shorter): the parts an upload puts. */
export function inParts(bytes: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += PART_BYTES) parts.push(bytes.subarray(at, at + PART_BYTES));
  return parts;
}

/**
 * Where the parts go: storage keys `${keyPrefix}/${checkpointId}-${kind}-${n}.db`, or for
 * the `materialized`th materialization (a base written between checkpoints; numbered, since
 * two with no checkpoint begun between them share an id)
 * `${checkpointId}-${materialized}-materialized-${kind}-${n}.db`, their refs marked so
 * (SharedStateRef.materialized).
 */
export interface UploadTarget {
  driver: SqliteDriver;
  storage: StorageAdapter;
  keyPrefix: string;
  checkpointId: number;
  materialized?: number;
}

/**
 * Puts of one upload in flight at most: each holds its part (up to PART_BYTES) until stored.
 * Puts go on while the next parts are read and checksummed, and the snapshot parks (records
 * flow) while it waits for them: awaited one at a time, a part cost the subtask 8–15 ms on
 * FileStorage (each of mkdir, open, write, close and rename a turn of the event loop), and
 * an fsync more where it syncs.
 */
export const PUTS_IN_FLIGHT_MAX = 4;

/**
 * The upload of `files`, in order, part by part.
 *
 * @example
 * ```ts
 * import { PartUpload } from "./sqlite_part_upload.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const path = `${sqliteDriver.tempDirectory()}/weir-doc-upload-${performance.now()}`;
 * sqliteDriver.writeFile(path, new Uint8Array(10));
 * const file = { path, kind: "base", size: 10, parts: 0 };
 * const up = new PartUpload({ driver: sqliteDriver, storage: new MemoryStorage(), keyPrefix: "p", checkpointId: 1 }, [file]);
 * while (!up.done) await up.step(Infinity);
 * console.assert(file.parts === 1 && up.refs[0].size === 10);
 * sqliteDriver.removeFiles(path);
 * ```
 */
export class PartUpload {
  /** The parts put or being put, in order; all of them are stored once `done`. */
  readonly refs: SharedStateRef[] = [];
  readonly #to: UploadTarget;
  readonly #files: readonly UploadFile[];
  #file = 0;
  #at = 0;
  /** The part read, being checksummed (its checksum then a string), until its put begins. */
  #part: { bytes: Uint8Array; checksum: ChecksumInSlices | string } | undefined;
  /** Puts begun and not yet settled (they never reject: a failure is kept in #failure). */
  readonly #inFlight = new Set<Promise<void>>();
  #failed = false;
  #failure: unknown;

  constructor(to: UploadTarget, files: readonly UploadFile[]) {
    this.#to = to;
    this.#files = files;
  }

  /** Every part's put began. */
  get #begun(): boolean {
    while (this.#file < this.#files.length && this.#at >= this.#files[this.#file].size) {
      this.#file++;
      this.#at = 0;
    }
    return this.#file === this.#files.length;
  }

  /** Every file is in storage. */
  get done(): boolean {
    return this.#begun && this.#inFlight.size === 0 && !this.#failed;
  }

  /** Resolves once no put is in flight. */
  settled(): Promise<void> {
    return Promise.all(this.#inFlight).then(() => {});
  }

  /**
   * Deletes every part put or being put (an aborted upload's), each once its put settled:
   * a put in flight would put its part back after an earlier delete. Failures are ignored.
   */
  deleteParts(): void {
    const { storage } = this.#to;
    const refs = this.refs;
    void this.settled().then(() => Promise.all(refs.map((ref) => storage.delete(ref.key).catch(() => {}))));
  }

  /**
   * The next step: reads the next part, or checksums about `budget` units of it, or begins
   * its put; undefined then. A promise when it must wait for puts in flight (the most are,
   * or every part's put began), which resolves once one or all of them settled. A failure,
   * even reading the file, is a rejection: it declines the checkpoint, not the subtask.
   */
  step(budget: number): Promise<void> | undefined {
    try {
      if (this.#failed) return Promise.reject(this.#failure);
      if (this.#begun) return this.#inFlight.size > 0 ? this.#afterPuts(this.settled()) : undefined;
      if (this.#inFlight.size >= PUTS_IN_FLIGHT_MAX) return this.#afterPuts(Promise.race(this.#inFlight));
      this.#step(budget);
      return undefined;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** `wait`, then the first put's failure if one failed. */
  #afterPuts(wait: Promise<void>): Promise<void> {
    return wait.then(() => {
      if (this.#failed) throw this.#failure;
    });
  }

  #step(budget: number): void {
    const { driver, storage, keyPrefix, checkpointId, materialized } = this.#to;
    const file = this.#files[this.#file];
    const part = this.#part;
    if (part === undefined) {
      // The next part's index is how many of its file's puts began.
      const bytes = file.partBytes?.[file.parts] ?? driver.readFileRange(file.path, this.#at, PART_BYTES);
      const known = file.partBytes && file.partChecksums?.[file.parts];
      this.#part = { bytes, checksum: known || new ChecksumInSlices(bytes) };
      return;
    }
    if (typeof part.checksum !== "string") {
      if (part.checksum.step(budget === Infinity ? Infinity : Math.max(CHECKSUM_BYTES_MIN, budget * CHECKSUM_BYTES_PER_UNIT))) part.checksum = part.checksum.value;
      return;
    }
    this.#part = undefined;
    const key = `${keyPrefix}/${checkpointId}-${materialized !== undefined ? `${materialized}-materialized-` : ""}${file.kind}-${this.refs.length}.db`;
    // In order whatever order the puts finish in: the chain lists them so.
    this.refs.push({ key, size: part.bytes.length, checksum: part.checksum, ...(materialized !== undefined ? { materialized: true as const } : {}) });
    file.parts++;
    this.#at += part.bytes.length;
    // Read for this put alone, or bytes in memory nothing else writes: the storage may
    // keep the buffer rather than copy it.
    const put: Promise<void> = storage.put(key, handOver(part.bytes)).then(
      () => void this.#inFlight.delete(put),
      (e) => {
        this.#inFlight.delete(put);
        if (!this.#failed) {
          this.#failed = true;
          this.#failure = e;
        }
      },
    );
    this.#inFlight.add(put);
  }
}
