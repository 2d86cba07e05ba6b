import { encode } from "../codec/cbor.ts";
import { copyBatch } from "../codec/values.ts";
import { OperatorError } from "../errors.ts";
import type { OperatorContext, SourceReader, StreamOperator } from "../dataflow/operator.ts";

/** One element of an operator chain with the names used in errors. */
export interface ChainedOperator {
  operator: StreamOperator;
  ctx: OperatorContext;
}

/**
 * The operators chained into one subtask, optionally headed by a source reader. Batches
 * go through them in order; a promise from one operator (an async user function) makes
 * the rest of that batch's trip asynchronous. Every user error names its operator.
 */
export class OperatorChain {
  readonly operators: ChainedOperator[];
  readonly source: { reader: SourceReader; ctx: OperatorContext } | undefined;
  /** Set once an operator returned a promise: the subtask then feeds one record per step. */
  isAsync = false;
  readonly #emit: (values: unknown[]) => void;

  constructor(operators: ChainedOperator[], source: OperatorChain["source"], emit: (values: unknown[]) => void) {
    this.operators = operators;
    this.source = source;
    this.#emit = emit;
  }

  /** Runs a batch through operators[from..] and emits what comes out. */
  process(values: unknown[], from = 0): void | Promise<void> {
    const ops = this.operators;
    for (let i = from; i < ops.length; i++) {
      let out: unknown[] | Promise<unknown[]>;
      try {
        out = ops[i].operator.processBatch(values);
      } catch (e) {
        throw this.error(i, e);
      }
      if (out instanceof Promise) {
        this.isAsync = true;
        return out.then((v) => this.process(v, i + 1), (e) => {
          throw this.error(i, e);
        });
      }
      values = out;
    }
    this.#emit(values);
  }

  /**
   * Polls the source for up to max records. A reader may keep what it returned (a buffer
   * it replays, an object it refills), so the chain takes copies unless objects are reused.
   */
  poll(max: number): unknown[] | null | Promise<unknown[] | null> {
    const { reader, ctx } = this.source!;
    const own = ctx.objectReuse ? undefined : copyBatch;
    try {
      const polled = reader.poll(max);
      if (polled instanceof Promise) {
        return polled.then((b) => (b === null || !own ? b : own(b))).catch((e) => {
          throw new OperatorError(ctx.name, ctx.uid, e);
        });
      }
      return polled === null || !own ? polled : own(polled);
    } catch (e) {
      throw new OperatorError(ctx.name, ctx.uid, e);
    }
  }

  /** Calls finish() along the chain, passing what each emits through the rest. */
  finish(from = 0): void | Promise<void> {
    const ops = this.operators;
    for (let i = from; i < ops.length; i++) {
      const op = ops[i].operator;
      if (!op.finish) continue;
      let out: unknown[] | Promise<unknown[]>;
      try {
        out = op.finish();
      } catch (e) {
        throw this.error(i, e);
      }
      if (out instanceof Promise) {
        return out.then((v) => {
          const r = this.process(v, i + 1);
          return r instanceof Promise ? r.then(() => this.finish(i + 1)) : this.finish(i + 1);
        });
      }
      if (out.length > 0) {
        const r = this.process(out, i + 1);
        if (r instanceof Promise) return r.then(() => this.finish(i + 1));
      }
    }
  }

  /** Encodes the state of every operator, synchronously (the snapshot point). */
  capture(checkpointId: number): Record<string, Uint8Array> {
    const out: Record<string, Uint8Array> = {};
    if (this.source) {
      const { reader, ctx } = this.source;
      try {
        out[ctx.uid] = encode({ operator: reader.snapshotState(checkpointId) }, `the state of source "${ctx.uid}"`);
      } catch (e) {
        throw new OperatorError(ctx.name, ctx.uid, e);
      }
    }
    for (let i = 0; i < this.operators.length; i++) {
      const { operator, ctx } = this.operators[i];
      try {
        out[ctx.uid] = encode(operator.snapshotState(checkpointId), `the state of operator "${ctx.uid}"`);
      } catch (e) {
        throw this.error(i, e);
      }
    }
    return out;
  }

  /** Resolves when every operator's pre-commit of that snapshot is durable; undefined when none has one. */
  preCommitted(checkpointId: number): Promise<void> | undefined {
    let work: Promise<unknown>[] | undefined;
    for (let i = 0; i < this.operators.length; i++) {
      const r = this.operators[i].operator.preCommitted?.(checkpointId);
      if (r instanceof Promise) (work ??= []).push(r.catch((e) => Promise.reject(this.error(i, e))));
    }
    return work && Promise.all(work).then(() => {});
  }

  /** Tells every operator a checkpoint completed (transactional sinks commit here). */
  notifyComplete(checkpointId: number): void | Promise<void> {
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < this.operators.length; i++) {
      try {
        const r = this.operators[i].operator.notifyCheckpointComplete?.(checkpointId);
        if (r instanceof Promise) work.push(r.catch((e) => Promise.reject(this.error(i, e))));
      } catch (e) {
        throw this.error(i, e);
      }
    }
    const r = this.source?.reader.notifyCheckpointComplete?.(checkpointId);
    if (r instanceof Promise) work.push(r);
    if (work.length > 0) return Promise.all(work).then(() => {});
  }

  notifyAborted(checkpointId: number): void {
    for (const { operator } of this.operators) operator.notifyCheckpointAborted?.(checkpointId);
  }

  /** Closes everything; a failure while closing must not mask the one that stopped the job. */
  close(): void {
    for (const { operator } of this.operators) {
      try {
        operator.close?.();
      } catch { /* see above */ }
    }
    try {
      this.source?.reader.close?.();
    } catch { /* see above */ }
  }

  error(i: number, e: unknown): Error {
    if (e instanceof OperatorError) return e;
    const { ctx } = this.operators[i];
    return new OperatorError(ctx.name, ctx.uid, e);
  }
}
