/**
 * Incremental checkpoints of heap state (`state: { incremental: true }`; the idea of Flink
 * 1.15's changelog backend, FLIP-158): a checkpoint writes only the entries written since
 * the previous one and tombstones of deleted keys, as a shared file chained onto a full
 * base. A restore reads the base and replays the changelogs in order.
 *
 * A new base comes from a materialization in the background (Flink's periodic
 * materialization, `state.backend.changelog.periodic-materialize.interval`): once a chain
 * has 8 changelogs or its changelogs outgrow half its base, the backend snapshots its whole
 * state at a point between checkpoints and writes it as a base, and the checkpoints after
 * that point chain their changelogs onto it, so that no checkpoint writes the whole state
 * for it. A base whose point no changelog overlaps needs none of the older files, which the
 * coordinator then deletes. A checkpoint still writes a base itself when there is no chain
 * to extend: its first, after an abort, a restore or a snapshot in flight, or a chain 4
 * times too long because materializations keep failing (or when the backend has no
 * scheduler to run them).
 *
 * The checkpoint coordinator deletes files no checkpoint that may be restored refers to
 * (checkpoint/shared_state.ts, Flink's SharedStateRegistry); file names start with a
 * checkpoint id for it: a checkpoint's own, or for a materialized base the id after the
 * next checkpoint when its write starts (its visit and encoding may span several
 * checkpoints). The coordinator deletes a file named for id K only after a checkpoint above
 * K completed without referring to it, so a base is taken into the chain only when at most
 * the checkpoint before K began while it was written: every checkpoint that begins after
 * refers to it.
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
import { SHARED_FILE_IDS_AHEAD } from "../checkpoint/shared_state.ts";
import { assert, WeirError } from "../errors.ts";
import { type BufferReuse, type StorageAdapter, putInParts } from "../storage/adapter.ts";
import type { IncrementalKeyedState, SharedStateRef } from "./backend.ts";
import type { KeyGroupRange } from "./key_group.ts";
import type { KeyedTableSnapshot } from "./keyed_state.ts";
import type { ColumnTable } from "./heap_restore.ts";

/** The heap's own checkpoint format version. */
export const HEAP_FORMAT_VERSION = 3;
const CHANGELOGS_MAX = 8;
/** A chain this many times CHANGELOGS_MAX long gets a base from a checkpoint (materializations failed). */
const OVERDUE_FACTOR = 4;
/**
 * Materializations whose write failed (or that a restore stopped) in a row, after which a
 * checkpoint writes the base: storage that refuses large files would fail every one.
 */
const MATERIALIZATIONS_LOST_MAX = 2;

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
  /** A materialization's plan: its base's file is named when it is written. */
  materialization?: true;
  /** Checkpoint plans in the order they began (a materialization's is 0). */
  seq: number;
}

/** A file of the chain, with the version its snapshot visited. */
interface Link {
  ref: SharedStateRef;
  version: number;
}

/**
 * The chain of shared files of one heap backend.
 *
 * @example
 * ```ts
 * import { HeapChangelog } from "./heap_changelog.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const log = new HeapChangelog({ storage: new MemoryStorage(), prefix: "shared/heap/doc", range: { start: 0, end: 7 } });
 * console.assert(log.begin(1).base);
 * ```
 */
export class HeapChangelog {
  readonly #storage: StorageAdapter;
  readonly #prefix: string;
  readonly #range: KeyGroupRange;
  /** The chain the newest finished snapshot ended (rebased onto a newer materialized base), and that snapshot's checkpoint id. */
  #chain: Link[] = [];
  #chainId = -1;
  /** The newest checkpoint a snapshot began for. */
  #newestBegun = 0;
  /** The materialization being written (one at a time). */
  #materializing: ChangelogPlan | undefined;
  /** The last checkpoint plan begun, and the newest one aborted (its dirty lists went with it). */
  #seq = 0;
  #abortedSeq = 0;
  /** Whether the backend runs materializations (it has a scheduler): else bases come from checkpoints. */
  readonly #materializes: boolean;
  #closed = false;
  /** Materializations whose write began: each file's number. */
  #materializations = 0;
  /** Materializations in a row that wrote no base (reset by any base). */
  #materializationsLost = 0;
  /** A materialized base taken into the chain that no checkpoint has extended yet. */
  #unextended: string | undefined;
  #baseBytes = 0;
  #changedAfter = 0;
  #forceBase = true;
  /** Snapshots begun and neither written nor aborted. */
  #inFlight = 0;
  readonly #settled = new WeakSet<ChangelogPlan>();

  constructor(o: { storage: StorageAdapter; prefix: string; range: KeyGroupRange; materializes?: boolean }) {
    this.#materializes = o.materializes ?? false;
    this.#storage = o.storage;
    this.#prefix = o.prefix;
    this.#range = o.range;
  }

  /**
   * Decides what the snapshot of checkpoint `checkpointId` starting now writes; a snapshot
   * in flight forces a base. `mostChanged`, asked only when nothing else decides: the
   * backend saw half its keys or more written since the previous snapshot, so a base costs
   * no more than the changelog would.
   */
  begin(checkpointId: number, mostChanged: () => boolean = () => false): ChangelogPlan {
    this.began(checkpointId);
    const forced = this.#forceBase || this.#inFlight > 0 || this.#chain.length === 0;
    const long = this.#materializes
      ? this.#overdue() || this.#materializationsLost >= MATERIALIZATIONS_LOST_MAX
      : this.#baseDue();
    const base = forced || long || (this.#materializes && mostChanged());
    this.#inFlight++;
    if (!base) this.#unextended = undefined;
    return { base, changedAfter: base ? 0 : this.#changedAfter, previous: base ? [] : this.#chain.map((l) => l.ref), seq: ++this.#seq };
  }

  /**
   * A snapshot began for `checkpointId` (a savepoint's too, which writes no changelog): a
   * base being materialized is named for an id above it.
   */
  began(checkpointId: number): void {
    this.#newestBegun = Math.max(this.#newestBegun, checkpointId);
  }

  /**
   * The backend is closed: a materialization that lands later deletes its file, and so
   * does a materialized base no checkpoint extended (the job's last sweep spares files
   * named for ids it did not reach).
   */
  close(): void {
    this.#closed = true;
    this.#dropUnextended();
  }

  /** Deletes the materialized base no checkpoint extended, which none ever will. */
  #dropUnextended(): void {
    const key = this.#unextended;
    this.#unextended = undefined;
    if (key !== undefined) this.#storage.delete(key).catch(() => {});
  }

  /** The chain has 8 changelogs, or they add up to over half its base. */
  #baseDue(): boolean {
    return this.#chain.length > CHANGELOGS_MAX || this.#changelogBytes() > this.#baseBytes / 2;
  }

  /** The chain is OVERDUE_FACTOR times as long, or its changelogs as large, as a materialization lets it get. */
  #overdue(): boolean {
    return this.#chain.length > CHANGELOGS_MAX * OVERDUE_FACTOR || this.#changelogBytes() > this.#baseBytes * OVERDUE_FACTOR;
  }

  #changelogBytes(): number {
    let bytes = 0;
    for (let i = 1; i < this.#chain.length; i++) bytes += this.#chain[i].ref.size;
    return bytes;
  }

  /**
   * The plan of a materialization to begin now, or undefined when none is due: none is
   * running, no snapshot is in flight (so every changelog begun later visits after its
   * point), the chain is long enough, and the next snapshot would not be a base anyway.
   */
  beginMaterialization(): ChangelogPlan | undefined {
    if (!this.#materializes || this.#materializing || this.#inFlight > 0 || this.#forceBase || this.#chain.length === 0 || !this.#baseDue()) return undefined;
    const plan: ChangelogPlan = { base: true, changedAfter: 0, previous: [], materialization: true, seq: 0 };
    this.#materializing = plan;
    return plan;
  }

  /**
   * Writes the snapshot's file (as parts, with their checksum) and returns the handle of the chain it ends: the chain the
   * plan extended (taken when it began), so that snapshots finishing out of order never
   * put a newer checkpoint's file into an older one's chain. The parts go to `reuse` once
   * stored (putInParts()).
   * @throws {WeirError} `storage_failed` style errors of the storage (the checkpoint declines)
   */
  async finish(checkpointId: number, plan: ChangelogPlan, visitedVersion: number, parts: Uint8Array[], checksum: string, reuse?: BufferReuse): Promise<IncrementalKeyedState> {
    if (plan.materialization) throw new WeirError("invariant_broken", `Heap changelog of ${this.#prefix}: a materialization was finished as checkpoint ${checkpointId}`);
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
      if (plan.base) {
        this.#baseBytes = size;
        this.#materializationsLost = 0;
        this.#dropUnextended();
      }
      const previous = plan.base ? [] : this.#linksOf(plan.previous);
      this.#chain = [...previous, { ref, version: visitedVersion }];
      this.#chainId = checkpointId;
      this.#changedAfter = visitedVersion;
      // A base begun before a plan that was aborted misses the changes that plan's dirty
      // lists took with them: the next snapshot is still a base.
      if (plan.base && plan.seq > this.#abortedSeq) this.#forceBase = false;
    }
    return { format: "incremental", backend: "heap", version: HEAP_FORMAT_VERSION, range: this.#range, shared: chain };
  }

  /**
   * The links of a chain a plan took (`refs`), onto the base materialized since: a plan
   * begun before a base was taken in extends the older chain, which its own checkpoint
   * refers to, while the next changelog extends the newer base.
   */
  #linksOf(refs: SharedStateRef[]): Link[] {
    const byKey = new Map(this.#chain.map((l) => [l.ref.key, l]));
    const base = this.#chain[0];
    if (base && base.ref.materialized && refs[0]?.key !== base.ref.key) {
      // Every link of the older chain visited before the base's point (none was in flight then).
      return this.#chain.filter((l) => l === base || l.version > base.version);
    }
    return refs.map((r) => byKey.get(r.key) ?? { ref: r, version: 0 });
  }

  /**
   * Writes a materialization's base and, when no checkpoint that began meanwhile could let
   * the coordinator delete it, takes it into the chain: the next changelog extends it. Else
   * the file is deleted and a later materialization tries again.
   * @returns whether the base was taken in
   * @throws what the storage threw (the materialization is over, the chain as it was)
   */
  async finishMaterialization(plan: ChangelogPlan, visitedVersion: number, parts: Uint8Array[], checksum: string, reuse?: BufferReuse): Promise<boolean> {
    assert(plan.materialization === true, () => `Heap changelog of ${this.#prefix}: a checkpoint's plan was finished as a materialization`);
    const id = this.#newestBegun + SHARED_FILE_IDS_AHEAD;
    // Not "-base": checkpoint `id` may write a base of its own (after an abort). Numbered:
    // two materializations with no checkpoint begun between them share an id, and the
    // second, if released, deletes its file, which must not be the first one's.
    const key = `${this.#prefix}/${id}-${++this.#materializations}-materialized`;
    let size = 0;
    for (const p of parts) size += p.length;
    try {
      await putInParts(this.#storage, key, parts, reuse);
    } catch (e) {
      this.#materializationLost(plan);
      throw e;
    }
    // Released meanwhile (a restore, the backend closed): it counts as lost already.
    if (this.#materializing !== plan) {
      await this.#storage.delete(key).catch(() => {});
      return false;
    }
    this.#materializing = undefined;
    const base = this.#chain[0];
    // A checkpoint above `id` that began before now may complete without referring to it.
    const safe = !this.#closed && this.#newestBegun <= id && !this.#forceBase && base !== undefined && base.version < visitedVersion;
    if (!safe) {
      await this.#storage.delete(key).catch(() => {});
      return false;
    }
    const ref: SharedStateRef = { key, size, checksum, materialized: true };
    this.#chain = [{ ref, version: visitedVersion }, ...this.#chain.filter((l) => l.version > visitedVersion)];
    this.#baseBytes = size;
    this.#unextended = key;
    this.#materializationsLost = 0;
    return true;
  }

  /** A materialization wrote no base: dropped before its base was written, or its write failed. */
  #materializationLost(plan: ChangelogPlan): void {
    if (this.#materializing !== plan) return;
    this.#materializing = undefined;
    this.#materializationsLost++;
  }

  /** A snapshot was dropped before its file was written: its changes are in no file, so the next one is a base. */
  aborted(plan: ChangelogPlan): void {
    if (plan.materialization) {
      this.#materializationLost(plan);
      return;
    }
    this.#forceBase = true;
    this.#abortedSeq = Math.max(this.#abortedSeq, plan.seq);
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
