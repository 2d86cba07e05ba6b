import type { Clock, Scheduler } from "../actors/time.ts";
import type { CheckpointFailureReason } from "../checkpoint/failure_reason.ts";

/** What a subtask reports when its part of a checkpoint is durable. */
export interface SubtaskAck {
  checkpointId: number;
  vertexId: string;
  subtaskIndex: number;
  /** Storage key of the subtask's state file. */
  stateKey: string;
  stateSize: number;
  /**
   * The full state this checkpoint stands for: the state file plus every shared file it
   * refers to (incremental checkpoints); stateSize when it refers to none. Flink's `state_size`.
   */
  fullStateSize?: number;
  /** What this checkpoint wrote: the state file plus shared files no earlier checkpoint of the subtask referred to. Flink's `checkpointed_size`. */
  checkpointedSize?: number;
  /** checksumOf() the state file's bytes, recorded in `_metadata` and verified on restore. */
  stateChecksum: string;
  /** Storage keys of the shared files the state refers to (incremental checkpoints), recorded in `_metadata`. */
  sharedState?: string[];
  persistedData: number;
  unaligned: boolean;
  startDelayMs: number;
  alignmentDurationMs: number;
  /** Taking the snapshot on the subtask (encoding its state): Flink's sync duration. */
  syncDurationMs?: number;
  /** Writing it to storage (and a sink's pre-commit): Flink's async duration. */
  asyncDurationMs?: number;
  /**
   * The longest single step of the async part on the subtask's thread (a capture slice,
   * assembling the state file, a checksum slice), ms: how long the checkpoint held records
   * up at once after its sync part. Not in Flink, whose async part runs on other threads.
   */
  longestStepMs?: number;
  /** Trigger → ack, as seen by the subtask's clock. */
  ackTimestamp: number;
}

/** The side of the job master that a subtask talks to (one per execution attempt). */
export interface SubtaskHost {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly batchSize: number;
  /**
   * What one synchronous data step may cost, in ms of the host's clock: a subtask whose
   * records are slow takes fewer of them per step, so that its priority lane (barriers)
   * and the other actors on the thread wait at most about this long.
   */
  readonly stepBudgetMs: number;
  /**
   * The most state entries one slice of an asynchronous snapshot takes (otherwise sized by
   * stepBudgetMs alone); the simulator sets it small so that records race the snapshot.
   */
  readonly snapshotSliceMax?: number;
  readonly channelStateMaxBytes: number;
  /**
   * Writes a subtask's checkpoint file, given as parts whose concatenation it is (storage's
   * putInParts(): a large state is not joined into one buffer; the parts may be produced
   * as they are taken, read from a state backend); resolves to its storage key. The parts
   * are the host's from then on: the subtask neither reads nor changes them again, and the
   * host may reuse them once stored (putInParts() with codec/chunk_pool.ts).
   */
  writeState(vertexId: string, subtaskIndex: number, checkpointId: number, parts: Iterable<Uint8Array>): Promise<string>;
  acknowledge(ack: SubtaskAck): void;
  decline(checkpointId: number, reason: CheckpointFailureReason, message: string): void;
  failed(subtaskName: string, error: unknown): void;
  sourceFinished(vertexId: string, subtaskIndex: number): void;
  /** Every input of the subtask ended (a source: it was told to end): it drained and emits nothing more. */
  inputEnded(vertexId: string, subtaskIndex: number): void;
  /** The subtask processed the completion of the final checkpoint (its sink committed). */
  finalCommitted(vertexId: string, subtaskIndex: number): void;
}
