/**
 * The contracts between the runtime and what runs inside a subtask: operators,
 * sources and sinks. User-facing functions (map, reduce, …) are wrapped into these.
 * @module
 */
import type { Clock } from "../actors/time.ts";
import type { KeyGroupRange } from "../state/key_group.ts";
import type { KeyedTableSnapshot } from "../state/keyed_state.ts";
import type { StorageAdapter } from "../storage/adapter.ts";

/** Where an operator instance runs. */
export interface OperatorContext {
  readonly uid: string;
  readonly name: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  readonly maxParallelism: number;
  readonly keyGroupRange: KeyGroupRange;
  readonly clock: Clock;
  /** Execution attempt of the job (0 for the first run, +1 per restart). */
  readonly attempt: number;
  readonly jobName: string;
  /**
   * The job's storage adapter, for sources that keep a durable log of their own
   * (HttpIngestSource); absent where a runtime does not hand it out.
   */
  readonly storage?: StorageAdapter;
}

/**
 * What an operator snapshot holds. `keyed` is grouped by key group (redistributed by
 * range on rescale); `operator` is a list whose elements are dealt round-robin to the
 * new subtasks on rescale (Flink's operator ListState).
 */
export interface OperatorSnapshot {
  keyed?: Record<string, KeyedTableSnapshot>;
  operator?: unknown[];
}

/** State handed to an operator on restore: every old snapshot that overlaps it. */
export interface RestoredState {
  keyed: Record<string, KeyedTableSnapshot>[];
  operator: unknown[];
  /** Id of the checkpoint restored from. */
  checkpointId: number;
}

/** One operator of a chain. processBatch() gets a batch and returns the batch it emits. */
export interface StreamOperator {
  open(ctx: OperatorContext, restored: RestoredState | undefined): void | Promise<void>;
  processBatch(values: unknown[]): unknown[] | Promise<unknown[]>;
  /** Called at the snapshot point; must copy what it returns (it is encoded at once). */
  snapshotState(checkpointId: number): OperatorSnapshot;
  /**
   * Resolves once what snapshotState() pre-committed outside the state (a sink's
   * transaction files) is durable: the checkpoint is acknowledged only after.
   */
  preCommitted?(checkpointId: number): void | Promise<void>;
  notifyCheckpointComplete?(checkpointId: number): void | Promise<void>;
  notifyCheckpointAborted?(checkpointId: number): void;
  /** End of input: returns what the operator still emits. */
  finish?(): unknown[] | Promise<unknown[]>;
  close?(): void;
}

/** Reads one subtask's share of a source. */
export interface SourceReader {
  open(ctx: OperatorContext, restored: unknown[] | undefined): void | Promise<void>;
  /**
   * Up to `max` records; an empty batch when none are ready now (see waitMs), or null
   * once this reader has read everything.
   */
  poll(max: number): unknown[] | null | Promise<unknown[] | null>;
  /** After an empty poll: how long to wait before polling again. */
  waitMs?(): number;
  /** The read position, as a list of splits (dealt round-robin on rescale). */
  snapshotState(checkpointId: number): unknown[];
  notifyCheckpointComplete?(checkpointId: number): void | Promise<void>;
  close?(): void;
}

/** A replayable source. */
export interface Source<T = unknown> {
  createReader(ctx: OperatorContext): SourceReader;
  /** Type marker only. */
  readonly __type?: T;
}

/** Writes one subtask's share of a sink, two-phase: pre-commit at the snapshot, commit on completion. */
export interface SinkWriter {
  open(ctx: OperatorContext, restored: RestoredState | undefined): void | Promise<void>;
  write(values: unknown[]): void | Promise<void>;
  snapshotState(checkpointId: number): OperatorSnapshot;
  /** See StreamOperator.preCommitted: the checkpoint waits for it before it is acknowledged. */
  preCommitted?(checkpointId: number): void | Promise<void>;
  notifyCheckpointComplete(checkpointId: number): void | Promise<void>;
  notifyCheckpointAborted?(checkpointId: number): void;
  /**
   * End of input: no record follows, and the final checkpoint comes next (a file sink
   * closes its open part then, whatever its rolling policy says).
   */
  finish?(): void | Promise<void>;
  close?(): void;
}

/** A sink: creates one writer per subtask. */
export interface Sink<T = unknown> {
  createWriter(ctx: OperatorContext): SinkWriter;
  readonly __type?: T;
}
