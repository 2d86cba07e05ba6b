import { customAlphabet } from "nanoid";
import type { CheckpointConfig } from "../checkpoint/config.ts";
import type { CheckpointDetails, CheckpointStatsSnapshot } from "../checkpoint/stats.ts";
import { flinkCheckpoint, flinkCheckpointStats } from "../checkpoint/flink_view.ts";
import { vertexHexId } from "./vertex_id.ts";
import { WeirError, invalidOption } from "../errors.ts";
import { openDirectory } from "../storage/directory.ts";
import type { JobEvent, JobMaster, JobWarning } from "./job_master.ts";
import type { JobResult, JobStatus } from "./job_status.ts";
import { type SubtaskMetrics, subtaskMetrics } from "./subtask_metrics.ts";

const savepointSuffix = customAlphabet("0123456789abcdef", 12);

export type { SubtaskMetrics } from "./subtask_metrics.ts";

/** A vertex as GET /jobs/:id shows it. */
export interface VertexOverview {
  id: string;
  name: string;
  parallelism: number;
  uids: string[];
  subtasks: SubtaskMetrics[];
}

/** Flink's checkpoint config fields (GET /jobs/:id/checkpoints/config). */
export interface CheckpointConfigInfo {
  mode: "exactly_once" | "at_least_once";
  interval: number;
  timeout: number;
  min_pause: number;
  max_concurrent: number;
  unaligned_checkpoints: boolean;
  aligned_checkpoint_timeout: number;
  tolerable_failed_checkpoints: number;
  retained_checkpoints: number;
  channel_state_max_bytes: number;
  checkpoint_storage: string;
  externalization: { enabled: boolean; delete_on_cancellation: boolean };
}

/**
 * The handle of a running job: stats, checkpoints, savepoints, stop and cancel. The
 * REST API is a thin layer over exactly these methods.
 */
export class JobHandle {
  readonly #master: JobMaster;
  readonly #config: CheckpointConfig;
  #server: { url: string; close(): Promise<void> } | undefined;
  #stopping = false;
  /**
   * The command line that started this job without its restore flags (`weir run job.ts
   * --port 8081`, `npm start --`), when a CLI set it; a stop appends `--from-savepoint DIR`
   * to tell the user how to restore. Served as `weir-launch-command` by GET /jobs/:jobid.
   */
  launchCommand: string | undefined;

  constructor(master: JobMaster, config: CheckpointConfig) {
    this.#master = master;
    this.#config = config;
    master.done.then(() => this.#server?.close().catch(() => {}));
  }

  /** @internal */
  attachServer(server: { url: string; close(): Promise<void> }): void {
    this.#server = server;
  }

  /** URL of the REST API, when the job was started with `http`. */
  get url(): string | undefined {
    return this.#server?.url;
  }
  get id(): string {
    return this.#master.jobId;
  }
  get name(): string {
    return this.#master.jobName;
  }
  get status(): JobStatus {
    return this.#master.status;
  }
  get restarts(): number {
    return this.#master.restarts;
  }
  get startTime(): number {
    return this.#master.startTime;
  }
  /** The number of key groups keyed state is split into (the most a vertex can be scaled to). */
  get maxParallelism(): number {
    return this.#master.graph.maxParallelism;
  }
  /** Name of the restart strategy ("none", "fixed-delay", "exponential-delay", "failure-rate"). */
  get restartStrategy(): string {
    return this.#master.restartStrategyName;
  }
  /** Resolves once the job ended. */
  get done(): Promise<JobResult> {
    return this.#master.done;
  }

  /** Listens to status changes, checkpoints and restarts. */
  on(listener: (e: JobEvent) => void): () => void {
    return this.#master.on(listener);
  }

  /**
   * Triggers a checkpoint; resolves to its details once it completed or failed (a failed one
   * carries `failure_reason`, a `CheckpointFailureReason`; it does not reject).
   */
  triggerCheckpoint(): Promise<CheckpointDetails> {
    return this.#master.coordinator.trigger("CHECKPOINT").then((d) => this.#flink(d));
  }

  /**
   * The same object as GET /jobs/:id/checkpoints: Flink's shape (tasks keyed by 32-hex
   * vertex id, `className`, `processed_data`, whole-number summaries) with every weir field.
   */
  checkpointStats(): CheckpointStatsSnapshot {
    return flinkCheckpointStats(this.#master.coordinator.stats.snapshot(), this.#hexIds()) as unknown as CheckpointStatsSnapshot;
  }

  /** The same object as GET /jobs/:id/checkpoints/details/:checkpointId. */
  checkpointDetails(checkpointId: number): CheckpointDetails | undefined {
    const d = this.rawCheckpointDetails(checkpointId);
    return d && this.#flink(d);
  }

  /** @internal weir's own record of a checkpoint, tasks keyed by weir's vertex ids (`v0`…). */
  rawCheckpointDetails(checkpointId: number): CheckpointDetails | undefined {
    const d = this.#master.coordinator.stats.details(checkpointId);
    return d && structuredClone(d);
  }

  #flink(d: CheckpointDetails): CheckpointDetails {
    // Through JSON, so the object is exactly what a client of the REST API reads.
    return JSON.parse(JSON.stringify(flinkCheckpoint(d, this.#hexIds())));
  }

  #hexIds(): Map<string, string> {
    return new Map(this.#master.graph.vertices.map((v) => [v.id, vertexHexId(v)]));
  }

  /** The job's keyed state backend and whether its checkpoints are incremental (DESIGN.md "State options"). */
  get stateOptions(): { backend: string; incremental: boolean } {
    return this.#master.stateOptions;
  }

  checkpointConfig(): CheckpointConfigInfo {
    const c = this.#config;
    return {
      mode: c.mode === "exactly-once" ? "exactly_once" : "at_least_once",
      interval: c.interval,
      timeout: c.timeout,
      min_pause: c.minPause,
      max_concurrent: c.maxConcurrent,
      unaligned_checkpoints: c.unaligned,
      aligned_checkpoint_timeout: c.alignedTimeout,
      tolerable_failed_checkpoints: c.tolerableFailures,
      retained_checkpoints: c.retained,
      channel_state_max_bytes: c.channelStateMaxBytes,
      checkpoint_storage: this.#master.storage.description,
      externalization: { enabled: true, delete_on_cancellation: false },
    };
  }

  /**
   * Takes a savepoint into targetDirectory; resolves to its details (external_path is its location).
   * @throws {WeirError} `invalid_option` (no directory), and with `cancelJob` what {@link stop} throws.
   */
  async triggerSavepoint(targetDirectory: string, options: { cancelJob?: boolean } = {}): Promise<CheckpointDetails> {
    if (options.cancelJob) return this.#stopWithSavepoint({ savepoint: targetDirectory });
    return this.#master.coordinator.trigger("SAVEPOINT", savepointTarget(targetDirectory, this.id));
  }

  /**
   * Stop-with-savepoint: takes an aligned savepoint and ends the job "stopped". Without
   * drain, sources emit nothing after the savepoint barrier; with drain, their input ends
   * and operators flush before the savepoint. Resolves to the savepoint's location.
   * @throws {WeirError} `invalid_option` (no savepoint directory), `already_stopping`, `job_not_running`,
   *   `job_finishing` (the input already ended: await `done` instead), `savepoint_failed` (with the failure reason).
   */
  async stop(options: { savepoint: string; drain?: boolean }): Promise<string> {
    return (await this.#stopWithSavepoint(options)).external_path!;
  }

  async #stopWithSavepoint(options: { savepoint: string; drain?: boolean }): Promise<CheckpointDetails> {
    if (!options || typeof options.savepoint !== "string" || options.savepoint.length === 0) {
      throw invalidOption("stop savepoint", options?.savepoint, "must be a target directory");
    }
    if (this.#stopping) throw new WeirError("already_stopping", `Job ${this.id} is already stopping`);
    if (this.#master.status !== "RUNNING") throw new WeirError("job_not_running", `Job ${this.id} is ${this.#master.status}, not RUNNING`);
    if (this.#master.coordinator.ending) {
      throw new WeirError("job_finishing", `Job ${this.id} is already ending (its input ended or a stop is in progress); it takes its final checkpoint now`);
    }
    this.#stopping = true;
    const target = savepointTarget(options.savepoint, this.id);
    this.#master.stoppingWith(target.location);
    const coordinator = this.#master.coordinator;
    const details = options.drain ? await this.#master.drain(target) : await coordinator.trigger("SAVEPOINT", target, { terminate: true });
    if (details.status !== "COMPLETED") {
      this.#stopping = false;
      this.#master.stoppingWith(undefined);
      throw new WeirError("savepoint_failed", `Stop-with-savepoint of job ${this.id} failed: ${details.failure_message ?? "unknown reason"}`);
    }
    await this.#master.done;
    return details;
  }

  /**
   * What the job warned about so far (operators without uids, a restore without
   * checksums), oldest first; each also arrived as a "warning" event.
   */
  warnings(): readonly JobWarning[] {
    return this.#master.warnings;
  }

  /** Cancels the job; resolves to its result. */
  cancel(): Promise<JobResult> {
    this.#master.cancel();
    return this.#master.done;
  }

  /**
   * Vertices with live per-subtask figures: those of this process read now, those of
   * remote hosts as their host last reported them (every `runtime.metricsIntervalMs`).
   */
  vertices(): VertexOverview[] {
    const exec = this.#master.execution;
    return this.#master.graph.vertices.map((v) => ({
      id: v.id,
      name: v.name,
      parallelism: v.parallelism,
      uids: [...v.uids],
      subtasks: [
        ...(exec?.subtasks ?? []).filter((s) => s.vertexId === v.id).map(subtaskMetrics),
        ...(exec?.remoteMetrics(v.id) ?? []),
      ].sort((a, b) => a.index - b.index),
    }));
  }

  /** The connections between vertices (partitioning: forward, rebalance, broadcast, hash). */
  edges(): { source: string; target: string; partitioning: string }[] {
    return this.#master.graph.edges.map((e) => ({ source: e.from, target: e.to, partitioning: e.partitioning.kind }));
  }

  /** The error of the latest failure (restarted from or final), if any. */
  get lastError(): Error | undefined {
    return this.#master.lastError;
  }

  /** The clock the job runs on (epoch ms). */
  now(): number {
    return this.#master.clock.now();
  }
}

function savepointTarget(targetDirectory: string, jobId: string) {
  if (typeof targetDirectory !== "string" || targetDirectory.length === 0) {
    throw invalidOption("savepoint target directory", targetDirectory, "must be a directory path");
  }
  const { storage, root } = openDirectory(targetDirectory, "The savepoint target directory");
  const dir = `savepoint-${jobId.slice(0, 6)}-${savepointSuffix()}`;
  return { storage, dir, location: `${root}/${dir}`, directory: targetDirectory };
}
