/**
 * The job master's contracts: what it is built from, what it reports, where it restores
 * from. Apart from runtime/job_master.ts so that the class stays one job's lifecycle.
 * @module
 */
import type { BeforeStep, PickPolicy } from "../actors/dispatcher.ts";
import type { Clock, Scheduler } from "../actors/time.ts";
import type { CheckpointConfig } from "../checkpoint/config.ts";
import type { CheckpointHome } from "../checkpoint/restore.ts";
import type { CoordinatorFaults } from "../checkpoint/coordinator.ts";
import type { JobGraph } from "../dataflow/job_graph.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import type { ExecutionTuning } from "./execution.ts";
import type { JobStatus } from "./job_status.ts";
import type { RestartStrategy } from "./restart_strategy.ts";

/** Something that happened to a job, for logs and progress output. */
export type JobEvent =
  | { type: "status"; status: JobStatus }
  | { type: "checkpoint_completed"; checkpointId: number; durationMs: number; stateSize: number; persistedData: number; unaligned: boolean }
  | { type: "checkpoint_failed"; checkpointId: number; reason: string; message: string }
  | { type: "restarting"; attempt: number; delayMs: number; error: Error }
  | { type: "restored"; checkpointId: number; location: string }
  | ({ type: "warning" } & JobWarning);

/**
 * Something about a job that works but deserves attention (Flink logs these at WARN):
 * `missing_uid` (a stateful operator without an explicit uid), `checksums_missing` (a
 * restored checkpoint written before weir had checksums), `shared_files_elsewhere` (a
 * restored incremental checkpoint whose path is not laid out as its job's),
 * `host_not_remote` and `remote_host_unused` (runtime/placement_warnings.ts),
 * `sinks_committed_unmarked` (a stopped job could not note its savepoint's commits).
 */
export interface JobWarning {
  code: "missing_uid" | "checksums_missing" | "shared_files_elsewhere" | "host_not_remote" | "remote_host_unused" | "sinks_committed_unmarked";
  message: string;
}

/** A restore source opened by the environment: where to read it and how it is named. */
export interface RestoreSource {
  storage: StorageAdapter;
  dir: string;
  /**
   * Read instead when `dir` holds no `_metadata`: the directory a path names once the
   * storage's description before it is dropped (an `external_path`).
   */
  orDir?: string;
  location: string;
  allowNonRestoredState: boolean;
  /** Where it lives for a remote host, which reads its own part there (default: `{ kind: "directory", path: location }`). */
  home?: CheckpointHome;
}

/** Everything a job master is built from. */
export interface JobMasterInit {
  jobName: string;
  jobId?: string;
  graph: JobGraph;
  storage: StorageAdapter;
  checkpoint: CheckpointConfig;
  restart: RestartStrategy;
  tuning: ExecutionTuning;
  clock: Clock;
  scheduler: Scheduler;
  pick?: PickPolicy;
  restoreFrom?: RestoreSource;
  faults?: CoordinatorFaults;
  /** Set by the simulator: steps per dispatcher slice. */
  sliceSteps?: number;
  /** Set by the simulator: runs before every actor step; a throw crashes that step. */
  beforeStep?: BeforeStep;
}

/** What the run marker of an unfinished run says. */
export interface UnfinishedRun {
  jobId: string;
  /** Its stop-with-savepoint completed: the resumed run finishes from it. */
  stopSavepoint?: string;
}
