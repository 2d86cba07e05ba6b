import { encode } from "../codec/cbor.ts";
import { copyBatch } from "../codec/values.ts";
import { OperatorError } from "../errors.ts";
import type { OperatorContext, SourceReader, StateCapture, StreamOperator } from "../dataflow/operator.ts";
import type { Batch } from "../actors/messages.ts";

/** Where a chain sends what is not records: the watermark and idleness at its end. */
export interface ChainEvents {
  watermark(watermark: number): void;
  status(idle: boolean): void;
}

const NO_EVENTS: ChainEvents = { watermark: () => {}, status: () => {} };

/** Runs then() after r, synchronously when r is not a promise. */
function after(r: void | Promise<void>, then: () => void | Promise<void>): void | Promise<void> {
  return r instanceof Promise ? r.then(then) : then();
}

/**
 * Calls an operator that does not read timestamps once per run of records with one
 * timestamp, and stamps its output with that run's timestamp.
 */
function byTimestamp(op: StreamOperator, values: Batch): unknown[] | Promise<unknown[]> {
  const ts = values.timestamps!;
  const out: Batch = [];
  const outTs: number[] = [];
  out.timestamps = outTs;
  let start = 0;
  const collect = (r: unknown[], t: number) => {
    for (let k = 0; k < r.length; k++) {
      out.push(r[k]);
      outTs.push(t);
    }
  };
  const loop = (): unknown[] | Promise<unknown[]> => {
    while (start < values.length) {
      const t = ts[start];
      let end = start + 1;
      while (end < values.length && Object.is(ts[end], t)) end++;
      const r = op.processBatch(start === 0 && end === values.length ? values.slice() : values.slice(start, end));
      start = end;
      if (r instanceof Promise) return r.then((v) => (collect(v, t), loop()));
      collect(r, t);
    }
    return out;
  };
  return loop();
}

/** A copy of a polled batch unless its records are primitives (copyBatch), with its split tag. */
function ownBatch(batch: Batch): Batch {
  const out: Batch = copyBatch(batch);
  if (out !== batch && batch.split !== undefined) out.split = batch.split;
  return out;
}

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
  readonly #events: ChainEvents;
  /** Indices of operators that generate watermarks (assigners). */
  readonly #generators: number[] = [];
  /** Indices of operators that want processing-time calls. */
  readonly #timed: number[] = [];

  constructor(operators: ChainedOperator[], source: OperatorChain["source"], emit: (values: unknown[]) => void, events: ChainEvents = NO_EVENTS) {
    this.operators = operators;
    this.source = source;
    this.#emit = emit;
    this.#events = events;
    operators.forEach(({ operator }, i) => {
      if (operator.takeWatermark) this.#generators.push(i);
      if (operator.nextProcessingTime) this.#timed.push(i);
    });
  }

  /** True when an operator of the chain generates watermarks: its watermarks and idleness replace the inputs'. */
  get generatesWatermarks(): boolean {
    return this.#generators.length > 0;
  }

  /** Runs a batch through operators[from..] and emits what comes out, then any watermark an assigner made of it. */
  process(values: unknown[], from = 0): void | Promise<void> {
    const r = this.#through(values, from);
    if (this.#generators.length === 0) return r;
    return after(r, () => this.#pollGenerators(from));
  }

  #through(values: Batch, from: number): void | Promise<void> {
    const ops = this.operators;
    for (let i = from; i < ops.length; i++) {
      let out: unknown[] | Promise<unknown[]>;
      const op = ops[i].operator;
      try {
        out = values.timestamps !== undefined && !op.timestamped ? byTimestamp(op, values) : op.processBatch(values);
      } catch (e) {
        throw this.error(i, e);
      }
      if (out instanceof Promise) {
        this.isAsync = true;
        return out.then((v) => this.#through(v, i + 1), (e) => {
          throw this.error(i, e);
        });
      }
      values = out;
    }
    this.#emit(values);
  }

  /** Passes on what the assigners at or after `from` generated. */
  #pollGenerators(from: number): void | Promise<void> {
    for (const g of this.#generators) {
      if (g < from) continue;
      const r = this.#pollGenerator(g);
      if (r instanceof Promise) return r.then(() => this.#pollGenerators(g + 1));
    }
  }

  #pollGenerator(g: number): void | Promise<void> {
    const made = this.operators[g].operator.takeWatermark!();
    if (made === undefined) return;
    if (made.idle !== undefined) this.#events.status(made.idle);
    if (made.watermark !== undefined) return this.advanceWatermark(made.watermark, g + 1);
  }

  /**
   * Event time reached `watermark` at operator `from`: each operator fires what is due and
   * its output goes down the chain before the watermark moves on; at the end of the chain
   * the watermark goes to the outputs. An assigner stops it (it makes its own), except the
   * final +Infinity of end of input.
   */
  advanceWatermark(watermark: number, from = 0): void | Promise<void> {
    const ops = this.operators;
    for (let i = from; i < ops.length; i++) {
      const op = ops[i].operator;
      // A watermark an assigner generated starts after it, so this is always an upstream one.
      if (op.takeWatermark && watermark !== Infinity) return;
      if (!op.processWatermark) continue;
      let out: unknown[] | Promise<unknown[]>;
      try {
        out = op.processWatermark(watermark);
      } catch (e) {
        throw this.error(i, e);
      }
      const next = () => this.advanceWatermark(watermark, i + 1);
      if (out instanceof Promise) {
        return out.then((v) => after(this.#through(v, i + 1), next), (e) => {
          throw this.error(i, e);
        });
      }
      if (out.length > 0) {
        const r = this.#through(out, i + 1);
        if (r instanceof Promise) return r.then(next);
      }
    }
    this.#events.watermark(watermark);
  }

  /** The earliest time an operator wants onProcessingTime called, or Infinity. */
  nextProcessingTime(): number {
    let t = Infinity;
    for (const i of this.#timed) t = Math.min(t, this.operators[i].operator.nextProcessingTime!());
    return t;
  }

  /** Processing time reached `now`: operators due fire, their output goes down the chain, assigners emit. */
  onProcessingTime(now: number, from = 0): void | Promise<void> {
    for (const i of this.#timed) {
      if (i < from) continue;
      const op = this.operators[i].operator;
      if (op.nextProcessingTime!() > now || !op.onProcessingTime) continue;
      let out: unknown[] | Promise<unknown[]>;
      try {
        out = op.onProcessingTime(now);
      } catch (e) {
        throw this.error(i, e);
      }
      const rest = (v: unknown[]): void | Promise<void> => {
        const r = v.length > 0 ? this.#through(v, i + 1) : undefined;
        return after(after(r, () => (op.takeWatermark ? this.#pollGenerator(i) : undefined)), () => this.onProcessingTime(now, i + 1));
      };
      if (out instanceof Promise) return out.then(rest, (e) => {
        throw this.error(i, e);
      });
      const r = rest(out);
      if (r instanceof Promise) return r;
      return;
    }
  }

  /**
   * Polls the source for up to max records. A reader may keep what it returned (a buffer
   * it replays, an object it refills), so the chain takes copies unless objects are reused.
   */
  poll(max: number): unknown[] | null | Promise<unknown[] | null> {
    const { reader, ctx } = this.source!;
    const own = ctx.objectReuse ? undefined : ownBatch;
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

  /**
   * The snapshot point: encodes the state of every operator now, or takes an operator's
   * asynchronous capture, to be stepped between records (errors of its steps name it).
   */
  capture(checkpointId: number, savepoint = false): Record<string, Uint8Array | StateCapture> {
    const out: Record<string, Uint8Array | StateCapture> = {};
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
        const capture = operator.captureState?.(checkpointId, { savepoint });
        out[ctx.uid] = capture ? this.#named(i, capture) : encode(operator.snapshotState(checkpointId), `the state of operator "${ctx.uid}"`);
      } catch (e) {
        throw this.error(i, e);
      }
    }
    return out;
  }

  /** A capture whose step errors name operator i. */
  #named(i: number, capture: StateCapture): StateCapture {
    return {
      step: (budget) => {
        try {
          const r = capture.step(budget);
          return r instanceof Promise ? r.catch((e) => Promise.reject(this.error(i, e))) : r;
        } catch (e) {
          throw this.error(i, e);
        }
      },
      // Read at each step: a capture may park in one phase and not in another.
      get awaitsStorageOnly() {
        return capture.awaitsStorageOnly;
      },
      bytes: () => capture.bytes(),
      // Without it a capture's parts (a heap state's writer chunks) were joined into one copy.
      parts: capture.parts ? () => capture.parts!() : undefined,
      // Without it sqlite's canonical files were read whole into memory instead of streamed.
      streamedParts: capture.streamedParts ? () => capture.streamedParts!() : undefined,
      release: () => capture.release(),
      sharedState: () => capture.sharedState?.() ?? [],
    };
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
