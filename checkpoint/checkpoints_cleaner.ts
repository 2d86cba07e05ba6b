/**
 * What the checkpoint coordinator deletes, and when: completed checkpoints beyond
 * `checkpoint.retained` once a newer one completed, shared files no restorable checkpoint
 * refers to, and the directories of failed checkpoints (with the state files that land
 * after their checkpoint failed). This is the role of Flink's `CheckpointsCleaner` and the
 * subsumption in its `CompletedCheckpointStore` (1.15); the deletes run one after another,
 * off the commit path, and a failed delete only costs space.
 * @module
 */
import { assert } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { METADATA_FILE, checkpointDir } from "./metadata.ts";
import { SharedStateRegistry } from "./shared_state.ts";

/** Failed checkpoints remembered to delete their late state files; older ones are forgotten. */
const FAILED_DIRS_MAX = 64;

/** The job's checkpoint storage and how many completed checkpoints it keeps. */
export interface CheckpointsCleanerInit {
  storage: StorageAdapter;
  jobName: string;
  jobId: string;
  /** Completed checkpoints kept (`checkpoint.retained`, an integer >= 1). */
  retained: number;
  /** A completed checkpoint is being deleted (subsumed beyond `retained`). */
  onDiscarded(checkpointId: number): void;
}

/**
 * Deletes subsumed checkpoints, unreferenced shared files and failed checkpoints' files.
 *
 * @example
 * ```ts
 * import { CheckpointsCleaner } from "./checkpoints_cleaner.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const storage = new MemoryStorage();
 * const cleaner = new CheckpointsCleaner({ storage, jobName: "j", jobId: "id", retained: 1, onDiscarded: () => {} });
 * await storage.put("j/id/chk-1/_metadata", new Uint8Array(1));
 * cleaner.completed(1);
 * cleaner.completed(2);
 * await cleaner.settled();
 * console.assert((await storage.list("j/id/chk-1/")).length === 0);
 * ```
 */
export class CheckpointsCleaner {
  readonly #init: CheckpointsCleanerInit;
  /** The job's shared files, counted across the checkpoints that may be restored. */
  readonly #shared: SharedStateRegistry;
  /** Completed checkpoints in the job's storage, oldest first. */
  #completedIds: number[] = [];
  /**
   * Checkpoints whose metadata landed after they failed, with their location: restorable
   * until a newer checkpoint completed (recovery picks the latest in storage).
   */
  readonly #landedFailed = new Map<number, { storage: StorageAdapter; dir: string }>();
  /** Storage of recently failed checkpoints, to delete state files that land late. */
  readonly #failedDirs = new Map<number, StorageAdapter>();
  /** Discards of subsumed checkpoints and sweeps of shared files, one after another. */
  #queue: Promise<void> = Promise.resolve();

  constructor(init: CheckpointsCleanerInit) {
    this.#init = init;
    this.#shared = new SharedStateRegistry(init.storage, init.jobName, init.jobId);
  }

  /** Resolves once the deletes queued so far are done. Never rejects. */
  settled(): Promise<void> {
    return this.#queue;
  }

  /** Checkpoints a restore brought back (or kept): they count towards `retained`. */
  retain(ids: readonly number[]): void {
    // One a restore brought back is the job's again, whatever its stats said.
    for (const id of ids) this.#landedFailed.delete(id);
    this.#completedIds = [...new Set([...this.#completedIds, ...ids])].sort((a, b) => a - b);
  }

  /**
   * Nothing writes a chain on from ids below `nextId` (a new execution attempt, or the job
   * ended): their shared files that no restorable checkpoint refers to go, and so do the
   * directories of checkpoints below it that have no `_metadata` (a crashed process's
   * half-written ones, or a subsumed one whose deletion a crash cut short). Resolves with
   * the queue; never rejects.
   */
  sweepBelow(nextId: number): Promise<void> {
    return this.#enqueue(async () => {
      await this.#discardUnfinished(nextId);
      await this.#shared.sweep(nextId);
    });
  }

  /** The metadata write of checkpoint `id` is issued: the shared files it names stay. */
  metadataWriteIssued(id: number, sharedKeys: Iterable<string>): void {
    this.#shared.register(id, sharedKeys);
  }

  /** The metadata write of checkpoint `id` failed: it may still have landed. */
  metadataWriteFailed(id: number): void {
    this.#shared.metadataWriteFailed(id);
  }

  /** Checkpoint `id` completed in the job's storage: older ones beyond `retained` go, then unreferenced shared files. */
  completed(id: number): void {
    this.#completedIds.push(id);
    this.#enqueue(async () => {
      await this.#discardLandedFailed(id);
      await this.#discardSubsumed();
      await this.#shared.sweep(id);
    });
  }

  /**
   * Checkpoint `id` failed before its metadata write was issued: its directory goes now,
   * and state files of it that land later go as they are acknowledged.
   */
  failed(id: number, { storage, dir }: { storage: StorageAdapter; dir: string }): void {
    this.#failedDirs.set(id, storage);
    if (this.#failedDirs.size > FAILED_DIRS_MAX) this.#failedDirs.delete(this.#failedDirs.keys().next().value!);
    void storage.deletePrefix(dir ? `${dir}/` : "").catch(() => {});
  }

  /**
   * The metadata write of checkpoint `id` landed after the checkpoint failed (subsumed by a
   * newer one whose write was quicker, expired, or aborted by the job's end): a complete
   * checkpoint its stats call failed. Recovery picks the latest in storage, so a checkpoint
   * goes once a newer one completed (at once if one has), unless a restore brings it back
   * first; when the job ended, or for a savepoint (never picked by recovery), at once.
   */
  landedAfterFailing(id: number, at: { storage: StorageAdapter; dir: string }, o: { savepoint: boolean; jobEnded: boolean }): void {
    if (o.savepoint) return this.failed(id, at);
    assert(!this.#completedIds.includes(id), () => `Checkpoint ${id} landed after it failed, yet it is a completed one`);
    this.#landedFailed.set(id, at);
    const newest = this.#completedIds.at(-1) ?? 0;
    if (o.jobEnded || newest > id) this.#enqueue(() => this.#discardLandedFailed(o.jobEnded ? Infinity : newest));
  }

  /**
   * The job ended: checkpoints whose metadata landed after they failed go, then the files
   * written for ids below `nextId` that nothing refers to (see sweepBelow). Never rejects.
   */
  jobEnded(nextId: number): Promise<void> {
    this.#enqueue(() => this.#discardLandedFailed(Infinity));
    return this.sweepBelow(nextId);
  }

  /**
   * A state file was acknowledged for a checkpoint no longer pending. If that checkpoint
   * failed, the file landed after its directory was deleted: it went where the
   * coordinator's `locate()` pointed, the savepoint's storage or (once failed) the job's.
   */
  lateStateFile(id: number, stateKey: string): void {
    const failed = this.#failedDirs.get(id);
    if (!failed) return;
    for (const storage of new Set([failed, this.#init.storage])) void storage.delete(stateKey).catch(() => {});
  }

  /**
   * Deletes the directories of checkpoints below `nextId` without `_metadata`: no restore
   * ever reads one, and no write of this run goes there (ids continue above every id a
   * crashed run used; a failed attempt's metadata writes settled before the next began).
   */
  async #discardUnfinished(nextId: number): Promise<void> {
    const { storage, jobName, jobId } = this.#init;
    const prefix = `${jobName}/${jobId}/chk-`;
    const seen = new Set<number>();
    const complete = new Set<number>();
    for (const key of await storage.list(prefix)) {
      const m = /^(\d+)\/(.+)$/.exec(key.slice(prefix.length));
      if (!m) continue;
      const id = Number(m[1]);
      if (m[2] === METADATA_FILE) complete.add(id);
      else seen.add(id);
    }
    for (const id of seen) {
      if (id >= nextId || complete.has(id)) continue;
      try {
        await storage.deletePrefix(`${checkpointDir(jobName, jobId, id)}/`);
      } catch {
        // Only costs space; the next sweep tries again.
      }
    }
  }

  #enqueue(work: () => Promise<unknown>): Promise<void> {
    this.#queue = this.#queue.then(work).then(() => {}, () => {});
    return this.#queue;
  }

  /** Deletes the checkpoints below `completedId` whose metadata landed after they failed. */
  async #discardLandedFailed(completedId: number): Promise<void> {
    for (const [id, { storage, dir }] of [...this.#landedFailed]) {
      if (id >= completedId) continue;
      this.#landedFailed.delete(id);
      try {
        await discardDirectory(storage, dir);
        this.#shared.discard(id);
      } catch {
        // Only costs space: a newer checkpoint completed, so recovery never picks it.
      }
    }
  }

  async #discardSubsumed(): Promise<void> {
    const { storage, jobName, jobId, retained } = this.#init;
    while (this.#completedIds.length > retained) {
      const id = this.#completedIds.shift()!;
      this.#init.onDiscarded(id);
      try {
        await discardDirectory(storage, checkpointDir(jobName, jobId, id));
        this.#shared.discard(id);
      } catch {
        // A checkpoint that could not be deleted only costs space; it is never restored over a newer one.
      }
    }
  }
}

/**
 * Deletes a completed checkpoint's directory, its `_metadata` first: a process that dies
 * while the rest is deleted leaves files nothing lists as a checkpoint, never a checkpoint
 * whose state files are gone (which a restore of the latest would pick and fail on).
 */
async function discardDirectory(storage: StorageAdapter, dir: string): Promise<void> {
  await storage.delete(`${dir}/${METADATA_FILE}`);
  await storage.deletePrefix(`${dir}/`);
}
