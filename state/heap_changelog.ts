/**
 * Incremental checkpoints of heap state (`state: { incremental: true }`; the idea of Flink
 * 1.15's changelog backend, FLIP-158): a checkpoint writes only the entries written since
 * the previous one and tombstones of deleted keys, as a shared file chained onto a full
 * base; a new base is written now and then (every 8 changelogs, when the changelogs outgrow
 * half the base, after an abort or a restore). A restore reads the base and replays the
 * changelogs in order. The checkpoint coordinator deletes files no checkpoint that may be
 * restored refers to (checkpoint/shared_state.ts, Flink's SharedStateRegistry); file
 * names start with their checkpoint id for it.
 *
 * Format 3 (this one) stores each table as columns, keys and values per key group
 * (heap_encode.ts), a column in a typed form when its items allow (heap_columns.ts: int32
 * or float64 bytes, one text with string ends), which decodes in bulk; format 2 files
 * (columns as arrays only) and format 1 files (pairs) are still read; a newer format is
 * refused. Savepoints never use it: they stay canonical.
 * @module
 */
import { decode } from "../codec/cbor.ts";
import { checksumOf } from "../checkpoint/checksum.ts";
import { assert, WeirError } from "../errors.ts";
import { type BufferReuse, type StorageAdapter, putInParts } from "../storage/adapter.ts";
import type { IncrementalKeyedState, SharedStateRef } from "./backend.ts";
import type { KeyGroupRange } from "./key_group.ts";
import type { KeyedTableSnapshot } from "./keyed_state.ts";
import type { ColumnTable } from "./heap_restore.ts";

/** The heap's own checkpoint format version. */
export const HEAP_FORMAT_VERSION = 3;
const CHANGELOGS_MAX = 8;

/** One shared file's content: canonical tables (changed entries) and tombstones. */
export interface HeapChangelogFile {
  base: boolean;
  /** Columns (formats 2 and 3) or canonical tables (format 1). */
  tables: Record<string, ColumnTable> | Record<string, KeyedTableSnapshot>;
  deleted: Record<string, [keyGroup: number, keys: unknown[]][]>;
}

/** What the next snapshot writes: a base, or a changelog of cells after `changedAfter` extending `previous`. */
export interface ChangelogPlan {
  base: boolean;
  changedAfter: number;
  /** The chain the changelog extends (empty for a base). */
  previous: SharedStateRef[];
}

/**
 * The chain of shared files of one heap backend.
 *
 * @example
 * ```ts
 * import { HeapChangelog } from "./heap_changelog.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const log = new HeapChangelog({ storage: new MemoryStorage(), prefix: "shared/heap/doc", range: { start: 0, end: 7 } });
 * console.assert(log.begin().base);
 * ```
 */
export class HeapChangelog {
  readonly #storage: StorageAdapter;
  readonly #prefix: string;
  readonly #range: KeyGroupRange;
  /** The chain the newest finished snapshot ended, and that snapshot's checkpoint id. */
  #chain: SharedStateRef[] = [];
  #chainId = -1;
  #baseBytes = 0;
  #changedAfter = 0;
  #forceBase = true;
  /** Snapshots begun and neither written nor aborted. */
  #inFlight = 0;
  readonly #settled = new WeakSet<ChangelogPlan>();

  constructor(o: { storage: StorageAdapter; prefix: string; range: KeyGroupRange }) {
    this.#storage = o.storage;
    this.#prefix = o.prefix;
    this.#range = o.range;
  }

  /** Decides what the snapshot starting now writes; a snapshot in flight forces a base. */
  begin(): ChangelogPlan {
    const chainBytes = this.#chain.slice(1).reduce((n, r) => n + r.size, 0);
    const base = this.#forceBase || this.#inFlight > 0 || this.#chain.length === 0 || this.#chain.length > CHANGELOGS_MAX || chainBytes > this.#baseBytes / 2;
    this.#inFlight++;
    return { base, changedAfter: base ? 0 : this.#changedAfter, previous: base ? [] : this.#chain };
  }

  /**
   * Writes the snapshot's file (as parts, with their checksum) and returns the handle of the chain it ends: the chain the
   * plan extended (taken when it began), so that snapshots finishing out of order never
   * put a newer checkpoint's file into an older one's chain. The parts go to `reuse` once
   * stored (putInParts()).
   * @throws {WeirError} `storage_failed` style errors of the storage (the checkpoint declines)
   */
  async finish(checkpointId: number, plan: ChangelogPlan, visitedVersion: number, parts: Uint8Array[], checksum: string, reuse?: BufferReuse): Promise<IncrementalKeyedState> {
    const key = `${this.#prefix}/${checkpointId}-${plan.base ? "base" : "changelog"}`;
    let size = 0;
    for (const p of parts) size += p.length;
    try {
      await putInParts(this.#storage, key, parts, reuse);
    } finally {
      this.#settle(plan);
    }
    const ref: SharedStateRef = { key, size, checksum };
    const chain = [...plan.previous, ref];
    // Only the newest snapshot decides what the next changelog extends and what it holds.
    if (checkpointId > this.#chainId) {
      if (plan.base) this.#baseBytes = size;
      this.#chain = chain;
      this.#chainId = checkpointId;
      this.#changedAfter = visitedVersion;
      if (plan.base) this.#forceBase = false;
    }
    return { format: "incremental", backend: "heap", version: HEAP_FORMAT_VERSION, range: this.#range, shared: chain };
  }

  /** A snapshot was dropped before its file was written: its changes are in no file, so the next one is a base. */
  aborted(plan: ChangelogPlan): void {
    this.#forceBase = true;
    this.#settle(plan);
  }

  /** A snapshot stops being in flight, once. */
  #settle(plan: ChangelogPlan): void {
    if (this.#settled.has(plan)) return;
    this.#settled.add(plan);
    this.#inFlight--;
    assert(this.#inFlight >= 0, () => `Heap changelog of ${this.#prefix} counts ${this.#inFlight} snapshots in flight`);
  }

  /** Restored state is in no file of this backend: the next snapshot is a base. */
  restored(): void {
    this.#forceBase = true;
  }
}

/**
 * Reads the files of heap handles in order and hands each to `apply`.
 * @throws {WeirError} `state_backend_mismatch` for a newer heap format; `checkpoint_corrupt`
 *   for a missing, truncated or changed file
 */
export async function readHeapChain(storage: StorageAdapter, handle: IncrementalKeyedState, apply: (file: HeapChangelogFile, version: number) => void): Promise<void> {
  if (handle.version > HEAP_FORMAT_VERSION) {
    throw new WeirError("state_backend_mismatch", `Keyed state written by the "heap" backend in format version ${handle.version} cannot be restored by this weir's "heap" backend (format version ${HEAP_FORMAT_VERSION})`);
  }
  for (const ref of handle.shared) {
    const bytes = await storage.get(ref.key);
    if (!bytes) throw new WeirError("checkpoint_corrupt", `Shared state file ${ref.key} in ${storage.description} is missing`);
    if (bytes.length !== ref.size) {
      throw new WeirError("checkpoint_corrupt", `Shared state file ${ref.key} in ${storage.description} is not what the checkpoint wrote: ${bytes.length} bytes, the checkpoint wrote ${ref.size}`);
    }
    if (checksumOf(bytes) !== ref.checksum) {
      throw new WeirError("checkpoint_corrupt", `Shared state file ${ref.key} in ${storage.description} is not what the checkpoint wrote: its checksum differs from the one in the checkpoint (${bytes.length} bytes, as written): changed after it was written`);
    }
    apply(decode<HeapChangelogFile>(bytes, `shared state file ${ref.key}`), handle.version);
  }
}
