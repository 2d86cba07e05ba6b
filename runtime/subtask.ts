import type { Channel } from "../actors/channel.ts";
import type { Runnable } from "../actors/dispatcher.ts";
import { type Barrier, type Batch, type EndOfPartition, isBatch } from "../actors/messages.ts";
import type { OutputGate } from "../actors/output_gate.ts";
import type { Timer } from "../actors/time.ts";
import { type AlignmentTiming, type BarrierController, BarrierHandler } from "../checkpoint/barrier_handler.ts";
import type { CheckpointFailureReason } from "../checkpoint/failure_reason.ts";
import { PendingSnapshot } from "../checkpoint/pending_snapshot.ts";
import { encode } from "../codec/cbor.ts";
import { OperatorError, WeirError } from "../errors.ts";
import type { OperatorContext, SourceReader, StreamOperator } from "../dataflow/operator.ts";
import type { SubtaskHost } from "./subtask_host.ts";

/** Control messages: always served before data. */
export type PriorityMessage =
  | { kind: "trigger"; barrier: Barrier }
  /** `queued`: items in the channel's queue when the barrier overtook them; later arrivals are post-barrier. */
  | { kind: "barrier"; barrier: Barrier; channel: number; queued: number }
  | { kind: "complete"; checkpointId: number; final: boolean }
  | { kind: "abort"; checkpointId: number; reason: CheckpointFailureReason }
  | { kind: "alignmentTimeout"; checkpointId: number }
  | { kind: "outputTimeout"; checkpointId: number }
  | { kind: "endInput"; checkpointId: number }
  | { kind: "resume" };

/** One element of an operator chain with the names used in errors. */
export interface ChainedOperator {
  operator: StreamOperator;
  ctx: OperatorContext;
}

/** The stats a subtask keeps for backpressure and metrics. */
export interface SubtaskCounters {
  recordsIn: number;
  recordsOut: number;
  busyMs: number;
  backpressuredMs: number;
}

/**
 * A subtask actor: an operator chain (optionally headed by a source reader), its input
 * channels with a priority lane, and its output gates. One message per step.
 */
export class Subtask implements Runnable, BarrierController {
  readonly vertexId: string;
  readonly index: number;
  readonly name: string;
  readonly inputs: Channel[] = [];
  readonly gates: OutputGate[] = [];
  busy = false;
  queued = false;
  alive = true;
  readonly counters: SubtaskCounters = { recordsIn: 0, recordsOut: 0, busyMs: 0, backpressuredMs: 0 };

  readonly #host: SubtaskHost;
  readonly #chain: ChainedOperator[];
  readonly #reader: { reader: SourceReader; ctx: OperatorContext } | undefined;
  readonly #priority: PriorityMessage[] = [];
  #blocked: boolean[] = [];
  #ended: boolean[] = [];
  /** Per input channel: the snapshot recording what is consumed there before its barrier. */
  #recording: (PendingSnapshot | undefined)[] = [];
  /** Per input channel: queue items the last priority barrier overtook there. */
  #overtaken: number[] = [];
  readonly #pending = new Map<number, PendingSnapshot>();
  #handler: BarrierHandler;
  #nextInput = 0;
  #asyncChain = false;
  #sourceDone = false;
  #sourceWaiting = false;
  /** Stop-with-savepoint: nothing is read after its barrier unless the savepoint fails. */
  #suspended = false;
  #endedInput = false;
  #timers = new Set<Timer>();
  #backpressuredSince = -1;
  readonly #parallelism: number;
  readonly #keyGroupRange: { start: number; end: number };

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
    },
  ) {
    this.#host = host;
    this.vertexId = init.vertexId;
    this.index = init.index;
    this.name = init.name;
    this.#chain = init.chain;
    this.#reader = init.reader;
    this.#parallelism = init.parallelism;
    this.#keyGroupRange = init.keyGroupRange;
    this.#handler = new BarrierHandler(this, init.restoredCheckpointId);
  }

  /** Called once every channel is connected. */
  connected(): void {
    this.#blocked = this.inputs.map(() => false);
    this.#ended = this.inputs.map(() => false);
    this.#recording = this.inputs.map(() => undefined);
    this.#overtaken = this.inputs.map(() => 0);
  }

  get inputCount(): number {
    return this.inputs.length;
  }
  get isSource(): boolean {
    return this.#reader !== undefined;
  }
  get barrierState(): string {
    return this.#handler.stateName;
  }
  /** Checkpoints this subtask is still collecting (channel state held in memory). */
  get pendingSnapshots(): number {
    return this.#pending.size;
  }

  now(): number {
    return this.#host.clock.now();
  }

  /** Wakes the actor; channels call this on new data and on returned credit. */
  wake = (): void => {
    if (this.#backpressuredSince >= 0 && !this.outputBlocked()) {
      this.counters.backpressuredMs += this.now() - this.#backpressuredSince;
      this.#backpressuredSince = -1;
    }
    this.#host.dispatcher.wake(this);
  };

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
    if (this.#priority.length > 0) return true;
    if (this.outputBlocked()) {
      if (this.#backpressuredSince < 0) this.#backpressuredSince = this.now();
      return false;
    }
    if (this.#reader) return !this.#sourceDone && !this.#sourceWaiting && !this.#suspended;
    return this.#consumable() >= 0;
  }

  #consumable(): number {
    const n = this.inputs.length;
    for (let k = 0; k < n; k++) {
      const c = (this.#nextInput + k) % n;
      if (!this.#blocked[c] && !this.#ended[c] && this.inputs[c].queue.length > 0) return c;
    }
    return -1;
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
    this.#pending.clear();
    for (const { operator } of this.#chain) {
      try {
        operator.close?.();
      } catch { /* closing after a failure must not mask it */ }
    }
    try {
      this.#reader?.reader.close?.();
    } catch { /* as above */ }
  }

  step(): void | Promise<void> {
    const started = this.now();
    let result: void | Promise<void>;
    if (this.#priority.length > 0) result = this.#onPriority(this.#priority.shift()!);
    else if (this.#reader) result = this.#pollSource();
    else result = this.#consumeInput();
    if (result instanceof Promise) {
      return result.then(() => {
        this.#flush();
        this.counters.busyMs += this.now() - started;
      });
    }
    this.#flush();
    this.counters.busyMs += this.now() - started;
  }

  #flush(): void {
    for (let i = 0; i < this.gates.length; i++) this.gates[i].flush();
  }

  // ---- data path ----

  #pollSource(): void | Promise<void> {
    const { reader, ctx } = this.#reader!;
    const max = this.#asyncChain ? 1 : this.#host.batchSize;
    let polled: unknown[] | null | Promise<unknown[] | null>;
    try {
      polled = reader.poll(max);
    } catch (e) {
      throw new OperatorError(ctx.name, ctx.uid, e);
    }
    if (polled instanceof Promise) {
      return polled.then((b) => this.#afterPoll(b), (e) => {
        throw new OperatorError(ctx.name, ctx.uid, e);
      });
    }
    return this.#afterPoll(polled);
  }

  #afterPoll(batch: unknown[] | null): void | Promise<void> {
    if (batch === null) {
      this.#sourceDone = true;
      this.#host.sourceFinished(this.vertexId, this.index);
      return;
    }
    if (batch.length === 0) {
      this.#sourceWaiting = true;
      const wait = Math.max(1, this.#reader!.reader.waitMs?.() ?? 1);
      this.#timer(wait, () => {
        this.#sourceWaiting = false;
        this.wake();
      });
      return;
    }
    this.counters.recordsIn += batch.length;
    return this.#runChain(batch, 0);
  }

  #consumeInput(): void | Promise<void> {
    const c = this.#consumable();
    if (c < 0) return;
    this.#nextInput = (c + 1) % this.inputs.length;
    const channel = this.inputs[c];
    const item = channel.peek()!;
    if (isBatch(item)) {
      let values: Batch;
      if (this.#asyncChain && item.length - channel.headOffset > 1) {
        // Async operators take one record per step, so that a priority barrier can
        // overtake the rest of the batch.
        values = [item[channel.headOffset++]];
      } else {
        values = channel.headOffset > 0 ? item.slice(channel.headOffset) : item;
        channel.shift();
      }
      const rec = this.#recording[c];
      if (rec) this.#record(rec, () => rec.recordInput(c, [values]));
      this.counters.recordsIn += values.length;
      return this.#runChain(values, 0);
    }
    channel.shift();
    if (item.kind === "barrier") {
      this.#handler.barrierReceived(c, item, false);
    } else {
      this.#ended[c] = true;
      this.#recording[c] = undefined;
      this.#handler.endOfPartition(c);
      if (this.#ended.every(Boolean)) return this.#endOfInput(item);
    }
  }

  #runChain(values: unknown[], from: number): void | Promise<void> {
    const chain = this.#chain;
    for (let i = from; i < chain.length; i++) {
      let out: unknown[] | Promise<unknown[]>;
      try {
        out = chain[i].operator.processBatch(values);
      } catch (e) {
        throw this.#operatorError(i, e);
      }
      if (out instanceof Promise) {
        this.#asyncChain = true;
        return out.then((v) => this.#runChain(v, i + 1), (e) => {
          throw this.#operatorError(i, e);
        });
      }
      values = out;
    }
    this.#emit(values);
  }

  #operatorError(i: number, e: unknown): Error {
    if (e instanceof OperatorError) return e;
    const { ctx } = this.#chain[i];
    return new OperatorError(ctx.name, ctx.uid, e);
  }

  #emit(values: unknown[]): void {
    if (values.length === 0) return;
    this.counters.recordsOut += values.length;
    for (let i = 0; i < this.gates.length; i++) this.gates[i].emit(values);
  }

  // ---- control path ----

  #onPriority(m: PriorityMessage): void | Promise<void> {
    switch (m.kind) {
      case "trigger":
        return this.#snapshotSource(m.barrier);
      case "barrier":
        this.#overtaken[m.channel] = m.queued;
        return this.#handler.barrierReceived(m.channel, m.barrier, true);
      case "alignmentTimeout":
        return this.#handler.alignmentTimeout(m.checkpointId);
      case "outputTimeout":
        return this.#convertOutputBarriers(m.checkpointId);
      case "abort":
        return this.#abortLocal(m.checkpointId, m.reason);
      case "complete":
        return this.#notifyComplete(m.checkpointId, m.final);
      case "endInput":
        return this.#endOfInput({ kind: "eop", checkpointId: m.checkpointId });
      case "resume":
        this.#suspended = false;
        return;
    }
  }

  #snapshotSource(barrier: Barrier): void {
    if (this.#endedInput) return;
    const operators = this.#captureOperators(barrier.checkpointId);
    if (!operators) return;
    const timing = { startDelayMs: Math.max(0, this.now() - barrier.timestamp), alignmentDurationMs: 0 };
    const snap = new PendingSnapshot(barrier, operators, barrier.unaligned, timing, this.#host.channelStateMaxBytes);
    snap.inputsDone = true;
    this.#pending.set(barrier.checkpointId, snap);
    this.#forwardBarrier(snap);
    if (barrier.terminate) this.#suspended = true;
  }

  /** Encodes the state of every operator in the chain, synchronously (the snapshot point). */
  #captureOperators(checkpointId: number): Record<string, Uint8Array> | undefined {
    const out: Record<string, Uint8Array> = {};
    if (this.#reader) {
      const { reader, ctx } = this.#reader;
      try {
        out[ctx.uid] = encode({ operator: reader.snapshotState(checkpointId) });
      } catch (e) {
        throw new OperatorError(ctx.name, ctx.uid, e);
      }
    }
    for (let i = 0; i < this.#chain.length; i++) {
      const { operator, ctx } = this.#chain[i];
      try {
        out[ctx.uid] = encode(operator.snapshotState(checkpointId));
      } catch (e) {
        throw this.#operatorError(i, e);
      }
    }
    return out;
  }

  /** Sends the barrier downstream: in-band after the data, or on the priority lane ahead of it. */
  #forwardBarrier(snap: PendingSnapshot): void {
    const barrier = snap.barrier;
    for (let g = 0; g < this.gates.length; g++) {
      const gate = this.gates[g];
      gate.flush();
      for (let c = 0; c < gate.channels.length; c++) {
        const channel = gate.channels[c];
        if (snap.unaligned) {
          this.#overtakeOutput(snap, g, c, channel.pending.length);
          (channel.receiver as Subtask).post({ kind: "barrier", barrier, channel: channel.inputIndex, queued: channel.queue.length });
        } else {
          channel.send(barrier);
          if (barrier.alignedTimeoutMs > 0 && channel.pending.includes(barrier)) {
            snap.waitingOutputs.add(`${g}:${c}`);
            channel.onBarrierDelivered = (b) => {
              if (b === barrier) this.#outputBarrierDelivered(snap, g, c);
            };
          }
        }
      }
    }
    if (snap.waitingOutputs.size > 0) {
      const delay = barrier.timestamp + barrier.alignedTimeoutMs - this.now();
      this.#timer(Math.max(0, delay), () => this.post({ kind: "outputTimeout", checkpointId: barrier.checkpointId }));
    }
    this.#maybeComplete(snap);
  }

  /** Records the first `count` batches of an output buffer as output channel state. */
  #overtakeOutput(snap: PendingSnapshot, g: number, c: number, count: number): void {
    const pending = this.gates[g].channels[c].pending;
    const batches: Batch[] = [];
    for (let i = 0; i < count; i++) {
      const item = pending[i];
      if (isBatch(item)) batches.push(item);
    }
    this.#record(snap, () => snap.recordOutput(g, c, batches));
  }

  #outputBarrierDelivered(snap: PendingSnapshot, g: number, c: number): void {
    this.gates[g].channels[c].onBarrierDelivered = undefined;
    snap.waitingOutputs.delete(`${g}:${c}`);
    this.#maybeComplete(snap);
  }

  /** Aligned-with-timeout, sender side: a barrier waited too long for credit and now overtakes. */
  #convertOutputBarriers(checkpointId: number): void {
    const snap = this.#pending.get(checkpointId);
    if (!snap) return;
    for (const key of [...snap.waitingOutputs]) {
      const [g, c] = key.split(":").map(Number);
      const channel = this.gates[g].channels[c];
      const at = channel.pending.indexOf(snap.barrier);
      if (at < 0) continue;
      this.#overtakeOutput(snap, g, c, at);
      snap.unaligned = true;
      channel.removePending(at);
      const unaligned: Barrier = { ...snap.barrier, unaligned: true };
      (channel.receiver as Subtask).post({ kind: "barrier", barrier: unaligned, channel: channel.inputIndex, queued: channel.queue.length });
      if (!this.#pending.has(checkpointId)) return;
      this.#outputBarrierDelivered(snap, g, c);
    }
  }

  /**
   * Runs a channel-state capture. A capture over the cap declines the checkpoint; the
   * handler hears of it through the priority lane, since this may run inside one of its
   * transitions.
   */
  #record(snap: PendingSnapshot, capture: () => void): void {
    try {
      capture();
    } catch (e) {
      if (e instanceof WeirError && e.code === "channel_state_too_large") {
        const id = snap.barrier.checkpointId;
        this.#dropPending(id);
        this.#host.decline(id, "channel_state_too_large", `${this.name}: ${e.message}`);
        this.post({ kind: "abort", checkpointId: id, reason: "channel_state_too_large" });
        return;
      }
      throw e;
    }
  }

  #maybeComplete(snap: PendingSnapshot): void {
    const id = snap.barrier.checkpointId;
    if (!snap.complete || this.#pending.get(id) !== snap) return;
    this.#pending.delete(id);
    const bytes = snap.toBytes({
      vertexId: this.vertexId,
      subtaskIndex: this.index,
      parallelism: this.#parallelism,
      keyGroupRange: this.#keyGroupRange,
    });
    this.#host.writeState(this.vertexId, this.index, id, bytes).then(
      (stateKey) => {
        if (!this.alive) return;
        this.#host.acknowledge({
          checkpointId: id,
          vertexId: this.vertexId,
          subtaskIndex: this.index,
          stateKey,
          stateSize: bytes.length,
          persistedData: snap.persistedBytes,
          unaligned: snap.unaligned,
          startDelayMs: snap.timing.startDelayMs,
          alignmentDurationMs: snap.timing.alignmentDurationMs,
          ackTimestamp: this.now(),
        });
      },
      (e) => {
        if (this.alive) this.#host.decline(id, "storage_failed", `${this.name}: ${(e as Error).message}`);
      },
    );
  }

  #dropPending(id: number): void {
    const snap = this.#pending.get(id);
    if (!snap) return;
    this.#pending.delete(id);
    for (let c = 0; c < this.#recording.length; c++) if (this.#recording[c] === snap) this.#recording[c] = undefined;
    for (const g of this.gates) for (const ch of g.channels) ch.onBarrierDelivered = undefined;
  }

  #abortLocal(id: number, reason: CheckpointFailureReason): void {
    this.#handler.abort(id, reason);
    this.#dropPending(id);
    for (const { operator } of this.#chain) operator.notifyCheckpointAborted?.(id);
  }

  #notifyComplete(id: number, final: boolean): void | Promise<void> {
    const work: Promise<void>[] = [];
    for (let i = 0; i < this.#chain.length; i++) {
      try {
        const r = this.#chain[i].operator.notifyCheckpointComplete?.(id);
        if (r instanceof Promise) work.push(r.catch((e) => Promise.reject(this.#operatorError(i, e))));
      } catch (e) {
        throw this.#operatorError(i, e);
      }
    }
    const r = this.#reader?.reader.notifyCheckpointComplete?.(id);
    if (r instanceof Promise) work.push(r);
    const done = () => {
      if (final) this.#host.finalCommitted(this.vertexId, this.index);
    };
    if (work.length > 0) return Promise.all(work).then(done);
    done();
  }

  /** Every input ended (or, for a source, the job asked it to): finish, snapshot, pass it on. */
  #endOfInput(eop: EndOfPartition): void | Promise<void> {
    if (this.#endedInput) return;
    this.#endedInput = true;
    this.#sourceDone = true;
    const finished = this.#finishChain(0);
    const then = () => {
      const barrier: Barrier = {
        kind: "barrier",
        checkpointId: eop.checkpointId,
        timestamp: this.now(),
        type: "CHECKPOINT",
        exactlyOnce: true,
        unaligned: false,
        alignedTimeoutMs: 0,
      };
      const operators = this.#captureOperators(eop.checkpointId);
      if (!operators) return;
      const snap = new PendingSnapshot(barrier, operators, false, { startDelayMs: 0, alignmentDurationMs: 0 }, this.#host.channelStateMaxBytes);
      snap.inputsDone = true;
      this.#pending.set(eop.checkpointId, snap);
      for (const g of this.gates) g.broadcastEvent(eop);
      this.#maybeComplete(snap);
    };
    if (finished instanceof Promise) return finished.then(then);
    then();
  }

  /** Calls finish() along the chain, passing what each emits through the rest. */
  #finishChain(from: number): void | Promise<void> {
    for (let i = from; i < this.#chain.length; i++) {
      const op = this.#chain[i].operator;
      if (!op.finish) continue;
      let out: unknown[] | Promise<unknown[]>;
      try {
        out = op.finish();
      } catch (e) {
        throw this.#operatorError(i, e);
      }
      if (out instanceof Promise) {
        return out.then((v) => {
          const r = this.#runChain(v, i + 1);
          return r instanceof Promise ? r.then(() => this.#finishChain(i + 1)) : this.#finishChain(i + 1);
        });
      }
      if (out.length > 0) {
        const r = this.#runChain(out, i + 1);
        if (r instanceof Promise) return r.then(() => this.#finishChain(i + 1));
      }
    }
  }

  #timer(delayMs: number, fn: () => void): void {
    const t = this.#host.scheduler.after(delayMs, () => {
      this.#timers.delete(t);
      if (this.alive) fn();
    });
    this.#timers.add(t);
  }

  // ---- BarrierController ----

  isEnded(channel: number): boolean {
    return this.#ended[channel];
  }
  block(channel: number): void {
    this.#blocked[channel] = true;
  }
  unblockAll(): void {
    this.#blocked.fill(false);
  }
  snapshotAligned(barrier: Barrier, timing: AlignmentTiming): void {
    const operators = this.#captureOperators(barrier.checkpointId);
    if (!operators) return;
    const snap = new PendingSnapshot(barrier, operators, false, timing, this.#host.channelStateMaxBytes);
    snap.inputsDone = true;
    this.#pending.set(barrier.checkpointId, snap);
    this.#forwardBarrier(snap);
  }
  snapshotUnaligned(barrier: Barrier, arrivedOn: number | undefined, seen: ReadonlySet<number>, timing: AlignmentTiming): number[] {
    const operators = this.#captureOperators(barrier.checkpointId)!;
    const ub: Barrier = barrier.unaligned ? barrier : { ...barrier, unaligned: true };
    const snap = new PendingSnapshot(ub, operators, true, timing, this.#host.channelStateMaxBytes);
    this.#pending.set(barrier.checkpointId, snap);
    const overtaken: number[] = [];
    for (let c = 0; c < this.inputs.length; c++) {
      if (this.#ended[c] || (seen.has(c) && c !== arrivedOn)) continue;
      const channel = this.inputs[c];
      if (c === arrivedOn) {
        const data = channel.queuedDataUntilEvent(this.#overtaken[c]);
        this.#record(snap, () => snap.recordInput(c, data));
        continue;
      }
      // An in-band barrier of this checkpoint already queued is overtaken with the data ahead of it.
      const data = channel.queuedDataUntilEvent();
      const next = channel.queue[data.length];
      if (next !== undefined && !isBatch(next) && next.kind === "barrier" && next.checkpointId === barrier.checkpointId) {
        this.#record(snap, () => snap.recordInput(c, data));
        channel.queue.splice(data.length, 1);
        overtaken.push(c);
      } else {
        // Pre-barrier data is recorded as it is consumed, and what is still queued when the barrier arrives.
        this.#recording[c] = snap;
        snap.recordingInputs.add(c);
      }
    }
    if (!this.#pending.has(barrier.checkpointId)) return overtaken;
    this.#forwardBarrier(snap);
    return overtaken;
  }
  barrierArrivedAfterSnapshot(checkpointId: number, channel: number, priority: boolean): void {
    const snap = this.#pending.get(checkpointId);
    if (!snap) return;
    if (priority) this.#record(snap, () => snap.recordInput(channel, this.inputs[channel].queuedDataUntilEvent(this.#overtaken[channel])));
    this.#recording[channel] = undefined;
    snap.recordingInputs.delete(channel);
  }
  recordingFinished(checkpointId: number, timing: AlignmentTiming): void {
    const snap = this.#pending.get(checkpointId);
    if (!snap) return;
    snap.timing = timing;
    snap.inputsDone = true;
    for (let c = 0; c < this.#recording.length; c++) if (this.#recording[c] === snap) this.#recording[c] = undefined;
    snap.recordingInputs.clear();
    this.#maybeComplete(snap);
  }
  scheduleAlignmentTimeout(barrier: Barrier): void {
    const delay = barrier.timestamp + barrier.alignedTimeoutMs - this.now();
    this.#timer(Math.max(0, delay), () => this.post({ kind: "alignmentTimeout", checkpointId: barrier.checkpointId }));
  }
  abortCheckpoint(checkpointId: number, reason: CheckpointFailureReason, decline: boolean): void {
    this.#dropPending(checkpointId);
    if (decline) this.#host.decline(checkpointId, reason, `${this.name} aborted checkpoint ${checkpointId}: ${reason}`);
  }
}
