import { InputGate } from "../actors/input_gate.ts";
import type { InputChannelOwner } from "../actors/input_channel.ts";
import type { OutputChannelOwner } from "../actors/output_channel.ts";
import type { Dispatcher, Runnable } from "../actors/dispatcher.ts";
import { type Barrier, type Batch, type EndOfPartition, isBatch, sliceBatch, unknownEvent } from "../actors/messages.ts";
import type { OutputGate } from "../actors/output_gate.ts";
import type { Timer } from "../actors/time.ts";
import type { CheckpointFailureReason } from "../checkpoint/failure_reason.ts";
import type { OperatorContext, SourceReader, StateCapture } from "../dataflow/operator.ts";
import { OperatorError, WeirError } from "../errors.ts";
import { type ChainedOperator, OperatorChain } from "./operator_chain.ts";
import { type CheckpointedActor, SubtaskCheckpoints } from "./subtask_checkpoints.ts";
import { StepSlice } from "./step_slice.ts";
import type { SubtaskHost } from "./subtask_host.ts";
import { type ValveOutput, WatermarkValve } from "./watermark_valve.ts";

const END_OF_PARTITION: EndOfPartition = Object.freeze({ kind: "eop" });

/** Control messages: always served before data. */
export type PriorityMessage =
  | { kind: "trigger"; barrier: Barrier }
  /** `overtakes`: the sequence number below which the channel's queued items are the barrier's in-flight data. */
  | { kind: "barrier"; barrier: Barrier; channel: number; overtakes: number }
  | { kind: "complete"; checkpointId: number; final: boolean }
  | { kind: "abort"; checkpointId: number; reason: CheckpointFailureReason }
  | { kind: "alignmentTimeout"; checkpointId: number }
  | { kind: "outputTimeout"; checkpointId: number }
  | { kind: "endInput" }
  | { kind: "finalSnapshot"; barrier: Barrier }
  | { kind: "resume" }
  /** Processing time reached an operator's timer (or an assigner's periodic emit). */
  | { kind: "processingTime" }
  /** A record waited its buffer timeout in a partly filled output batch: the step's end sends it. */
  | { kind: "flushOutput" };

export type { ChainedOperator };

/** The stats a subtask keeps for backpressure and metrics. */
export interface SubtaskCounters {
  recordsIn: number;
  recordsOut: number;
  busyMs: number;
  backpressuredMs: number;
}

/**
 * A subtask actor: an operator chain (optionally headed by a source reader), its input
 * channels with a priority lane, and its output gates. One message per step; the
 * checkpointing half lives in SubtaskCheckpoints.
 */
export class Subtask implements Runnable, CheckpointedActor, InputChannelOwner, OutputChannelOwner {
  readonly vertexId: string;
  readonly index: number;
  readonly name: string;
  readonly inputs: InputGate = new InputGate();
  readonly gates: OutputGate[] = [];
  readonly fileMeta: CheckpointedActor["fileMeta"];
  busy = false;
  queued = false;
  alive = true;
  clockAfterStep = -1;
  readonly counters: SubtaskCounters = { recordsIn: 0, recordsOut: 0, busyMs: 0, backpressuredMs: 0 };

  readonly #host: SubtaskHost;
  /** The dispatcher of the host this subtask runs on. */
  readonly #dispatcher: Dispatcher;
  readonly #chain: OperatorChain;
  readonly #priority: PriorityMessage[] = [];
  readonly #checkpoints: SubtaskCheckpoints;
  #sourceDone = false;
  #sourceWaiting = false;
  /** Stop-with-savepoint: nothing is read after its barrier unless the savepoint fails. */
  #suspended = false;
  #endedInput = false;
  #timers = new Set<Timer>();
  #backpressuredSince = -1;
  /** Start of the step in progress (an async one may last long), or -1. */
  #stepStartedAt = -1;
  /** A source poll that has not settled: the actor keeps serving its priority lane meanwhile. */
  #pollPending = false;
  /** What a settled poll returned (null: the reader ended), handled by the next step before any control message. */
  #polled: unknown[] | null | undefined;
  /** Records a synchronous data step takes (source poll or slice of an input batch), sized by time. */
  readonly #slice: StepSlice;
  /** Event time from the inputs (watermarks, idleness). */
  #valve = new WatermarkValve(0);
  /** The last watermark sent downstream, and whether this subtask told downstream it is idle. */
  #watermarkOut = -Infinity;
  #idleOut = false;
  /** The processing-time call scheduled for the chain, and when it is due. */
  #processingTimer: Timer | undefined;
  #processingTimerAt = Infinity;
  /** The call that sends output batches whose buffer timeout runs out, and when it is due. */
  #flushTimer: Timer | undefined;
  #flushTimerAt = Infinity;

  constructor(
    host: SubtaskHost,
    init: {
      vertexId: string;
      index: number;
      parallelism: number;
      name: string;
      chain: ChainedOperator[];
      reader?: { reader: SourceReader; ctx: OperatorContext };
      restoredCheckpointId: number;
      keyGroupRange: { start: number; end: number };
      dispatcher: Dispatcher;
    },
  ) {
    this.#host = host;
    this.#dispatcher = init.dispatcher;
    this.vertexId = init.vertexId;
    this.index = init.index;
    this.name = init.name;
    this.#chain = new OperatorChain(init.chain, init.reader, (values) => this.#emit(values), {
      watermark: (w) => this.#emitWatermark(w),
      status: (idle) => this.#emitStatus(idle),
    });
    this.fileMeta = { vertexId: init.vertexId, subtaskIndex: init.index, parallelism: init.parallelism, keyGroupRange: init.keyGroupRange };
    this.#checkpoints = new SubtaskCheckpoints(this, host, init.restoredCheckpointId);
    this.#slice = new StepSlice(host.batchSize, host.stepBudgetMs);
  }

  /** Called once every channel is connected. */
  connected(): void {
    this.inputs.connected();
    this.#valve = new WatermarkValve(this.inputs.inputCount);
    this.#checkpoints.connected(this.inputs.inputCount);
  }

  /** Everything is wired and open: processing-time timers restored overdue fire now, then the actor runs. */
  start(): void {
    this.#scheduleProcessingTime();
    this.wake();
  }

  get barrierState(): string {
    return this.#checkpoints.stateName;
  }
  /** Checkpoints this subtask is still collecting (channel state held in memory). */
  get pendingSnapshots(): number {
    return this.#checkpoints.pendingCount;
  }
  /** Late records its window operators dropped (Flink's numLateRecordsDropped). */
  get lateRecordsDropped(): number {
    let n = 0;
    for (const op of this.#chain.operators) n += op.operator.lateRecordsDropped ?? 0;
    return n;
  }

  now(): number {
    return this.#host.clock.now();
  }

  isEnded(channel: number): boolean {
    return this.inputs.isEnded(channel);
  }

  /** Wakes the actor; channels call this on new data and on returned credit. */
  wake = (): void => {
    if (this.#backpressuredSince >= 0 && !this.outputBlocked()) {
      this.counters.backpressuredMs += this.now() - this.#backpressuredSince;
      this.#backpressuredSince = -1;
    }
    this.#dispatcher.wake(this);
  };

  /** A priority barrier arrived on an input channel: it goes on the priority lane. */
  priorityBarrier(channel: number, barrier: Barrier, overtakes: number): void {
    this.post({ kind: "barrier", barrier, channel, overtakes });
  }

  /** Puts a control message on the priority lane. */
  post(message: PriorityMessage): void {
    if (!this.alive) return;
    this.#priority.push(message);
    this.wake();
  }

  outputBlocked(): boolean {
    for (let i = 0; i < this.gates.length; i++) if (this.gates[i].backpressured) return true;
    return false;
  }

  runnable(): boolean {
    if (this.#polled !== undefined && !this.#suspended) return true;
    if (this.#priority.length > 0) return true;
    // Snapshot work goes on even while the output is backpressured or the source waits.
    if (this.#checkpoints.hasWork) return true;
    return this.#dataRunnable();
  }

  #dataRunnable(): boolean {
    if (this.#polled !== undefined && !this.#suspended) return true;
    if (this.outputBlocked()) {
      if (this.#backpressuredSince < 0) this.#backpressuredSince = this.now();
      return false;
    }
    if (this.#chain.source) return !this.#sourceDone && !this.#sourceWaiting && !this.#suspended && !this.#pollPending && this.#polled === undefined;
    return this.inputs.next() >= 0;
  }

  fail(error: unknown): void {
    if (!this.alive) return;
    this.#host.failed(this.name, error);
  }

  /** Stops the actor for good: no more steps, timers cancelled, operators closed. */
  stop(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const t of this.#timers) t.cancel();
    this.#timers.clear();
    this.#checkpoints.clear();
    this.inputs.close();
    for (const g of this.gates) g.close();
    this.#chain.close();
  }

  /** The counters including time spent so far in a wait or a step that has not ended yet. */
  countersNow(): SubtaskCounters {
    const now = this.now();
    const c = { ...this.counters };
    if (this.#backpressuredSince >= 0) c.backpressuredMs += now - this.#backpressuredSince;
    if (this.#stepStartedAt >= 0) c.busyMs += now - this.#stepStartedAt;
    return c;
  }

  step(): void | Promise<void> {
    const started = this.now();
    this.#stepStartedAt = started;
    let result: void | Promise<void>;
    // Records a settled poll returned count in the reader's position already: they must
    // pass before a barrier can snapshot that position.
    if (this.#polled !== undefined && !this.#suspended) result = this.#processPolled();
    else if (this.#priority.length > 0) result = this.#onPriority(this.#priority.shift()!);
    else if (this.#checkpoints.hasWork && (this.#workTurn || !this.#dataRunnable())) {
      // Data steps and snapshot slices take turns: records flow while a snapshot is written.
      this.#workTurn = false;
      result = this.#checkpoints.runWork();
    } else {
      this.#workTurn = true;
      result = this.#chain.source ? this.#pollSource() : this.#consumeInput();
    }
    if (result instanceof Promise) {
      this.clockAfterStep = -1;
      // An async step's duration says nothing of what its records cost synchronously.
      this.#slice.forget();
      return result.then(() => {
        this.#endOfStep(started);
        this.#scheduleProcessingTime();
        this.counters.busyMs += this.now() - started;
        this.#stepStartedAt = -1;
      });
    }
    this.#endOfStep(started);
    this.#scheduleProcessingTime();
    const ended = this.now();
    this.clockAfterStep = ended;
    const took = ended - started;
    this.counters.busyMs += took;
    this.#stepStartedAt = -1;
    this.#slice.stepEnded(took);
  }

  /** The next step may be a snapshot slice (they alternate with data steps). */
  #workTurn = true;

  /** Set by a data step that left more of its batch (or of its source's ready records) for the next step. */
  #sliced = false;

  /**
   * Sends output batches as each gate's buffer timeout says (OutputGate.endOfStep) and
   * keeps one timer for the earliest record still waiting. A step that took only a slice
   * of a batch (more of it follows at once) leaves the batches of gates without a timeout
   * to fill up, so that slicing by time does not shrink what travels on channels; barriers,
   * watermarks and end of input flush before they go out.
   */
  #endOfStep(started: number): void {
    const sliced = this.#sliced;
    this.#sliced = false;
    const gates = this.gates;
    let due = Infinity;
    let now = -1;
    for (let i = 0; i < gates.length; i++) {
      const g = gates[i];
      if (g.bufferTimeoutMs === 0) {
        if (!sliced) g.flush();
        continue;
      }
      if (now < 0) now = this.now();
      due = Math.min(due, g.endOfStep(started, now));
    }
    if (due !== this.#flushTimerAt) this.#scheduleFlush(due);
  }

  #scheduleFlush(due: number): void {
    this.#flushTimer?.cancel();
    this.#flushTimer = undefined;
    this.#flushTimerAt = due;
    if (due === Infinity || !this.alive) return;
    this.#flushTimer = this.timer(Math.max(0, due - this.now()), () => {
      this.#flushTimer = undefined;
      this.#flushTimerAt = Infinity;
      this.post({ kind: "flushOutput" });
    });
  }

  #flush(): void {
    for (let i = 0; i < this.gates.length; i++) this.gates[i].flush();
  }

  /** Runs fn after delayMs unless the actor stopped by then. */
  timer(delayMs: number, fn: () => void): Timer {
    const t = this.#host.scheduler.after(delayMs, () => {
      this.#timers.delete(t);
      if (this.alive) fn();
    });
    this.#timers.add(t);
    return {
      cancel: () => {
        this.#timers.delete(t);
        t.cancel();
      },
    };
  }

  // ---- data path ----

  /**
   * A poll that returns a promise does not hold the actor: barriers, notifications and
   * cancellation go on while it is pending (FLIP-27: a reader signals availability, the
   * task never blocks on it). Its records are processed by the step after it settles.
   */
  #pollSource(): void | Promise<void> {
    const max = this.#chain.isAsync ? 1 : this.#slice.records;
    const polled = this.#chain.poll(max);
    if (!(polled instanceof Promise)) {
      // A slice smaller than a batch came back full: more is probably ready right away.
      this.#sliced = polled !== null && polled.length === max && max < this.#host.batchSize;
      return this.#afterPoll(polled);
    }
    this.#pollPending = true;
    polled.then(
      (batch) => {
        this.#pollPending = false;
        if (!this.alive) return;
        // After end of input nothing more is read; the position snapshotted before it excludes these.
        if (this.#endedInput) return;
        this.#polled = batch;
        this.wake();
      },
      (e) => {
        this.#pollPending = false;
        this.fail(e);
      },
    );
  }

  #processPolled(): void | Promise<void> {
    const batch = this.#polled as unknown[] | null;
    this.#polled = undefined;
    return this.#afterPoll(batch);
  }

  #afterPoll(batch: unknown[] | null): void | Promise<void> {
    if (batch === null) {
      this.#sourceDone = true;
      this.#host.sourceFinished(this.vertexId, this.index);
      return;
    }
    if (batch.length === 0) {
      this.#sourceWaiting = true;
      const wait = Math.max(1, this.#chain.source!.reader.waitMs?.() ?? 1);
      this.timer(wait, () => {
        this.#sourceWaiting = false;
        this.wake();
      });
      return;
    }
    this.counters.recordsIn += batch.length;
    this.#slice.took(batch.length);
    return this.#chain.process(batch);
  }

  #consumeInput(): void | Promise<void> {
    const c = this.inputs.next();
    if (c < 0) return;
    this.inputs.read(c);
    const channel = this.inputs.channels[c];
    const item = channel.peek()!;
    if (isBatch(item)) {
      let values: Batch;
      // Async operators take one record per step, synchronous ones a slice sized by time,
      // so that a priority barrier can overtake the rest of the batch.
      const slice = this.#chain.isAsync ? 1 : this.#slice.records;
      const left = item.length - channel.headOffset;
      if (left > slice) {
        values = sliceBatch(item, channel.headOffset, channel.headOffset + slice);
        channel.headOffset += slice;
        this.#sliced = !this.#chain.isAsync;
      } else {
        values = channel.headOffset > 0 ? sliceBatch(item, channel.headOffset) : item;
        channel.shift();
      }
      this.#checkpoints.consumed(c, values);
      this.counters.recordsIn += values.length;
      this.#slice.took(values.length);
      return this.#chain.process(values);
    }
    channel.shift();
    switch (item.kind) {
      case "barrier":
        return this.#checkpoints.inBandBarrier(c, item);
      case "eop": {
        const all = this.inputs.endOfPartition(c);
        this.#checkpoints.endOfPartition(c);
        if (all) return this.#endOfInput();
        return this.#valveChanged(this.#valve.ended(c));
      }
      case "watermark":
        this.#checkpoints.consumed(c, item);
        return this.#valveChanged(this.#valve.watermark(c, item.timestamp));
      case "watermarkStatus":
        this.#checkpoints.consumed(c, item);
        return this.#valveChanged(this.#valve.status(c, item.idle));
      default:
        return unknownEvent(item);
    }
  }

  /** The inputs' event time changed: an assigner in the chain makes its own, else it goes down the chain. */
  #valveChanged(out: ValveOutput): void | Promise<void> {
    if (this.#chain.generatesWatermarks) return;
    if (out.idle === true) this.#emitStatus(true);
    if (out.watermark !== undefined) return this.#chain.advanceWatermark(out.watermark);
    if (out.idle === false) this.#emitStatus(false);
  }

  /** Sends a watermark downstream after the records before it; never backwards, never +Infinity (end of partition says that). */
  #emitWatermark(watermark: number): void {
    if (!(watermark > this.#watermarkOut) || watermark === Infinity) return;
    this.#watermarkOut = watermark;
    if (this.#idleOut) this.#emitStatus(false);
    for (const g of this.gates) g.broadcastEvent({ kind: "watermark", timestamp: watermark });
  }

  #emitStatus(idle: boolean): void {
    if (idle === this.#idleOut) return;
    this.#idleOut = idle;
    for (const g of this.gates) g.broadcastEvent({ kind: "watermarkStatus", idle });
  }

  /** Keeps one timer for the earliest processing time an operator of the chain waits for. */
  #scheduleProcessingTime(): void {
    const at = this.#endedInput || !this.alive ? Infinity : this.#chain.nextProcessingTime();
    if (at === this.#processingTimerAt) return;
    this.#processingTimer?.cancel();
    this.#processingTimer = undefined;
    this.#processingTimerAt = at;
    if (at === Infinity) return;
    this.#processingTimer = this.timer(Math.max(0, at - this.now()), () => {
      this.#processingTimer = undefined;
      this.#processingTimerAt = Infinity;
      this.post({ kind: "processingTime" });
    });
  }

  #emit(values: unknown[]): void {
    if (values.length === 0) return;
    this.counters.recordsOut += values.length;
    let i = 0;
    try {
      for (; i < this.gates.length; i++) this.gates[i].emit(values);
    } catch (e) {
      // Only a key selector runs user code here.
      const { name, uid } = this.gates[i].target;
      throw new OperatorError(`keyBy key selector of ${name}`, uid, e);
    }
  }

  // ---- control path ----

  #onPriority(m: PriorityMessage): void | Promise<void> {
    switch (m.kind) {
      case "trigger":
        if (this.#endedInput) return;
        this.#checkpoints.snapshotNow(m.barrier, Math.max(0, this.now() - m.barrier.timestamp));
        if (m.barrier.terminate) this.#suspended = true;
        return;
      case "barrier":
        return this.#checkpoints.priorityBarrier(m.channel, m.barrier, m.overtakes);
      case "alignmentTimeout":
        return this.#checkpoints.alignmentTimeout(m.checkpointId);
      case "outputTimeout":
        return this.#checkpoints.convertOutputBarriers(m.checkpointId);
      case "abort":
        this.#checkpoints.abort(m.checkpointId, m.reason);
        this.#chain.notifyAborted(m.checkpointId);
        return;
      case "complete":
        return this.#notifyComplete(m.checkpointId, m.final);
      case "endInput":
        return this.#endOfInput();
      case "finalSnapshot":
        return this.#checkpoints.snapshotFinal(m.barrier);
      case "resume":
        this.#suspended = false;
        return;
      case "processingTime":
        if (this.#endedInput || this.#suspended) return;
        return this.#chain.onProcessingTime(this.now());
      case "flushOutput":
        // The end of this step sends what is due (#endOfStep).
        return;
      default:
        return unknownPriorityMessage(m);
    }
  }

  /** The snapshot point: every operator's state, encoded or captured to be finished asynchronously. */
  captureOperators(checkpointId: number, savepoint: boolean): Record<string, Uint8Array | StateCapture> {
    return this.#chain.capture(checkpointId, savepoint);
  }

  preCommitted(checkpointId: number): Promise<void> | undefined {
    return this.#chain.preCommitted(checkpointId);
  }

  #notifyComplete(id: number, final: boolean): void | Promise<void> {
    const done = () => {
      if (final) this.#host.finalCommitted(this.vertexId, this.index);
    };
    const r = this.#chain.notifyComplete(id);
    if (r instanceof Promise) return r.then(done);
    done();
  }

  /**
   * Every input ended (or, for a source, the job asked it to): operators finish and flush,
   * end-of-partition goes downstream after everything else, and the job hears of it. The
   * final checkpoint comes later, once every subtask got here.
   */
  #endOfInput(): void | Promise<void> {
    if (this.#endedInput) return;
    this.#endedInput = true;
    this.#sourceDone = true;
    const then = () => {
      this.#flush();
      for (const g of this.gates) g.broadcastEvent(END_OF_PARTITION);
      this.#host.inputEnded(this.vertexId, this.index);
    };
    // End of input is the end of event time: every event-time timer and window fires.
    const fired = this.#chain.advanceWatermark(Infinity);
    const finish = () => {
      const finished = this.#chain.finish();
      if (finished instanceof Promise) return finished.then(then);
      then();
    };
    return fired instanceof Promise ? fired.then(finish) : finish();
  }

}

/** The default branch of the priority-lane switch: a message kind nobody handles fails loudly. */
function unknownPriorityMessage(m: never): never {
  throw new WeirError("invariant_broken", `Unknown priority message kind ${JSON.stringify((m as { kind?: unknown })?.kind)}`);
}
