/**
 * The checkpointing half of a subtask actor: barrier alignment, channel-state recording
 * and barrier forwarding for the snapshots in flight; the finished ones go to SnapshotWriter.
 * @module
 */
import type { CheckpointableInput } from "../actors/input_gate.ts";
import type { Barrier, ChannelStateItem } from "../actors/messages.ts";
import type { OutputGate } from "../actors/output_gate.ts";
import type { Timer } from "../actors/time.ts";
import { type AlignmentTiming, type BarrierController, BarrierHandler } from "../checkpoint/barrier_handler.ts";
import type { CheckpointFailureReason } from "../checkpoint/failure_reason.ts";
import { PendingSnapshot, type SubtaskStateFile } from "../checkpoint/pending_snapshot.ts";
import { WeirError } from "../errors.ts";
import { captureFailure, isStorageFailure } from "./capture_failure.ts";
import type { StateCapture } from "../dataflow/operator.ts";
import { SnapshotWork } from "./snapshot_work.ts";
import { type ChannelPeers, SnapshotWriter } from "./snapshot_writer.ts";
import type { PriorityMessage } from "./priority_message.ts";
import type { SubtaskHost } from "./subtask_host.ts";

/** What the checkpointing half of a subtask needs from the actor. */
export interface CheckpointedActor {
  readonly name: string;
  /** The inputs, only as far as checkpointing may act on them. */
  readonly inputs: CheckpointableInput;
  readonly gates: OutputGate[];
  readonly alive: boolean;
  readonly fileMeta: Omit<SubtaskStateFile, "operators" | "inputChannels" | "outputChannels" | "checkpointId" | "channelPeers">;
  isEnded(channel: number): boolean;
  now(): number;
  post(message: PriorityMessage): void;
  timer(delayMs: number, fn: () => void): Timer;
  /** Makes the actor runnable again (snapshot work that waited for an upload may go on). */
  wake(): void;
  /** Fails the subtask. */
  fail(error: unknown): void;
  /** The snapshot point: each operator's state encoded, or captured to be finished asynchronously. */
  captureOperators(checkpointId: number, savepoint: boolean): Record<string, Uint8Array | StateCapture>;
  /** Resolves once what the operators pre-committed at that snapshot is durable. */
  preCommitted(checkpointId: number): Promise<void> | undefined;
}

/**
 * The checkpointing half of a subtask: barrier alignment (through the BarrierHandler
 * state machine), the snapshots being collected, channel-state recording, and forwarding
 * barriers in-band or ahead of the output buffers; SnapshotWriter writes and acks the result.
 */
export class SubtaskCheckpoints implements BarrierController {
  readonly #actor: CheckpointedActor;
  readonly #host: SubtaskHost;
  readonly #handler: BarrierHandler;
  readonly #pending = new Map<number, PendingSnapshot>();
  /** Per input channel: the snapshot recording what is consumed there before its barrier. */
  #recording: (PendingSnapshot | undefined)[] = [];
  /** Per input channel: the mark (sequence number) of the last priority barrier handled there. */
  #overtaken: number[] = [];
  /** Alignment and output timeouts by checkpoint, cancelled once they cannot matter. */
  readonly #timeouts = new Map<number, Timer[]>();

  /** The asynchronous part of the snapshots: captures, then the state file's checksum. */
  readonly #work: SnapshotWork;
  /** Lays out, writes and acknowledges complete snapshots. */
  readonly #writer: SnapshotWriter;

  constructor(actor: CheckpointedActor, host: SubtaskHost, restoredCheckpointId: number) {
    this.#actor = actor;
    this.#host = host;
    this.#handler = new BarrierHandler(this, restoredCheckpointId);
    this.#work = new SnapshotWork(actor, host.stepBudgetMs, { wake: () => actor.wake(), fail: (e) => actor.fail(e) });
    this.#writer = new SnapshotWriter(actor, { host, work: this.#work, peers: this.#peers });
  }

  /** Snapshot work waits for a slice of the actor. */
  get hasWork(): boolean {
    return this.#work.pending;
  }

  /** One slice of snapshot work. */
  runWork(): void | Promise<void> {
    return this.#work.run();
  }

  /** Sizes the per-channel bookkeeping once the inputs are wired. */
  connected(inputCount: number): void {
    this.#recording = new Array(inputCount).fill(undefined);
    this.#overtaken = new Array(inputCount).fill(0);
  }

  get inputCount(): number {
    return this.#actor.inputs.inputCount;
  }
  get stateName(): string {
    return this.#handler.stateName;
  }
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Records consumed pre-barrier data (or a watermark event) of a channel that is being recorded. */
  consumed(channel: number, values: ChannelStateItem): void {
    const rec = this.#recording[channel];
    if (rec) this.#record(rec, () => rec.recordInput(channel, [values]));
  }

  inBandBarrier(channel: number, barrier: Barrier): void {
    this.#handler.barrierReceived(channel, barrier, false);
  }
  /** A priority barrier on `channel`, overtaking the items queued there below sequence number `overtakes`. */
  priorityBarrier(channel: number, barrier: Barrier, overtakes: number): void {
    this.#overtaken[channel] = overtakes;
    this.#handler.barrierReceived(channel, barrier, true);
  }
  endOfPartition(channel: number): void {
    this.#recording[channel] = undefined;
    this.#handler.endOfPartition(channel);
  }
  alignmentTimeout(checkpointId: number): void {
    this.#handler.alignmentTimeout(checkpointId);
  }

  /** The coordinator aborted a checkpoint, or a capture declined it: drop its work here. */
  abort(checkpointId: number, reason: CheckpointFailureReason): void {
    this.#handler.abort(checkpointId, reason);
    this.#dropPending(checkpointId);
  }

  #timeout(checkpointId: number, delayMs: number, kind: "outputTimeout" | "alignmentTimeout"): void {
    const t = this.#actor.timer(Math.max(0, delayMs), () => this.#actor.post({ kind, checkpointId }));
    const list = this.#timeouts.get(checkpointId);
    if (list) list.push(t);
    else this.#timeouts.set(checkpointId, [t]);
  }

  #cancelTimeouts(checkpointId: number): void {
    for (const t of this.#timeouts.get(checkpointId) ?? []) t.cancel();
    this.#timeouts.delete(checkpointId);
  }

  /** Forgets everything (the actor stopped). */
  clear(): void {
    this.#work.clear();
    for (const snap of this.#pending.values()) snap.releaseCaptures();
    this.#pending.clear();
  }

  /** A source's snapshot on trigger, or any subtask's final one at end of input: no alignment. */
  snapshotNow(barrier: Barrier, startDelayMs: number): void {
    const snap = this.#snapshot(barrier, barrier.unaligned, { startDelayMs, alignmentDurationMs: 0 });
    snap.inputsDone = true;
    this.#forwardBarrier(snap);
  }

  /** The snapshot point: operator state is captured now; channel state may follow. */
  #snapshot(barrier: Barrier, unaligned: boolean, timing: AlignmentTiming): PendingSnapshot {
    // The alignment (if any) is over: its timeout cannot matter any more.
    this.#cancelTimeouts(barrier.checkpointId);
    const syncStartedAt = this.#actor.now();
    const operators = this.#actor.captureOperators(barrier.checkpointId, barrier.type === "SAVEPOINT");
    const snap = new PendingSnapshot(barrier, operators, unaligned, timing, this.#host.channelStateMaxBytes);
    snap.syncDurationMs = this.#actor.now() - syncStartedAt;
    snap.asyncStartedAt = this.#actor.now();
    snap.preCommitted = this.#actor.preCommitted(barrier.checkpointId);
    this.#pending.set(barrier.checkpointId, snap);
    for (const [uid, capture] of snap.captures) {
      this.#work.add({
        checkpointId: barrier.checkpointId,
        firstBudget: Math.min(1024, this.#host.snapshotSliceMax ?? Infinity),
        // Capped: a capture's phases cost differently per entry (visiting, encoding), and a
        // slice grown in a cheap phase must not overrun the budget in the next one.
        maxBudget: this.#host.snapshotSliceMax ?? 4096,
        get parkable() {
          return capture.awaitsStorageOnly === true;
        },
        step: (n) => {
          let r: boolean | Promise<boolean>;
          try {
            r = capture.step(n);
          } catch (e) {
            // A local write of the capture's own that failed (a sqlite changelog file on a
            // full disk) fails the checkpoint, as a failed upload does; any other error fails
            // the operator.
            if (isStorageFailure(e)) return this.#captureFailed(barrier.checkpointId, e);
            throw e;
          }
          // A capture waiting for I/O (a changelog upload) that fails declines its checkpoint
          // (out of disk, storage down); committed state stays as it was.
          return r instanceof Promise ? r.catch((e) => this.#captureFailed(barrier.checkpointId, e)) : r;
        },
        done: () => {
          snap.captured(uid);
          this.#maybeComplete(snap);
        },
        drop: () => capture.release(),
        stepTook: (ms) => snap.stepTook(ms),
      });
    }
    return snap;
  }

  /**
   * The final snapshot at end of input: the end-of-partition event already went
   * downstream in-band, so the barrier is not forwarded.
   */
  snapshotFinal(barrier: Barrier): void {
    const snap = this.#snapshot(barrier, false, { startDelayMs: 0, alignmentDurationMs: 0 });
    snap.inputsDone = true;
    this.#maybeComplete(snap);
  }

  /** Sends the barrier downstream: in-band after the data, or on the priority lane ahead of it. */
  #forwardBarrier(snap: PendingSnapshot): void {
    const barrier = snap.barrier;
    const gates = this.#actor.gates;
    for (let g = 0; g < gates.length; g++) {
      const gate = gates[g];
      gate.flush();
      for (let c = 0; c < gate.channels.length; c++) {
        const channel = gate.channels[c];
        if (snap.unaligned) {
          this.#overtakeOutput(snap, g, c, channel.sendPriority(barrier)!);
        } else {
          const sent = channel.send(barrier);
          if (barrier.alignedTimeoutMs > 0 && !sent) {
            snap.waitingOutputs.add(`${g}:${c}`);
            // One listener per channel serves every checkpoint whose barrier waits there.
            channel.onBarrierDelivered ??= (b) => {
              const waiting = this.#pending.get(b.checkpointId);
              if (waiting && waiting.barrier === b) this.#outputBarrierDelivered(waiting, g, c);
            };
          }
        }
      }
    }
    if (snap.waitingOutputs.size > 0) {
      const delay = barrier.timestamp + barrier.alignedTimeoutMs - this.#actor.now();
      this.#timeout(barrier.checkpointId, delay, "outputTimeout");
    }
    this.#maybeComplete(snap);
  }

  /** Records what a priority barrier overtook in an output buffer (batches and watermark events) as output channel state. */
  #overtakeOutput(snap: PendingSnapshot, g: number, c: number, batches: ChannelStateItem[]): void {
    this.#record(snap, () => snap.recordOutput(g, c, batches));
  }

  #outputBarrierDelivered(snap: PendingSnapshot, g: number, c: number): void {
    snap.waitingOutputs.delete(`${g}:${c}`);
    this.#maybeComplete(snap);
  }

  /** Aligned-with-timeout, sender side: a barrier waited too long for credit and now overtakes. */
  convertOutputBarriers(checkpointId: number): void {
    const snap = this.#pending.get(checkpointId);
    if (!snap) return;
    for (const key of [...snap.waitingOutputs]) {
      const [g, c] = key.split(":").map(Number);
      const channel = this.#actor.gates[g].channels[c];
      const overtaken = channel.sendPriority({ ...snap.barrier, unaligned: true }, snap.barrier);
      if (overtaken === undefined) continue;
      this.#overtakeOutput(snap, g, c, overtaken);
      snap.unaligned = true;
      if (!this.#pending.has(checkpointId)) return;
      this.#outputBarrierDelivered(snap, g, c);
    }
  }

  /**
   * Runs a channel-state capture. A capture over the cap, or of a record that cannot be
   * encoded, declines the checkpoint (the records themselves flow on untouched); the
   * handler hears of it through the priority lane, since this may run inside one of its
   * transitions.
   */
  #record(snap: PendingSnapshot, capture: () => void): void {
    try {
      capture();
    } catch (e) {
      if (e instanceof WeirError && (e.code === "channel_state_too_large" || e.code === "record_not_serializable")) {
        const id = snap.barrier.checkpointId;
        const reason = e.code === "channel_state_too_large" ? "channel_state_too_large" : "checkpoint_declined";
        this.#dropPending(id);
        this.#host.decline(id, reason, `${this.#actor.name}: ${e.message}`);
        this.#actor.post({ kind: "abort", checkpointId: id, reason });
        return;
      }
      throw e;
    }
  }

  #maybeComplete(snap: PendingSnapshot): void {
    const id = snap.barrier.checkpointId;
    if (!snap.complete || this.#pending.get(id) !== snap) return;
    this.#pending.delete(id);
    this.#cancelTimeouts(id);
    this.#writer.write(snap);
  }

  #captureFailed(checkpointId: number, e: unknown): false {
    this.#dropPending(checkpointId);
    if (this.#actor.alive) this.#host.decline(checkpointId, "storage_failed", `${this.#actor.name}: ${captureFailure(e)}`);
    return false;
  }

  /** The other ends of this subtask's channels, written with channel state so that a rescaled restore can route it. */
  readonly #peers: ChannelPeers = {
    input: (c) => this.#actor.inputs.peer(c),
    output: (key) => {
      const [g, c] = key.split(":").map(Number);
      return this.#actor.gates[g].channels[c].address.receiver;
    },
  };

  #dropPending(id: number): void {
    this.#cancelTimeouts(id);
    this.#work.drop(id);
    const snap = this.#pending.get(id);
    if (!snap) return;
    snap.releaseCaptures();
    this.#pending.delete(id);
    for (let c = 0; c < this.#recording.length; c++) if (this.#recording[c] === snap) this.#recording[c] = undefined;
  }

  // ---- BarrierController ----

  isEnded(channel: number): boolean {
    return this.#actor.isEnded(channel);
  }
  now(): number {
    return this.#actor.now();
  }
  block(channel: number): void {
    this.#actor.inputs.block(channel);
  }
  unblockAll(): void {
    this.#actor.inputs.resumeAll();
  }
  snapshotAligned(barrier: Barrier, timing: AlignmentTiming): void {
    const snap = this.#snapshot(barrier, false, timing);
    snap.inputsDone = true;
    this.#forwardBarrier(snap);
  }
  snapshotUnaligned(barrier: Barrier, arrivedOn: number | undefined, seen: ReadonlySet<number>, timing: AlignmentTiming): number[] {
    const snap = this.#snapshot(barrier.unaligned ? barrier : { ...barrier, unaligned: true }, true, timing);
    const overtaken: number[] = [];
    const inputs = this.#actor.inputs;
    for (let c = 0; c < inputs.inputCount; c++) {
      if (inputs.isEnded(c) || (seen.has(c) && c !== arrivedOn)) continue;
      if (c === arrivedOn) {
        const batches = inputs.overtakenData(c, this.#overtaken[c]);
        this.#record(snap, () => snap.recordInput(c, batches));
        continue;
      }
      // An in-band barrier of this checkpoint already queued is overtaken with the data ahead of it.
      const batches = inputs.convertToPriority(c, barrier.checkpointId);
      if (batches !== undefined) {
        this.#record(snap, () => snap.recordInput(c, batches));
        overtaken.push(c);
      } else {
        // Pre-barrier data is recorded as it is consumed, and what is still queued when the barrier arrives.
        this.#recording[c] = snap;
        snap.recordingInputs.add(c);
      }
    }
    if (this.#pending.has(barrier.checkpointId)) this.#forwardBarrier(snap);
    return overtaken;
  }
  barrierArrivedAfterSnapshot(checkpointId: number, channel: number, priority: boolean): void {
    const snap = this.#pending.get(checkpointId);
    if (!snap) return;
    if (priority) {
      const batches = this.#actor.inputs.overtakenData(channel, this.#overtaken[channel]);
      this.#record(snap, () => snap.recordInput(channel, batches));
    }
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
    const delay = barrier.timestamp + barrier.alignedTimeoutMs - this.#actor.now();
    this.#timeout(barrier.checkpointId, delay, "alignmentTimeout");
  }
  declineLate(checkpointId: number): void {
    this.#host.decline(checkpointId, "checkpoint_subsumed", `${this.#actor.name} passed over checkpoint ${checkpointId}: a newer barrier overtook it, or it was aborted`);
  }
  abortCheckpoint(checkpointId: number, reason: CheckpointFailureReason, decline: boolean): void {
    this.#dropPending(checkpointId);
    if (decline) this.#host.decline(checkpointId, reason, `${this.#actor.name} aborted checkpoint ${checkpointId}: ${reason}`);
  }
}
