/**
 * The subtask actor: one step at a time it serves its priority lane (checkpoint control,
 * timers), takes a slice of data from its input (a source reader or its input channels),
 * or runs a slice of snapshot work. Its data input is a SourceInput or a ChannelInput,
 * its output side a SubtaskOutput, its checkpointing half SubtaskCheckpoints.
 * @module
 */
import { InputGate } from "../actors/input_gate.ts";
import type { InputChannelOwner } from "../actors/input_channel.ts";
import type { OutputChannelOwner } from "../actors/output_channel.ts";
import type { Dispatcher, Runnable } from "../actors/dispatcher.ts";
import type { Barrier } from "../actors/messages.ts";
import type { OutputGate } from "../actors/output_gate.ts";
import type { Timer } from "../actors/time.ts";
import type { OperatorContext, SourceReader, StateCapture } from "../dataflow/operator.ts";
import { ChannelInput } from "./channel_input.ts";
import { type ChainedOperator, OperatorChain } from "./operator_chain.ts";
import { type PriorityMessage, unknownPriorityMessage } from "./priority_message.ts";
import { SourceInput } from "./source_input.ts";
import { type CheckpointedActor, SubtaskCheckpoints } from "./subtask_checkpoints.ts";
import { StepSlice } from "./step_slice.ts";
import type { SubtaskHost } from "./subtask_host.ts";
import { SubtaskOutput } from "./subtask_output.ts";

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
  /** The output gates (SubtaskOutput's), one per outgoing edge. */
  readonly gates: OutputGate[];
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
  readonly #output: SubtaskOutput;
  /** The data input: a source reader, or else the input channels. */
  readonly #source: SourceInput | undefined;
  readonly #channels: ChannelInput | undefined;
  /** Stop-with-savepoint: nothing is read after its barrier unless the savepoint fails. */
  #suspended = false;
  #endedInput = false;
  #timers = new Set<Timer>();
  /** Start of the step in progress (an async one may last long), or -1. */
  #stepStartedAt = -1;
  /** Records a synchronous data step takes (source poll or slice of an input batch), sized by time. */
  readonly #slice: StepSlice;
  /** The processing-time call scheduled for the chain, and when it is due. */
  #processingTimer: Timer | undefined;
  #processingTimerAt = Infinity;

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
    const output = new SubtaskOutput(this, this.counters);
    this.#output = output;
    this.gates = output.gates;
    this.#chain = new OperatorChain(init.chain, init.reader, (values) => output.emit(values), {
      watermark: (w) => output.watermark(w),
      status: (idle) => output.status(idle),
    });
    this.fileMeta = { vertexId: init.vertexId, subtaskIndex: init.index, parallelism: init.parallelism, keyGroupRange: init.keyGroupRange };
    this.#checkpoints = new SubtaskCheckpoints(this, host, init.restoredCheckpointId);
    this.#slice = new StepSlice(host.batchSize, host.stepBudgetMs);
    const readerEnded = () => host.sourceFinished(this.vertexId, this.index);
    const source = { chain: this.#chain, slice: this.#slice, batchSize: host.batchSize, counters: this.counters, readerEnded };
    this.#source = init.reader ? new SourceInput(this, source) : undefined;
    this.#channels = init.reader ? undefined : new ChannelInput({
      inputs: this.inputs,
      chain: this.#chain,
      slice: this.#slice,
      checkpoints: this.#checkpoints,
      counters: this.counters,
      status: (idle) => output.status(idle),
      endOfInput: () => this.#endOfInput(),
    });
  }

  /** Called once every channel is connected. */
  connected(): void {
    this.inputs.connected();
    this.#channels?.connected();
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
  /** Flink's currentInputWatermark: its channels' minimum, or a source's own (-Infinity before any). */
  get inputWatermark(): number {
    return this.#channels?.watermark ?? this.#output.watermarkSent;
  }
  /** The last watermark it sent downstream (Flink's currentOutputWatermark). */
  get outputWatermark(): number {
    return this.#output.watermarkSent;
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
    this.#output.creditChanged();
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

  runnable(): boolean {
    if (this.#source?.polled && !this.#suspended) return true;
    if (this.#priority.length > 0) return true;
    // Snapshot work goes on even while the output is backpressured or the source waits.
    if (this.#checkpoints.hasWork) return true;
    return this.#dataRunnable();
  }

  #dataRunnable(): boolean {
    const source = this.#source;
    if (source?.polled && !this.#suspended) return true;
    if (this.#output.holdsBack()) return false;
    if (source) return source.pollable && !this.#suspended;
    return this.#channels!.readable;
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
    this.#output.close();
    this.#chain.close();
  }

  /** The counters including time spent so far in a wait or a step that has not ended yet. */
  countersNow(): SubtaskCounters {
    const now = this.now();
    const c = { ...this.counters };
    c.backpressuredMs += this.#output.backpressuredSoFar(now);
    if (this.#stepStartedAt >= 0) c.busyMs += now - this.#stepStartedAt;
    return c;
  }

  step(): void | Promise<void> {
    const started = this.now();
    this.#stepStartedAt = started;
    let result: void | Promise<void>;
    // Records a settled poll returned count in the reader's position already: they must
    // pass before a barrier can snapshot that position.
    if (this.#source?.polled && !this.#suspended) result = this.#source.processPolled();
    else if (this.#priority.length > 0) result = this.#onPriority(this.#priority.shift()!);
    else if (this.#checkpoints.hasWork && (this.#workTurn || !this.#dataRunnable())) {
      // Data steps and snapshot slices take turns: records flow while a snapshot is written.
      this.#workTurn = false;
      result = this.#checkpoints.runWork();
    } else {
      this.#workTurn = true;
      result = this.#readInput();
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

  /** Output batches go out as their buffer timeouts say (SubtaskOutput.endOfStep). */
  #endOfStep(started: number): void {
    const sliced = this.#sliced;
    this.#sliced = false;
    this.#output.endOfStep(started, sliced);
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

  /** One data step: a poll of the source (SourceInput: a pending poll does not hold the actor), or an item of the input channels. */
  #readInput(): void | Promise<void> {
    const source = this.#source;
    if (source) {
      const polled = source.poll();
      this.#sliced = source.sliced;
      return polled;
    }
    const channels = this.#channels!;
    const read = channels.read();
    this.#sliced = channels.sliced;
    return read;
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
    this.#source?.end();
    const then = () => {
      this.#output.endOfPartition();
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

