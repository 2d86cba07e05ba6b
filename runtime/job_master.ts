import { customAlphabet } from "nanoid";
import { Dispatcher } from "../actors/dispatcher.ts";
import type { Clock, Scheduler, Timer } from "../actors/time.ts";
import { decode, encode } from "../codec/cbor.ts";
import { CheckpointCoordinator, type SavepointTarget } from "../checkpoint/coordinator.ts";
import type { CheckpointDetails } from "../checkpoint/stats.ts";
import { highestCheckpointId, listCompleted } from "../checkpoint/metadata.ts";
import type { LoadedCheckpoint } from "../checkpoint/restore.ts";
import type { JobGraph } from "../dataflow/job_graph.ts";
import { WeirError } from "../errors.ts";
import { resolvedStateOptions } from "../state/backend_registry.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { openDirectory } from "../storage/directory.ts";
import { Execution, type ExecutionOwner } from "./execution.ts";
import type { JobResult, JobStatus } from "./job_status.ts";
import { RestorePoints } from "./restore_point.ts";
import { isUnrecoverable } from "./restart_strategy.ts";
import { placementWarnings } from "./placement_warnings.ts";
import { noteSinksCommitted } from "./stop_savepoint_note.ts";

export type { JobEvent, JobMasterInit, JobWarning, RestoreSource, UnfinishedRun } from "./job_master_types.ts";
import type { JobEvent, JobMasterInit, JobWarning, RestoreSource, UnfinishedRun } from "./job_master_types.ts";

const newJobId = customAlphabet("0123456789abcdef", 32);

/** Finishes from a stop's savepoint after a failure at most, this many ms apart times the try. */
const FINISH_TRIES_MAX = 3;
const FINISH_RETRY_DELAY_MS = 100;
/**
 * The job master: deploys executions, owns the checkpoint coordinator, applies the
 * restart strategy on failure, and ends the job. Recovery always re-reads the latest
 * completed checkpoint from storage: the metadata file is the only truth.
 */
export class JobMaster implements ExecutionOwner {
  readonly jobName: string;
  readonly jobId: string;
  readonly graph: JobGraph;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly dispatcher: Dispatcher;
  readonly storage: StorageAdapter;
  readonly coordinator: CheckpointCoordinator;
  readonly done: Promise<JobResult>;
  readonly startTime: number;
  status: JobStatus = "CREATED";
  restarts = 0;
  #init: JobMasterInit;
  #execution: Execution | undefined;
  #resolveDone!: (r: JobResult) => void;
  #listeners = new Set<(e: JobEvent) => void>();
  #ended = false;
  #lastError: Error | undefined;
  #savepointOnStop: string | undefined;
  #restoredEvent: JobEvent | undefined;
  readonly #warnings: JobWarning[] = [];
  #restartTimer: Timer | undefined;
  /**
   * The completed stop-with-savepoint, once there is one: the sinks commit up to it, so any
   * recovery after that point restores it and ends the job instead of replaying older data.
   */
  #terminal: RestoreSource | undefined;
  /** Finishes from the stop's savepoint tried again after a failure (#finishAgain). */
  #finishTries = 0;
  #resumeStopSavepoint: string | undefined;
  readonly #restores: RestorePoints;
  /**
   * Set when this start never ran the job (a refused resume, a busy port): the unfinished
   * run it found, if any, stays unfinished for the next start.
   */
  #keepRunMarker = false;

  /** The keyed state options the job runs with (DESIGN.md "State options"), defaults filled in. */
  get stateOptions(): { backend: string; incremental: boolean } {
    return resolvedStateOptions(this.#init.tuning.state);
  }

  constructor(init: JobMasterInit, resume?: UnfinishedRun) {
    this.#init = init;
    this.jobName = init.jobName;
    this.jobId = resume?.jobId ?? init.jobId ?? newJobId();
    this.#resumeStopSavepoint = resume?.stopSavepoint;
    this.graph = init.graph;
    this.clock = init.clock;
    this.scheduler = init.scheduler;
    this.storage = init.storage;
    this.startTime = init.clock.now();
    this.dispatcher = this.newDispatcher();
    this.done = new Promise((r) => (this.#resolveDone = r));
    const { graph, storage, tuning, restoreFrom } = init;
    this.#restores = new RestorePoints({ jobName: init.jobName, jobId: this.jobId, graph, storage, tuning, restoreFrom, onOwnRefused: () => (this.#keepRunMarker = true) });
    this.coordinator = new CheckpointCoordinator({
      config: init.checkpoint,
      clock: init.clock,
      scheduler: init.scheduler,
      storage: init.storage,
      jobName: init.jobName,
      jobId: this.jobId,
      maxParallelism: init.graph.maxParallelism,
      faults: init.faults,
      onCheckpoint: (d) => {
        if (d.status === "COMPLETED") {
          this.#emit({ type: "checkpoint_completed", checkpointId: d.id, durationMs: d.end_to_end_duration, stateSize: d.state_size, persistedData: d.persisted_data, unaligned: d.checkpoint_type === "UNALIGNED_CHECKPOINT" });
        } else {
          this.#emit({ type: "checkpoint_failed", checkpointId: d.id, reason: d.failure_reason ?? "unknown", message: d.failure_message ?? "" });
        }
      },
      onTerminalSavepoint: (target) => this.#recordTerminal(target),
      onJobFailure: (e) => {
        if (this.#execution) this.executionFailed(this.#execution, e);
      },
    });
  }

  /** A dispatcher with the job's pick policy, slice and step hook: one per host of an execution. */
  newDispatcher(): Dispatcher {
    const init = this.#init;
    return new Dispatcher(init.clock, init.scheduler, { pick: init.pick, maxSteps: init.sliceSteps, beforeStep: init.beforeStep });
  }

  /**
   * Listens to job events; returns the function that stops listening. A listener added
   * after the job started hears at once of its current status and of the restore it
   * started from, which happened before execute() returned.
   */
  on(listener: (e: JobEvent) => void): () => void {
    this.#listeners.add(listener);
    for (const w of this.#warnings) listener({ type: "warning", ...w });
    if (this.#restoredEvent) listener(this.#restoredEvent);
    if (this.status !== "CREATED") listener({ type: "status", status: this.status });
    return () => this.#listeners.delete(listener);
  }

  #emit(e: JobEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch { /* a listener must not break the job */ }
    }
  }

  /** Warnings of this job so far, oldest first (each is also a "warning" event). */
  get warnings(): readonly JobWarning[] {
    return this.#warnings;
  }

  /** Records a warning once (a restart repeats the restore that caused it). */
  warn(w: JobWarning): void {
    if (this.#warnings.some((x) => x.code === w.code && x.message === w.message)) return;
    this.#warnings.push(w);
    this.#emit({ type: "warning", ...w });
  }

  #setStatus(s: JobStatus): void {
    this.status = s;
    this.#emit({ type: "status", status: s });
  }

  /** Name of the restart strategy, for the REST API's job config. */
  get restartStrategyName(): string {
    return this.#init.restart.name;
  }

  get execution(): Execution | undefined {
    return this.#execution;
  }
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** First deployment: from restoreFrom, else from this job run's own latest checkpoint (after a crash). */
  async start(): Promise<void> {
    this.#setStatus("INITIALIZING");
    for (const op of this.graph.withoutUid ?? []) {
      this.warn({
        code: "missing_uid",
        message: `Operator "${op.name}" (${op.kind}) keeps state but has no uid; its generated uid ${op.uid} changes when its code or anything upstream of it changes, and its state is then not restored: set { uid } on it`,
      });
    }
    for (const w of placementWarnings(this.graph, this.#init.tuning)) this.warn(w);
    if (this.#resumeStopSavepoint) {
      // The crashed run had completed its stop-with-savepoint: finish from it.
      this.#terminal = this.#openTerminal(this.#resumeStopSavepoint);
      return this.#finishFromTerminal();
    }
    await this.storage.put(`${this.jobName}/_current`, encode({ jobId: this.jobId, startedAt: this.startTime }));
    await this.#deploy(await this.#restores.latest());
  }

  async #deploy(restore: LoadedCheckpoint | undefined): Promise<void> {
    if (this.#ended) return;
    if (restore) this.#restores.check(restore);
    const execution = new Execution(this, this.graph, this.restarts, this.#init.tuning);
    this.#execution = execution;
    const restoredId = restore?.metadata.checkpointId ?? 0;
    const ownIds = await listCompleted(this.storage, this.jobName, this.jobId);
    const highestUsed = await highestCheckpointId(this.storage, this.jobName, this.jobId);
    if (restore) {
      for (const w of restore.warnings) this.warn(w);
      this.coordinator.stats.restored(restoredId, this.clock.now(), restore.metadata.type === "SAVEPOINT", restore.location);
      this.#restoredEvent = { type: "restored", checkpointId: restoredId, location: restore.location };
      this.#emit(this.#restoredEvent);
    }
    try {
      await execution.deploy(restore);
    } catch (e) {
      this.executionFailed(execution, e);
      return;
    }
    if (!execution.running || this.#ended) return;
    this.coordinator.attach(execution, restoredId, ownIds, highestUsed);
    this.#setStatus("RUNNING");
  }

  executionFailed(execution: Execution, error: unknown): void {
    if (execution !== this.#execution || !execution.running || this.#ended) return;
    const err = error instanceof Error ? error : new WeirError("job_failed", String(error));
    this.#lastError = err;
    execution.stop();
    this.coordinator.detach("job_failover", err);
    if (this.#terminal) return this.#finishAgain(err);
    // A restore every attempt would refuse alike fails the job without using up its restarts.
    const delay = isUnrecoverable(err) ? undefined : this.#init.restart.nextDelay(this.clock.now());
    if (delay === undefined) {
      this.#end("failed", err);
      return;
    }
    this.restarts++;
    this.#setStatus("RESTARTING");
    this.#emit({ type: "restarting", attempt: this.restarts, delayMs: delay, error: err });
    this.#restartTimer = this.scheduler.after(delay, () => {
      this.#restartTimer = undefined;
      void this.#restart().catch((e) => this.#end("failed", e instanceof Error ? e : new Error(String(e))));
    });
  }

  /**
   * Failed after the stop's savepoint completed (a sink's commit, say): the job finishes
   * from that savepoint, whose restore commits what it pre-committed, a few times at most
   * and whatever the restart strategy (the stop is not a restart: a job without restarts
   * still stops), each time as a new attempt (a remote host takes a deploy only of an
   * attempt newer than the one it runs).
   */
  #finishAgain(err: Error): void {
    if (isUnrecoverable(err) || this.#finishTries >= FINISH_TRIES_MAX) {
      this.#end("failed", err);
      return;
    }
    this.#finishTries++;
    this.#restartTimer = this.scheduler.after(FINISH_RETRY_DELAY_MS * this.#finishTries, () => {
      this.#restartTimer = undefined;
      void this.#finishFromTerminal().catch((e) => this.#end("failed", e instanceof Error ? e : new Error(String(e))));
    });
  }

  async #restart(): Promise<void> {
    if (this.#ended) return;
    // A checkpoint of the failed attempt may still be committing: its outcome decides what is latest.
    await this.coordinator.metadataWritesSettled();
    if (this.#ended) return;
    await this.#deploy(await this.#restores.latest());
  }

  allSourcesFinished(execution: Execution): void {
    if (execution !== this.#execution) return;
    void this.coordinator.finishing();
    execution.endInput();
  }

  allInputEnded(execution: Execution): void {
    if (execution !== this.#execution) return;
    this.coordinator.inputEnded();
  }

  /** Stop with drain: the sources end their input; the final savepoint follows once it drained. */
  drain(savepoint: SavepointTarget): Promise<CheckpointDetails> {
    const done = this.coordinator.finishing(savepoint);
    this.#execution?.endInput();
    return done;
  }

  finalCommitted(execution: Execution): void {
    if (execution !== this.#execution) return;
    // Stopped only if the final checkpoint was the stop's savepoint (sources may have ended first).
    const final = this.coordinator.completedFinal;
    if (final?.is_savepoint && this.#savepointOnStop) this.#end("stopped");
    else {
      this.#savepointOnStop = undefined;
      this.#end("finished");
    }
  }

  /** Marks the job as stopping with a savepoint at location (undefined: the stop failed). */
  stoppingWith(location: string | undefined): void {
    this.#savepointOnStop = location;
  }

  #openTerminal(location: string): RestoreSource {
    const { storage } = openDirectory(location, "The stop savepoint");
    return { storage, dir: "", location, allowNonRestoredState: true };
  }

  /** Records the completed stop savepoint, in memory and in the run marker, before any sink commits. */
  async #recordTerminal(target: SavepointTarget): Promise<void> {
    const { location } = target;
    // Where it was written, not its location opened again (a storage need not read its own locations back).
    this.#terminal = { storage: target.storage, dir: target.dir, location, allowNonRestoredState: true };
    this.#savepointOnStop = location;
    await this.storage.put(`${this.jobName}/_current`, encode({ jobId: this.jobId, startedAt: this.startTime, stopSavepoint: location }));
  }

  /**
   * Ends a job whose stop savepoint completed: restoring it opens the sinks, which commit
   * what it pre-committed (idempotently), and nothing is read any more.
   */
  async #finishFromTerminal(): Promise<void> {
    if (this.#ended) return;
    const t = this.#terminal!;
    const restore = await this.#restores.load(t);
    // The file says the commits happened (a process that died after writing it, before its run marker went).
    restore.transactionsCommitted = restore.metadata.commitsMarked === true && this.#restores.sinksCommitted(restore);
    this.#savepointOnStop = t.location;
    const id = restore.metadata.checkpointId;
    // No execution is attached, so no sweep runs but the one at the end: it must cover the
    // ids a crashed process used, whose own sweeps a slow delete may have held back.
    this.coordinator.idsUsedUpTo(Math.max(id, await highestCheckpointId(this.storage, this.jobName, this.jobId)));
    this.coordinator.stats.restored(id, this.clock.now(), true, t.location);
    this.#restoredEvent = { type: "restored", checkpointId: id, location: t.location };
    this.#emit(this.#restoredEvent);
    // Cancelled while the savepoint was read: nothing is deployed any more.
    if (this.#ended) return;
    const execution = new Execution(this, this.graph, this.restarts + this.#finishTries, this.#init.tuning);
    this.#execution = execution;
    try {
      await execution.deploy(restore);
    } catch (e) {
      this.executionFailed(execution, e);
      return;
    }
    if (this.#ended) {
      execution.stop();
      return;
    }
    // Stopped only once this deploy's sinks committed (their open did): not after a deploy that failed or was replaced.
    if (this.#execution !== execution || !execution.running) return;
    this.#end("stopped");
  }

  /** The job could not start (bad restore, busy port): it ends failed with that error. */
  abortStart(error: Error): void {
    this.#keepRunMarker = true;
    this.#lastError = error;
    this.#end("failed", error);
  }

  /** Cancels the job: subtasks stop at once, nothing is committed any more. */
  cancel(): void {
    if (this.#ended) return;
    this.#execution?.stop();
    this.#end("canceled");
  }

  #end(status: JobResult["status"], error?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#restartTimer?.cancel();
    this.#execution?.stop();
    this.coordinator.shutdown(status === "canceled" ? "job_canceled" : status === "failed" ? "job_failover" : "job_finished", error);
    this.#setStatus(status === "finished" ? "FINISHED" : status === "canceled" ? "CANCELED" : status === "stopped" ? "STOPPED" : "FAILED");
    const result: JobResult = {
      status,
      restarts: this.restarts,
      checkpoints: { completed: this.coordinator.completedCount, failed: this.coordinator.failedCount },
    };
    // A stop's savepoint only once it completed: a job cancelled or failed during the stop has none.
    if (this.#savepointOnStop && (status === "stopped" || this.#terminal)) result.savepoint = this.#savepointOnStop;
    if (error) result.error = error;
    void this.#cleanUp(status).finally(() => this.#resolveDone(result));
  }

  /**
   * A job that ended is not resumed by the next start with the same name. A finished
   * job's checkpoints are deleted; a canceled or failed one keeps them for restoreFrom.
   */
  async #cleanUp(status: JobResult["status"]): Promise<void> {
    try {
      // A start that never ran touched nothing: the run it found stays unfinished, so the
      // next start resumes (or refuses) it instead of quietly starting fresh beside its
      // checkpoints, which would duplicate what an exactly-once sink already committed.
      if (this.#keepRunMarker) return;
      // A checkpoint aborted by the end whose metadata lands now is deleted as it lands
      // (checkpoints_cleaner.ts); a write that hangs holds the end up for a checkpoint timeout at most.
      await this.#metadataWritesSettled(this.coordinator.config.timeout);
      // Subsumed checkpoints and unneeded shared files go first, so that what stays is what a restore needs.
      await this.coordinator.sweepAtEnd();
      // Before the run marker goes: a crash in between finishes from the savepoint again.
      if (status === "stopped" && this.#savepointOnStop) await noteSinksCommitted(this.#terminal ?? this.#openTerminal(this.#savepointOnStop), this.scheduler, (w) => this.warn(w));
      const cur = await this.storage.get(`${this.jobName}/_current`);
      if (cur && decode<{ jobId: string }>(cur, "job marker").jobId === this.jobId) await this.storage.delete(`${this.jobName}/_current`);
      if (status === "finished" || status === "stopped") await this.storage.deletePrefix(`${this.jobName}/${this.jobId}/`);
    } catch {
      // Clean-up is best effort: a leftover marker only makes the next start resume.
    }
  }

  /** Resolves once the metadata writes in flight settled, or after `ms`. */
  #metadataWritesSettled(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.scheduler.after(ms, resolve);
      void this.coordinator.metadataWritesSettled().then(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  /** The run a previous process of this job name left unfinished (crashed), if any. */
  static async unfinishedRun(storage: StorageAdapter, jobName: string): Promise<UnfinishedRun | undefined> {
    const bytes = await storage.get(`${jobName}/_current`);
    if (!bytes) return undefined;
    const m = decode<{ jobId?: unknown; stopSavepoint?: unknown }>(bytes, `job marker ${jobName}/_current`);
    if (typeof m?.jobId !== "string" || !/^[0-9a-f]{32}$/.test(m.jobId)) return undefined;
    return { jobId: m.jobId, stopSavepoint: typeof m.stopSavepoint === "string" ? m.stopSavepoint : undefined };
  }
}

