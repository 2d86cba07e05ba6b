import { WeirError } from "../errors.ts";
import { type OperatorContext, type OperatorSnapshot, type RestoredState, type Sink, type SinkWriter, sinkTransactionId } from "../dataflow/operator.ts";

/** A pre-committed transaction: records of one subtask between two checkpoints. */
interface Transaction {
  txn: string;
  checkpointId: number;
  records: unknown[];
}

/**
 * An exactly-once in-memory sink. Each subtask pre-commits its records at the snapshot
 * and commits them when the checkpoint completes; `committed` holds only records of
 * completed checkpoints (and of the final checkpoint at end of input), never one twice.
 *
 * @example
 * ```ts
 * import { CollectSink } from "./collect_sink.ts";
 * const sink = new CollectSink<number>();
 * console.assert(sink.committed.length === 0);
 * ```
 */
export class CollectSink<T = unknown> implements Sink<T> {
  declare readonly __type?: T;
  /** Records of completed checkpoints, in commit order. */
  readonly committed: T[] = [];
  readonly #committedTxns = new Set<string>();

  createWriter(ctx: OperatorContext): SinkWriter {
    return new CollectWriter(this as CollectSink<unknown>, ctx);
  }

  /**
   * Commits a transaction once; committing the same id again does nothing (recovery may
   * retry). Ids are {@link sinkTransactionId}s, unique per job run, so a run restored from
   * an older savepoint into this sink never has its output taken for "already committed".
   */
  commit(txn: string, records: readonly unknown[]): void {
    if (this.#committedTxns.has(txn)) return;
    this.#committedTxns.add(txn);
    for (const r of records) this.committed.push(r as T);
  }
}

class CollectWriter implements SinkWriter {
  readonly #sink: CollectSink<unknown>;
  readonly #ctx: OperatorContext;
  #current: unknown[] = [];
  #pending: Transaction[] = [];

  constructor(sink: CollectSink<unknown>, ctx: OperatorContext) {
    this.#sink = sink;
    this.#ctx = ctx;
  }

  open(_ctx: OperatorContext, restored: RestoredState | undefined): void {
    // Everything the restored checkpoint pre-committed belongs to a completed checkpoint:
    // commit it (again: idempotent by id), unless it is known committed already.
    for (const t of (restored?.operator ?? []) as Transaction[]) {
      if (!t || typeof t.txn !== "string" || !Array.isArray(t.records)) {
        throw new WeirError("checkpoint_corrupt", `CollectSink "${this.#ctx.uid}" cannot restore transaction ${JSON.stringify(t)?.slice(0, 80)}`);
      }
      if (!restored!.transactionsCommitted) this.#sink.commit(t.txn, t.records);
    }
  }

  write(values: unknown[]): void {
    const cur = this.#current;
    for (let i = 0; i < values.length; i++) cur.push(values[i]);
  }

  snapshotState(checkpointId: number): OperatorSnapshot {
    if (this.#current.length > 0) {
      this.#pending.push({ txn: sinkTransactionId(this.#ctx, checkpointId), checkpointId, records: this.#current });
      this.#current = [];
    }
    return { operator: this.#pending.map((t) => ({ ...t })) };
  }

  notifyCheckpointComplete(checkpointId: number): void {
    const rest: Transaction[] = [];
    for (const t of this.#pending) {
      if (t.checkpointId <= checkpointId) this.#sink.commit(t.txn, t.records);
      else rest.push(t);
    }
    this.#pending = rest;
  }
}
