/**
 * The two-phase protocol shared by sinks whose pre-commit is the checkpoint itself: a
 * subtask keeps the records of a checkpoint in its operator state (so they are as durable
 * as the checkpoint and move with it on rescale) and commits them into the external
 * system once the checkpoint completed, in checkpoint order, through a commit that the
 * system makes idempotent per transaction id. Flink's `TwoPhaseCommitSinkFunction` with
 * the transaction's data held in state.
 * @module
 */
import { describe, WeirError } from "../errors.ts";
import type { OperatorContext, OperatorSnapshot, RestoredState, SinkWriter } from "../dataflow/operator.ts";
import { runOf, transactionId } from "./transaction_id.ts";

/** The records one subtask wrote between two checkpoints. */
export interface HeldTransaction<R> {
  /** Unique per job run, uid, subtask and checkpoint (see transaction_id.ts). */
  id: string;
  /**
   * The writer that made it (job run, uid, subtask): its transactions are committed in
   * checkpoint order, so the highest committed checkpoint per scope tells what is done.
   */
  scope: string;
  checkpointId: number;
  records: R[];
}

/** One subtask of such a sink; subclasses convert records and commit. */
export abstract class HeldTransactionsWriter<R> implements SinkWriter {
  protected readonly ctx: OperatorContext;
  readonly #run: string;
  #current: R[] = [];
  #pending: HeldTransaction<R>[] = [];

  constructor(ctx: OperatorContext) {
    this.ctx = ctx;
    this.#run = runOf(ctx);
  }

  /** Connects and checks the target (a missing stream fails here). */
  protected abstract connect(): Promise<void>;
  /** Turns a record into what is stored in the transaction; throws `sink_record_invalid`. */
  protected abstract convert(record: unknown): R;
  /** Commits one transaction; committing it again must change nothing. */
  protected abstract commit(t: HeldTransaction<R>): Promise<void>;
  /** Closes the connection (never throws). */
  protected abstract disconnect(): void;

  async open(_ctx: OperatorContext, restored: RestoredState | undefined): Promise<void> {
    await this.connect();
    const txns = (restored?.operator ?? []).map((t) => this.#check(t));
    // A completed stop-with-savepoint restored by a new run: its commits happened.
    if (restored?.transactionsCommitted) return;
    for (const t of txns.sort((a, b) => a.checkpointId - b.checkpointId)) await this.commit(t);
  }

  write(values: unknown[]): void {
    for (let i = 0; i < values.length; i++) this.#current.push(this.convert(values[i]));
  }

  snapshotState(checkpointId: number): OperatorSnapshot {
    if (this.#current.length > 0) {
      this.#pending.push({ id: transactionId(this.ctx, checkpointId, this.#run), scope: transactionId(this.ctx, 0, this.#run), checkpointId, records: this.#current });
      this.#current = [];
    }
    return { operator: this.#pending.map((t) => ({ ...t })) };
  }

  async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    while (this.#pending.length > 0 && this.#pending[0].checkpointId <= checkpointId) {
      await this.commit(this.#pending[0]);
      this.#pending.shift();
    }
  }

  /** An aborted checkpoint's records stay pending: the next completed checkpoint commits them. */
  notifyCheckpointAborted(_checkpointId: number): void {}

  close(): void {
    this.disconnect();
  }

  #check(t: unknown): HeldTransaction<R> {
    const x = t as HeldTransaction<R>;
    if (!x || typeof x.id !== "string" || typeof x.scope !== "string" || !Number.isInteger(x.checkpointId) || !Array.isArray(x.records)) {
      throw new WeirError("checkpoint_corrupt", `Sink "${this.ctx.uid}" cannot restore transaction ${describe(t).slice(0, 120)}`);
    }
    return x;
  }
}
