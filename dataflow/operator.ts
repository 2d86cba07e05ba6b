/**
 * The contracts between the runtime and what runs inside a subtask: operators,
 * sources and sinks. User-facing functions (map, reduce, …) are wrapped into these.
 * @module
 */
import type { Clock } from "../actors/time.ts";
import type { KeyGroupRange } from "../state/key_group.ts";
import type { IncrementalKeyedState, KeyedStateBackend, SharedStateRef } from "../state/backend.ts";
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
  /**
   * The job run (32 hex digits). A restart by the restart strategy and a resume after a
   * crash keep it; a job started anew (also one started with `restoreFrom`) gets a new one.
   * Checkpoint ids never repeat within a run, so the pair names one checkpoint for good.
   */
  readonly jobId: string;
  /**
   * When true, records pass between operators by reference (Flink's
   * `enableObjectReuse`); otherwise an operator emits copies. Default false.
   */
  readonly objectReuse?: boolean;
  /** Period of generated watermarks in ms (the environment's `autoWatermarkInterval`); 200 when absent. */
  readonly autoWatermarkIntervalMs?: number;
  /**
   * Set only for the first operator chained to a source whose reader reports its splits
   * ({@link SourceReader.splits}): the splits that reader holds now (it was opened before
   * this operator). Its batches reach the operator tagged with their split (`split` of
   * Batch in actors/messages.ts), so that a watermark assigner there generates watermarks
   * per split (FLIP-27's per-split watermarks, Flink 1.11+).
   */
  readonly sourceSplits?: () => readonly string[];
  /**
   * Creates this operator's keyed state backend, the one the job's `state` options chose
   * (state/backend.ts is the contract). Absent where a runtime does not hand one out:
   * keyed operators then keep their state on the heap.
   */
  readonly keyedStateBackend?: () => KeyedStateBackend;
}

/**
 * What an operator snapshot holds. `keyed` is grouped by key group (redistributed by
 * range on rescale); `operator` is a list whose elements are dealt round-robin to the
 * new subtasks on rescale (Flink's operator ListState).
 */
export interface OperatorSnapshot {
  keyed?: Record<string, KeyedTableSnapshot>;
  /**
   * Keyed state in its backend's own format instead of `keyed` (a checkpoint of the sqlite
   * backend: shared files); restored whole by every new subtask whose range overlaps it.
   */
  keyedHandle?: IncrementalKeyedState;
  operator?: unknown[];
}

/** State handed to an operator on restore: every old snapshot that overlaps it. */
export interface RestoredState {
  keyed: Record<string, KeyedTableSnapshot>[];
  /** Keyed state in a backend's own format, from old subtasks whose range overlaps this one's. */
  keyedHandles?: IncrementalKeyedState[];
  operator: unknown[];
  /** Id of the checkpoint restored from. */
  checkpointId: number;
  /**
   * True when the side effects of the restored checkpoint are known to be committed: it is
   * a stop-with-savepoint restored by a new job run, and the run that took it ended
   * `stopped` after every sink committed (`sinksCommitted` in its `_metadata`). A sink then drops the
   * transactions it restores instead of committing them (again). False for checkpoints
   * and other savepoints, whose commit may not have happened: a sink commits their
   * transactions, idempotently per transaction id.
   */
  transactionsCommitted: boolean;
}

/** Bytes produced part by part while they are written; `size` is their total. */
export interface StreamedParts {
  size: number;
  parts: Iterable<Uint8Array>;
}

/**
 * The asynchronous part of an operator's snapshot (Flink's `AsyncSnapshotCallable`): taken
 * at the snapshot point, then stepped between records until its bytes are ready, so that
 * a large state is copied, encoded and checksummed without stopping the subtask.
 */
export interface StateCapture {
  /** Does about `budget` units of work (entries); true once bytes() is ready. */
  step(budget: number): boolean | Promise<boolean>;
  /** True when a promise step() returns only waits for storage: records may flow meanwhile (KeyedStateSnapshot's). */
  readonly awaitsStorageOnly?: boolean;
  /** The encoded OperatorSnapshot, as encode() writes it. */
  bytes(): Uint8Array;
  /**
   * Optional: the same bytes as parts, concatenated they are bytes(); a large state goes
   * to storage part by part (storage's putInParts) and is never joined into one buffer.
   */
  parts?(): Uint8Array[];
  /**
   * Optional, preferred over parts(): the bytes as parts produced while they are written
   * (read again from the backend), with their total size known now. The capture must not
   * be released before the parts were consumed.
   */
  streamedParts?(): StreamedParts | undefined;
  /** Frees what the capture holds (marks, copies); idempotent. */
  release(): void;
  /** The shared files (incremental checkpoints) the bytes refer to, once done; none when absent. */
  sharedState?(): SharedStateRef[];
}

/** One operator of a chain. processBatch() gets a batch and returns the batch it emits. */
export interface StreamOperator {
  open(ctx: OperatorContext, restored: RestoredState | undefined): void | Promise<void>;
  processBatch(values: unknown[]): unknown[] | Promise<unknown[]>;
  /** Called at the snapshot point; must copy what it returns (it is encoded at once). */
  snapshotState(checkpointId: number): OperatorSnapshot;
  /**
   * Called at the snapshot point instead of snapshotState() when present and it returns a
   * capture: the snapshot is then finished asynchronously. `savepoint`: the result must be
   * full and canonical.
   */
  captureState?(checkpointId: number, options: { savepoint: boolean }): StateCapture | undefined;
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

  // ---- event time and timers (all optional; see runtime/operator_chain.ts) ----

  /**
   * True when processBatch reads the records' timestamps (`values.timestamps`, see Batch in
   * actors/messages.ts) and stamps its output itself. Otherwise, in a job with event time,
   * the chain calls processBatch once per run of records with one timestamp and gives what
   * it returns that timestamp (Flink: an output record keeps its input's timestamp).
   */
  readonly timestamped?: boolean;
  /**
   * Records this operator dropped as later than its windows' allowed lateness with no late
   * side output to go to (Flink's `numLateRecordsDropped`), counted since the attempt started.
   */
  readonly lateRecordsDropped?: number;
  /**
   * Event time at this operator's input advanced to `watermark` (ms; +Infinity at end of
   * input): returns what fires (event-time timers, windows), timestamped. The watermark
   * passes on to the next operator after what this returned.
   */
  processWatermark?(watermark: number): unknown[] | Promise<unknown[]>;
  /**
   * An operator with this method generates watermarks (Flink's
   * `TimestampsAndWatermarksOperator`): the watermarks of its input stop at it (except the
   * final +Infinity), and the chain passes on, after each batch or processing-time call,
   * what this returns: a new watermark, an idleness change, or undefined.
   */
  takeWatermark?(): { watermark?: number; idle?: boolean } | undefined;
  /** The time (ms of ctx.clock) at which this operator wants onProcessingTime called, or Infinity. */
  nextProcessingTime?(): number;
  /** Processing time reached `now`: returns what fires (processing-time timers, windows), timestamped. */
  onProcessingTime?(now: number): unknown[] | Promise<unknown[]>;
}

/** Reads one subtask's share of a source. */
export interface SourceReader {
  open(ctx: OperatorContext, restored: unknown[] | undefined): void | Promise<void>;
  /**
   * Up to `max` records; an empty batch when none are ready now (see waitMs), or null
   * once this reader has read everything.
   *
   * The contract (FLIP-27's, Flink 1.12: a reader signals availability, the task never
   * blocks on it):
   * - A poll may return a promise and may keep it pending for long (a long poll against
   *   a server). The subtask does not wait for it: checkpoints, stop-with-savepoint,
   *   notifications and cancellation go on meanwhile, and no second poll starts until it
   *   settled.
   * - So `snapshotState` may be called while a poll is pending, and must then return the
   *   position *before* the records that poll will return: advance the position only in
   *   the step that hands records over (right before the promise resolves), never earlier.
   *   Records a settled poll returned are processed before any later snapshot.
   * - After a terminate savepoint (stop) or end of input, what a pending poll returns is
   *   dropped; the next run reads it again from the snapshotted position.
   * - `max` is a limit, not a target: the subtask asks for fewer records when they are
   *   costly to process, so that a step stays short. A rejected promise fails the job.
   *
   * @example
   * ```ts
   * import type { SourceReader } from "./operator.ts";
   * let next = 0;
   * // Stands for a client of an external system: its answer arrives later.
   * const server = { available: (max: number) => Promise.resolve(Math.min(max, 3 - next)) };
   * const reader: SourceReader = {
   *   open: (_ctx, restored) => { next = (restored?.[0] as number) ?? 0; },
   *   // Waits for data without blocking barriers; the position moves when records are handed over.
   *   poll: async (max) => {
   *     max = await server.available(max);
   *     const out = [];
   *     for (let i = 0; i < max && next < 3; i++) out.push(next++);
   *     return out.length > 0 ? out : null;
   *   },
   *   snapshotState: () => [next],
   * };
   * console.assert((await reader.poll(2))?.length === 2);
   * ```
   */
  poll(max: number): unknown[] | null | Promise<unknown[] | null>;
  /** After an empty poll: how long to wait before polling again. */
  waitMs?(): number;
  /**
   * Optional: the ids of the splits this reader holds and has not finished (FLIP-27's
   * splits: a file, a range of a sequence, a stream), [] when it holds none. Ids are
   * stable across restores and rescales (a split keeps its id when it moves to another
   * subtask). A reader that has this method returns from poll() records of one split at a
   * time and tags each non-empty batch with that split's id (`batch.split = id`, see Batch
   * in actors/messages.ts: one property per batch, nothing per record). A watermark
   * assigner chained to the source then generates watermarks per split and combines them
   * as the minimum over the splits that are not idle; a subtask with no split is idle.
   */
  splits?(): readonly string[];
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

/**
 * Writes one subtask's share of a sink, two-phase: pre-commit at the snapshot, commit on
 * completion (Flink's `TwoPhaseCommitSinkFunction`, FLIP-143's `SinkWriter`/`Committer`).
 *
 * **Transactions.** The records a subtask wrote between two snapshots form one
 * transaction, named by {@link sinkTransactionId}: job run, operator uid, subtask index and
 * checkpoint id. Never by checkpoint id alone: a job restored from an older savepoint
 * reuses checkpoint ids of the run that took it, and a sink that took those ids for
 * "already committed" would lose the new run's output. The contract:
 * - `snapshotState(n)` closes the open transaction as transaction n, makes it durable
 *   outside weir if it has to (or returns its records in the snapshot), and returns every
 *   transaction not yet committed, with its id, as operator state.
 * - `notifyCheckpointComplete(n)` commits every pending transaction up to n.
 * - `open(ctx, restored)` gets back the transactions the restored checkpoint held. Unless
 *   `restored.transactionsCommitted`, it commits them: a checkpoint's commit may not have
 *   happened before the failure. Committing one id twice must change nothing (the
 *   external system remembers committed ids, or the commit is a rename, an upsert…).
 *   With `transactionsCommitted` (a stop-with-savepoint whose sinks all committed,
 *   restored by a new run) it drops them, so a sink that is not idempotent does not see
 *   them twice.
 * - A transaction of an attempt that failed before its checkpoint completed is never
 *   committed; a later attempt of the same run may use the same id again (nothing of that
 *   checkpoint reached storage), so a pre-commit overwrites or aborts a leftover one.
 */
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

/**
 * The id of the sink transaction that subtask `ctx.subtaskIndex` of operator `ctx.uid`
 * pre-commits at checkpoint `checkpointId` of job run `ctx.jobId`: unique across runs,
 * restarts and rewinds to older savepoints (see {@link SinkWriter}). Made of
 * `<uid>-<subtask>-<checkpoint id, 10 digits>-<job id>`, so ids of one subtask sort by
 * checkpoint within a run; at most 56 characters plus the uid, file-name safe when the
 * uid is. Treat it as opaque.
 *
 * @example
 * ```ts
 * import { sinkTransactionId } from "./operator.ts";
 * const id = sinkTransactionId({ uid: "out", subtaskIndex: 1, jobId: "0123456789abcdef0123456789abcdef" }, 7);
 * console.assert(id === "out-1-0000000007-0123456789abcdef0123456789abcdef");
 * ```
 */
export function sinkTransactionId(ctx: Pick<OperatorContext, "uid" | "subtaskIndex" | "jobId">, checkpointId: number): string {
  return `${ctx.uid}-${ctx.subtaskIndex}-${String(checkpointId).padStart(10, "0")}-${ctx.jobId}`;
}

/** A sink: creates one writer per subtask. */
export interface Sink<T = unknown> {
  createWriter(ctx: OperatorContext): SinkWriter;
  readonly __type?: T;
}
