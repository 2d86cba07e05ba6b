/**
 * Incremental checkpoints of heap state (`state: { incremental: true }`; the idea of Flink
 * 1.15's changelog backend, FLIP-158): a checkpoint writes only the entries written since
 * the previous one and tombstones of deleted keys, as a shared file chained onto a full
 * base; a new base is written now and then (every 8 changelogs, when the changelogs outgrow
 * half the base, after an abort or a restore). A restore reads the base and replays the
 * changelogs in order. Files are this backend's to delete once no retained checkpoint, no
 * checkpoint in flight and not the chain the next changelog extends refer to (Flink's
 * SharedStateRegistry, kept per backend as the sqlite backend does).
 * @module
 */
import { decode, encode } from "../codec/cbor.ts";
import { checksumOf } from "../checkpoint/checksum.ts";
import { WeirError } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import type { IncrementalKeyedState, SharedStateRef } from "./backend.ts";
import type { KeyGroupRange } from "./key_group.ts";
import type { KeyedTableSnapshot } from "./keyed_state.ts";

/** The heap's own checkpoint format version. */
export const HEAP_FORMAT_VERSION = 1;
const CHANGELOGS_MAX = 8;

/** One shared file's content: canonical tables (changed entries) and tombstones. */
export interface HeapChangelogFile {
  base: boolean;
  tables: Record<string, KeyedTableSnapshot>;
  deleted: Record<string, [keyGroup: number, keys: unknown[]][]>;
}

/** What the next snapshot writes: a base, or a changelog of cells after `changedAfter`. */
export interface ChangelogPlan {
  base: boolean;
  changedAfter: number;
}

/**
 * The chain of shared files of one heap backend.
 *
 * @example
 * ```ts
 * import { HeapChangelog } from "./heap_changelog.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const log = new HeapChangelog({ storage: new MemoryStorage(), prefix: "shared/heap/doc", range: { start: 0, end: 7 }, retained: 1 });
 * console.assert(log.begin().base);
 * ```
 */
export class HeapChangelog {
  readonly #storage: StorageAdapter;
  readonly #prefix: string;
  readonly #range: KeyGroupRange;
  readonly #retained: number;
  #chain: SharedStateRef[] = [];
  #baseBytes = 0;
  #changedAfter = 0;
  #forceBase = true;
  #inFlight = false;
  readonly #pending = new Map<number, SharedStateRef[]>();
  readonly #completed: SharedStateRef[][] = [];
  readonly #own = new Set<string>();

  constructor(o: { storage: StorageAdapter; prefix: string; range: KeyGroupRange; retained: number }) {
    this.#storage = o.storage;
    this.#prefix = o.prefix;
    this.#range = o.range;
    this.#retained = Math.max(1, o.retained);
  }

  /** Decides what the snapshot starting now writes; a snapshot in flight forces a base. */
  begin(): ChangelogPlan {
    const chainBytes = this.#chain.slice(1).reduce((n, r) => n + r.size, 0);
    const base = this.#forceBase || this.#inFlight || this.#chain.length === 0 || this.#chain.length > CHANGELOGS_MAX || chainBytes > this.#baseBytes / 2;
    this.#inFlight = true;
    return { base, changedAfter: base ? 0 : this.#changedAfter };
  }

  /**
   * Writes the snapshot's file and returns the handle of the chain it ends.
   * @throws {WeirError} `storage_failed` style errors of the storage (the checkpoint declines)
   */
  async finish(checkpointId: number, plan: ChangelogPlan, visitedVersion: number, file: HeapChangelogFile): Promise<IncrementalKeyedState> {
    const bytes = encode(file, `the changelog of checkpoint ${checkpointId}`);
    const key = `${this.#prefix}/${checkpointId}-${plan.base ? "base" : "changelog"}`;
    this.#own.add(key);
    await this.#storage.put(key, bytes);
    const ref: SharedStateRef = { key, size: bytes.length, checksum: checksumOf(bytes) };
    const chain = plan.base ? [ref] : [...this.#chain, ref];
    if (plan.base) this.#baseBytes = bytes.length;
    this.#chain = chain;
    this.#changedAfter = visitedVersion;
    this.#forceBase = false;
    this.#inFlight = false;
    this.#pending.set(checkpointId, chain);
    return { format: "incremental", backend: "heap", version: HEAP_FORMAT_VERSION, range: this.#range, shared: chain };
  }

  /** A snapshot was dropped before its file was written: its changes are in no file, so the next one is a base. */
  aborted(): void {
    this.#forceBase = true;
    this.#inFlight = false;
  }

  /** Restored state is in no file of this backend: the next snapshot is a base. */
  restored(): void {
    this.#forceBase = true;
  }

  /** A checkpoint completed: files no retained or pending checkpoint and not the current chain refer to go. */
  completed(checkpointId: number): void {
    const chain = this.#pending.get(checkpointId);
    for (const id of [...this.#pending.keys()]) if (id <= checkpointId) this.#pending.delete(id);
    if (!chain) return;
    this.#completed.push(chain);
    if (this.#completed.length > this.#retained) this.#completed.shift();
    const live = new Set<string>();
    for (const c of [...this.#completed, ...this.#pending.values(), this.#chain]) for (const r of c) live.add(r.key);
    for (const key of [...this.#own]) {
      if (live.has(key)) continue;
      this.#own.delete(key);
      // A file left behind costs space, not correctness.
      void this.#storage.delete(key).catch(() => {});
    }
  }
}

/**
 * Reads the files of heap handles in order and hands each to `apply`.
 * @throws {WeirError} `state_backend_mismatch` for a newer heap format; `checkpoint_corrupt`
 *   for a missing, truncated or changed file
 */
export async function readHeapChain(storage: StorageAdapter, handle: IncrementalKeyedState, apply: (file: HeapChangelogFile) => void): Promise<void> {
  if (handle.version > HEAP_FORMAT_VERSION) {
    throw new WeirError("state_backend_mismatch", `Keyed state written by the "heap" backend in format version ${handle.version} cannot be restored by this weir's "heap" backend (format version ${HEAP_FORMAT_VERSION})`);
  }
  for (const ref of handle.shared) {
    const bytes = await storage.get(ref.key);
    if (!bytes) throw new WeirError("checkpoint_corrupt", `Shared state file ${ref.key} in ${storage.description} is missing`);
    if (bytes.length !== ref.size || checksumOf(bytes) !== ref.checksum) {
      throw new WeirError("checkpoint_corrupt", `Shared state file ${ref.key} in ${storage.description} is not what the checkpoint wrote (${bytes.length} bytes, expected ${ref.size})`);
    }
    apply(decode<HeapChangelogFile>(bytes, `shared state file ${ref.key}`));
  }
}
