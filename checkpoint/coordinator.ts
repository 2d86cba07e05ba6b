import type { Barrier, CheckpointType } from "../actors/messages.ts";
import type { Timer } from "../actors/time.ts";
import { WeirError, assert } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import type { SubtaskAck } from "../runtime/subtask_host.ts";
import type { CheckpointConfig } from "./config.ts";
import type { CheckpointFailureReason } from "./failure_reason.ts";
import { WEIR_VERSION } from "../version.ts";
import { type CheckpointMetadata, METADATA_FILE, checkpointDir, encodeMetadata, joinKey } from "./metadata.ts";
import { CheckpointsCleaner } from "./checkpoints_cleaner.ts";
import { SHARED_FILE_IDS_AHEAD } from "./shared_state.ts";
import { CheckpointRequestDecider, MAX_QUEUED_REQUESTS } from "./request_decider.ts";
import { type CheckpointDetails, CheckpointStatsTracker } from "./stats.ts";
import type { CheckpointTarget, CoordinatorInit, Pending, SavepointTarget, TriggerRequest } from "./coordinator_types.ts";

export type { CheckpointTarget, CoordinatorFaults, CoordinatorInit, SavepointTarget } from "./coordinator_types.ts";

/**
 * Triggers checkpoints at the sources, collects acks, commits each checkpoint by
 * writing its metadata atomically, then notifies the subtasks; aborts on timeout,
 * decline or failover. Owns the checkpoint stats.
 */
export class CheckpointCoordinator {
  readonly stats: CheckpointStatsTracker = new CheckpointStatsTracker();
  readonly config: CheckpointConfig;
  #init: CoordinatorInit;
  #target: CheckpointTarget | undefined;
  #nextId: number;
  #pending = new Map<number, Pending>();
  /** Requested checkpoints not started yet, and when the next may start. */
  readonly #requests: CheckpointRequestDecider;
  #periodic: Timer | undefined;
  #consecutiveFailures = 0;
  /** Metadata writes not yet settled; recovery waits for them (see metadataWritesSettled). */
  #metadataWrites = new Set<Promise<void>>();
  #finishing = false;
  /** Every subtask's input ended (drained): the final checkpoint may start. */
  #inputEnded = false;
  #shutDown = false;
  readonly #cleaner: CheckpointsCleaner;
  completedCount = 0;
  failedCount = 0;

  constructor(init: CoordinatorInit) {
    this.#init = init;
    this.config = init.config;
    this.#nextId = init.nextId ?? 1;
    this.#requests = new CheckpointRequestDecider(init.config);
    const { storage, jobName, jobId, config } = init;
    this.#cleaner = new CheckpointsCleaner({ storage, jobName, jobId, retained: config.retained, onDiscarded: (id) => this.stats.discarded(id) });
  }

  /**
   * Resolves once the clean-up queued so far is done: subsumed checkpoints deleted and
   * shared files no restorable checkpoint refers to swept. Never rejects.
   */
  housekeeping(): Promise<void> {
    return this.#cleaner.settled();
  }

  /**
   * The job ended: no execution writes a chain on, so files written for any id used so far
   * that no restorable checkpoint refers to go (an abandoned attempt's upload may have
   * landed after the last sweep). Resolves with the housekeeping; never rejects.
   */
  sweepAtEnd(): Promise<void> {
    // A base materialized between checkpoints is named up to SHARED_FILE_IDS_AHEAD above.
    return this.#cleaner.jobEnded(this.#nextId + SHARED_FILE_IDS_AHEAD);
  }

  /**
   * Checkpoint ids up to `highest` were used (by a crashed process of this run): later ids
   * start above it, and {@link sweepAtEnd} sweeps the files written for them.
   */
  idsUsedUpTo(highest: number): void {
    this.#nextId = Math.max(this.#nextId, highest + 1);
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Resolves once every metadata write issued so far has landed or failed. A write still
   * in flight at a failover may land later; recovery must not pick the latest checkpoint
   * before then, or a late checkpoint of the abandoned attempt would surface after the
   * job restored from an older one, and a second restart would jump to that other
   * history (its sink transactions overlapping ones already committed).
   */
  metadataWritesSettled(): Promise<void> {
    return Promise.allSettled([...this.#metadataWrites]).then(() => {});
  }

  /** Attaches a (re)started execution; checkpoint ids continue where they were. */
  attach(target: CheckpointTarget, restoredId: number, retainedIds: number[], highestUsedId = restoredId): void {
    this.#target = target;
    this.#finishing = false;
    this.#inputEnded = false;
    this.#nextId = Math.max(this.#nextId, restoredId + 1, highestUsedId + 1);
    this.#cleaner.retain(retainedIds);
    // Nothing of an earlier attempt or process writes a chain on: files written for the
    // ids used so far that no restorable checkpoint refers to are garbage now, even if no
    // checkpoint completes before the job ends.
    void this.#cleaner.sweepBelow(this.#nextId);
    this.#schedulePeriodic(this.config.interval);
  }

  /** The execution is gone (failure, cancel): every pending checkpoint is aborted, naming `cause` if given. */
  detach(reason: CheckpointFailureReason, cause?: Error): void {
    const why = `${reason.replaceAll("_", " ")}${cause ? ` (${cause.message})` : ""}`;
    this.#periodic?.cancel();
    this.#periodic = undefined;
    // Detached first: the execution is gone, so nobody is notified and nothing retried.
    this.#target = undefined;
    // A restarted execution finishes anew when its own sources end.
    this.#finishing = false;
    this.#inputEnded = false;
    for (const p of [...this.#pending.values()]) this.#fail(p, reason, `Checkpoint ${p.id} aborted: ${why}`, false);
    // Queued requests fail too; a restarted job asks for its final checkpoint again when its sources finish.
    for (const r of this.#requests.takeAll()) this.#rejectRequest(r, reason, why);
  }

  /** The job ended for good: nothing more is triggered. */
  shutdown(reason: CheckpointFailureReason, cause?: Error): void {
    this.detach(reason, cause);
    this.#shutDown = true;
  }

  #rejectRequest(r: TriggerRequest, reason: CheckpointFailureReason, why: string = reason.replaceAll("_", " ")): void {
    const id = this.#nextId++;
    this.stats.triggered(id, r.type === "SAVEPOINT" ? "SAVEPOINT" : "CHECKPOINT", this.#init.clock.now(), this.#target?.vertices ?? []);
    r.resolve(this.stats.failed(id, this.#init.clock.now(), reason, `Checkpoint ${id} could not be triggered: ${why}`)!);
    this.failedCount++;
  }

  #schedulePeriodic(delay: number): void {
    this.#periodic?.cancel();
    this.#periodic = undefined;
    if (this.config.interval <= 0 || this.#shutDown) return;
    this.#periodic = this.#init.scheduler.after(delay, () => {
      this.#periodic = undefined;
      if (!this.#target || this.#finishing) return;
      const wait = this.#requests.periodicWait(this.#init.clock.now(), this.#pending);
      if (wait > 0) return this.#schedulePeriodic(wait);
      this.#start({ type: "CHECKPOINT", final: false, resolve: () => {} });
      this.#schedulePeriodic(this.config.interval);
    });
  }

  /** Triggers a checkpoint (or savepoint) now, or as soon as maxConcurrent allows; resolves when it completed or failed. */
  trigger(type: CheckpointType = "CHECKPOINT", savepoint?: SavepointTarget, options: { terminate?: boolean } = {}): Promise<CheckpointDetails> {
    return new Promise((resolve) => {
      const r: TriggerRequest = { type, final: false, savepoint, resolve, terminate: options.terminate };
      if (this.#shutDown || !this.#target || this.#finishing) return this.#rejectRequest(r, "declined_task_not_ready");
      if (this.#requests.full && !options.terminate) return this.#rejectRequest(r, "too_many_checkpoint_requests", `${MAX_QUEUED_REQUESTS} requests are queued already`);
      this.#requests.push(r);
      this.#drainQueue();
    });
  }

  /**
   * The job is ending (its sources finished, or a stop with drain): no other checkpoint
   * starts, and the final one runs once every subtask's input ended and nothing else is in
   * flight, so that it waits for no data and its timeout covers the snapshot alone.
   */
  finishing(savepoint?: SavepointTarget): Promise<CheckpointDetails> {
    // Already finishing (a drain was asked for, then the sources ended too): one final checkpoint is enough.
    if (this.#finishing && !savepoint) return new Promise(() => {});
    this.#finishing = true;
    this.#periodic?.cancel();
    for (const r of this.#requests.takeAll()) this.#rejectRequest(r, "declined_task_not_ready");
    return new Promise((resolve) => {
      this.#requests.push({ type: savepoint ? "SAVEPOINT" : "CHECKPOINT", final: true, resolve, savepoint });
      this.#drainQueue();
    });
  }

  /** A final checkpoint or a stop-with-savepoint is running or queued: the job is ending. */
  get ending(): boolean {
    return this.#finishing || this.#requests.endingQueued || [...this.#pending.values()].some((p) => p.final);
  }

  /** The final checkpoint (or stop-with-savepoint) that completed, once one did. */
  completedFinal: CheckpointDetails | undefined;

  /** Every subtask's input ended: the final checkpoint may start. */
  inputEnded(): void {
    this.#inputEnded = true;
    this.#drainQueue();
  }

  /** Starts the queued requests that may start now (CheckpointRequestDecider.next). */
  #drainQueue(): void {
    while (this.#target) {
      const next = this.#requests.next(this.#pending, this.#inputEnded);
      if (next === undefined) return;
      this.#start(next);
    }
  }

  #start(r: TriggerRequest): void {
    const target = this.#target!;
    const id = this.#nextId++;
    const now = this.#init.clock.now();
    const c = this.config;
    const isSavepoint = r.type === "SAVEPOINT";
    // Savepoints and the final checkpoint are aligned, as in Flink.
    const unaligned = c.unaligned && !isSavepoint && !r.final;
    const barrier: Barrier = {
      kind: "barrier",
      checkpointId: id,
      timestamp: now,
      type: r.type,
      exactlyOnce: c.mode === "exactly-once" || isSavepoint || r.final,
      unaligned: unaligned && c.alignedTimeout === 0,
      alignedTimeoutMs: unaligned ? c.alignedTimeout : 0,
      terminate: r.terminate,
    };
    const notYetAcked = new Set<string>();
    for (const v of target.vertices) for (let i = 0; i < v.parallelism; i++) notYetAcked.add(`${v.id}-${i}`);
    const kind = isSavepoint ? "SAVEPOINT" : barrier.unaligned ? "UNALIGNED_CHECKPOINT" : "CHECKPOINT";
    this.stats.triggered(id, kind, now, target.vertices);
    const p: Pending = {
      id,
      barrier,
      final: r.final || r.terminate === true,
      notYetAcked,
      acks: [],
      subtaskCount: notYetAcked.size,
      savepoint: r.savepoint,
      waiters: [r.resolve],
      timer: this.#init.scheduler.after(c.timeout, () => {
        if (this.#pending.get(id) === p) this.#fail(p, "checkpoint_expired", `Checkpoint ${id} expired before completing (timeout ${c.timeout} ms)`, true);
      }),
    };
    this.#pending.set(id, p);
    if (r.final) target.snapshotAll(barrier);
    else target.triggerSources(barrier);
  }

  /** Where the files of a checkpoint go: the job's storage, or the savepoint's own. */
  locate(checkpointId: number, savepoint: SavepointTarget | undefined = this.#pending.get(checkpointId)?.savepoint): { storage: StorageAdapter; dir: string; directory?: string } {
    const sp = savepoint;
    if (!sp) return { storage: this.#init.storage, dir: checkpointDir(this.#init.jobName, this.#init.jobId, checkpointId) };
    return sp.directory === undefined ? { storage: sp.storage, dir: sp.dir } : { storage: sp.storage, dir: sp.dir, directory: sp.directory };
  }

  /** A subtask's part is durable. */
  acknowledge(ack: SubtaskAck): void {
    const p = this.#pending.get(ack.checkpointId);
    if (!p) return this.#cleaner.lateStateFile(ack.checkpointId, ack.stateKey);
    const key = `${ack.vertexId}-${ack.subtaskIndex}`;
    if (!p.notYetAcked.delete(key)) return;
    p.acks.push(ack);
    assert(p.acks.length + p.notYetAcked.size === p.subtaskCount, () => `Checkpoint ${p.id} counts ${p.acks.length} acks and ${p.notYetAcked.size} missing of ${p.subtaskCount} subtasks`);
    this.stats.acknowledged(ack);
    if (p.notYetAcked.size === 0) void this.#commit(p);
  }

  /** A subtask could not take its part (storage failed, channel state too large, subsumed…). */
  decline(checkpointId: number, reason: CheckpointFailureReason, message: string): void {
    const p = this.#pending.get(checkpointId);
    if (p) this.#fail(p, reason, message, true);
  }

  async #commit(p: Pending): Promise<void> {
    const init = this.#init;
    const target = this.#target;
    if (!target) return;
    // The commit side of the ack account: every subtask acknowledged, each once.
    assert(p.notYetAcked.size === 0 && p.acks.length === p.subtaskCount, () => `Checkpoint ${p.id} committing with ${p.acks.length} of ${p.subtaskCount} acks`);
    const dir = p.savepoint ? p.savepoint.dir : checkpointDir(init.jobName, init.jobId, p.id);
    const storage = p.savepoint ? p.savepoint.storage : init.storage;
    const metadata = completedMetadata(init, target, p);
    try {
      init.faults?.beforeCommit?.(p.id);
      p.metadataWriteIssued = true;
      // From here on recovery may pick it: its shared files must stay (savepoints have none).
      if (!p.savepoint) this.#cleaner.metadataWriteIssued(p.id, metadata.subtasks.flatMap((f) => f.shared ?? []));
      const write = storage.put(joinKey(dir, METADATA_FILE), encodeMetadata(metadata));
      this.#metadataWrites.add(write);
      try {
        await write;
      } finally {
        this.#metadataWrites.delete(write);
      }
    } catch (e) {
      if (p.metadataWriteIssued) this.#cleaner.metadataWriteFailed(p.id);
      // Failed meanwhile, and this write may still land (a lost acknowledgement): the
      // metadata's own sweep decides what its files are (shared_state.ts).
      if (this.#pending.get(p.id) !== p) return;
      if (e instanceof WeirError && e.code === "coordinator_crash") return this.#init.onJobFailure(e);
      return this.#fail(p, "storage_failed", `Checkpoint ${p.id} metadata could not be written: ${(e as Error).message}`, true);
    }
    // Failed while its metadata was being written, which landed: see CheckpointsCleaner.landedAfterFailing.
    if (this.#pending.get(p.id) !== p) return this.#cleaner.landedAfterFailing(p.id, this.locate(p.id, p.savepoint), { savepoint: p.savepoint !== undefined, jobEnded: this.#shutDown });
    // Committed: from here on this checkpoint is what recovery restores.
    this.#pending.delete(p.id);
    p.timer.cancel();
    const location = p.savepoint ? p.savepoint.location : `${storage.description}/${dir}`;
    const details = this.stats.completed(p.id, init.clock.now(), location)!;
    this.completedCount++;
    this.#consecutiveFailures = 0;
    this.#requests.completed(init.clock.now());
    try {
      init.faults?.afterCommit?.(p.id);
    } catch (e) {
      if (e instanceof WeirError && e.code === "coordinator_crash") return this.#init.onJobFailure(e);
      throw e;
    }
    // Older pending checkpoints are subsumed by this one.
    for (const older of [...this.#pending.values()]) {
      if (older.id < p.id && !older.final) this.#fail(older, "checkpoint_subsumed", `Checkpoint ${older.id} subsumed by completed checkpoint ${p.id}`, true);
    }
    if (p.final) this.completedFinal = details;
    if (p.final && p.savepoint && init.onTerminalSavepoint) {
      try {
        await init.onTerminalSavepoint(p.savepoint);
      } catch {
        // Without the run marker a crash from here on replays from the last checkpoint;
        // the sinks have not committed yet, so that is still exactly-once.
      }
      if (this.#target !== target) {
        // The execution failed meanwhile: the job master finishes the job from the savepoint.
        for (const w of p.waiters) w(details);
        return;
      }
    }
    // An intermediate savepoint commits no side effects (as in Flink): recovery restores
    // checkpoints only, so output committed at a savepoint would be replayed after a
    // failover. Its transactions commit with the next checkpoint. A stop-with-savepoint
    // (final) ends the job and commits.
    if (!p.savepoint || p.final) target.notifyComplete(p.id, p.final);
    init.onCheckpoint?.(details);
    for (const w of p.waiters) w(details);
    if (!p.savepoint) this.#cleaner.completed(p.id);
    this.#drainQueue();
  }

  #fail(p: Pending, reason: CheckpointFailureReason, message: string, countsAsFailure: boolean): void {
    if (this.#pending.get(p.id) !== p) return;
    this.#pending.delete(p.id);
    p.timer.cancel();
    const details = this.stats.failed(p.id, this.#init.clock.now(), reason, message)!;
    this.failedCount++;
    this.#target?.notifyAborted(p.id, reason);
    this.#init.onCheckpoint?.(details);
    if (!p.metadataWriteIssued) this.#cleaner.failed(p.id, this.locate(p.id, p.savepoint));
    for (const w of p.waiters) w(details);
    // As in Flink, a failed savepoint is reported to whoever asked for it but never fails the job.
    if (countsAsFailure && reason !== "checkpoint_subsumed" && p.barrier.type !== "SAVEPOINT") {
      this.#consecutiveFailures++;
      if (this.#consecutiveFailures > this.config.tolerableFailures) {
        this.#consecutiveFailures = 0;
        this.#init.onJobFailure(
          new WeirError(
            "checkpoint_tolerance_exceeded",
            `Exceeded checkpoint tolerable failure threshold (${this.config.tolerableFailures}): ${message}`,
          ),
        );
        return;
      }
    }
    if (p.barrier.terminate && this.#target) {
      this.#target.resumeSources();
    } else if (p.final && this.#target) {
      // Sources already ended their input for this one; only a restart can try again.
      this.#init.onJobFailure(new WeirError("final_checkpoint_failed", `The final checkpoint ${p.id} failed: ${message}`));
      return;
    }
    this.#drainQueue();
  }
}

/** The metadata of a checkpoint every subtask acknowledged: writing it commits the checkpoint. */
function completedMetadata(init: CoordinatorInit, target: CheckpointTarget, p: Pending): CheckpointMetadata {
  return {
    magic: "weir-checkpoint",
    jobName: init.jobName,
    jobId: init.jobId,
    checkpointId: p.id,
    type: p.barrier.type,
    unaligned: p.acks.some((a) => a.unaligned),
    triggerTimestamp: p.barrier.timestamp,
    completedTimestamp: init.clock.now(),
    weirVersion: WEIR_VERSION,
    maxParallelism: init.maxParallelism,
    terminal: Boolean(p.final && p.savepoint),
    ...(p.final && p.savepoint ? { commitsMarked: true } : {}),
    vertices: target.vertices.map((v) => ({ id: v.id, name: v.name, parallelism: v.parallelism, uids: v.uids })),
    subtasks: p.acks.map((a) => ({
      vertexId: a.vertexId,
      subtaskIndex: a.subtaskIndex,
      file: a.stateKey.slice(a.stateKey.lastIndexOf("/") + 1),
      stateSize: a.stateSize,
      checksum: a.stateChecksum,
      shared: a.sharedState ?? [],
    })),
  };
}
