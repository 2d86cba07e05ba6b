/**
 * The contracts around the checkpoint coordinator: what it needs from the running
 * execution and from the job master, and its own bookkeeping records.
 * @module
 */
import type { Barrier, CheckpointType } from "../actors/messages.ts";
import type { Clock, Scheduler, Timer } from "../actors/time.ts";
import type { WeirError } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import type { SubtaskAck } from "../runtime/subtask_host.ts";
import type { CheckpointConfig } from "./config.ts";
import type { CheckpointFailureReason } from "./failure_reason.ts";
import type { CheckpointDetails, VertexInfo } from "./stats.ts";

/** The running execution as the coordinator sees it. */
export interface CheckpointTarget {
  vertices: (VertexInfo & { uids: string[] })[];
  /** Sends the barrier to every source subtask. */
  triggerSources(barrier: Barrier): void;
  /** The final checkpoint: every subtask (its input ended, nothing in flight) snapshots at once. */
  snapshotAll(barrier: Barrier): void;
  notifyComplete(checkpointId: number, final: boolean): void;
  notifyAborted(checkpointId: number, reason: CheckpointFailureReason): void;
  /** A stop-with-savepoint failed: sources suspended at its barrier read on. */
  resumeSources(): void;
}

/** Injected faults, for the simulator: a throw here is a coordinator crash at that point. */
export interface CoordinatorFaults {
  beforeCommit?(checkpointId: number): void;
  afterCommit?(checkpointId: number): void;
}

/** Where completed checkpoints go and what the job is called. */
export interface CoordinatorInit {
  config: CheckpointConfig;
  clock: Clock;
  scheduler: Scheduler;
  storage: StorageAdapter;
  jobName: string;
  jobId: string;
  maxParallelism: number;
  /** The job fails: tolerable failures exceeded, or a crash injected at a commit point. */
  onJobFailure(error: WeirError): void;
  faults?: CoordinatorFaults;
  /**
   * A stop-with-savepoint completed: awaited before any sink is told to commit, so that
   * recovery from then on finishes from it.
   */
  onTerminalSavepoint?(target: SavepointTarget): Promise<void>;
  /** Told of every checkpoint that completed or failed. */
  onCheckpoint?(details: CheckpointDetails): void;
  /** The first checkpoint id to use (after a restore: the restored id + 1). */
  nextId?: number;
}

/** A triggered savepoint writes to its own storage, named by `location`. */
export interface SavepointTarget {
  storage: StorageAdapter;
  location: string;
  dir: string;
  /**
   * The directory path `storage` was opened from (storage/directory.ts), when it was: a
   * remote host opens it too and writes its files there itself, not through the master.
   */
  directory?: string;
}

export interface Pending {
  id: number;
  barrier: Barrier;
  /** The job ends when this one completed: the final checkpoint, or a stop-with-savepoint. */
  final: boolean;
  notYetAcked: Set<string>;
  acks: SubtaskAck[];
  /** Subtasks that must acknowledge: always `acks.length + notYetAcked.size`. */
  subtaskCount: number;
  timer: Timer;
  savepoint?: SavepointTarget;
  waiters: ((d: CheckpointDetails) => void)[];
  /**
   * The metadata write was issued. Its outcome may be unknown (a failed or late put can
   * still land), so the files it names must never be deleted: a metadata file without
   * its state files is a half checkpoint that recovery would pick and fail on.
   */
  metadataWriteIssued?: boolean;
}

export interface TriggerRequest {
  type: CheckpointType;
  final: boolean;
  terminate?: boolean;
  savepoint?: SavepointTarget;
  resolve: (d: CheckpointDetails) => void;
}
