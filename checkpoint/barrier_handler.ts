/**
 * Barrier alignment as an explicit state machine, after Flink's
 * runtime/io/checkpointing. Every event returns the next state; the states are tiny and
 * see only the narrow BarrierController. The mode is chosen by the barrier itself
 * (exactly-once aligned, unaligned, aligned-with-timeout, at-least-once).
 * @module
 */
import type { Barrier } from "../actors/messages.ts";
import { WeirError } from "../errors.ts";
import type { CheckpointFailureReason } from "./failure_reason.ts";

/** What a barrier handler may ask of its subtask. */
export interface BarrierController {
  readonly inputCount: number;
  isEnded(channel: number): boolean;
  now(): number;
  /** Aligned: stop consuming a channel until the alignment ends. */
  block(channel: number): void;
  unblockAll(): void;
  /** Takes the snapshot with no channel state (aligned, at-least-once). */
  snapshotAligned(barrier: Barrier, alignment: AlignmentTiming): void;
  /**
   * Takes the snapshot now and starts recording channel state. `arrivedOn` is the channel
   * whose priority barrier triggered it (its queued data is captured); `seen` are channels
   * whose barrier was already consumed in-band. Returns the channels whose in-band
   * barrier was found queued (and overtaken).
   */
  snapshotUnaligned(barrier: Barrier, arrivedOn: number | undefined, seen: ReadonlySet<number>, alignment: AlignmentTiming): number[];
  /** Unaligned: channel's barrier arrived; `priority` means its queued data is pre-barrier. */
  barrierArrivedAfterSnapshot(checkpointId: number, channel: number, priority: boolean): void;
  /** Unaligned: every barrier arrived; channel state recording for this checkpoint ends. */
  recordingFinished(checkpointId: number, alignment: AlignmentTiming): void;
  scheduleAlignmentTimeout(barrier: Barrier): void;
  /**
   * A barrier of a checkpoint this subtask already passed over (a newer barrier overtook
   * it, or it was aborted): that checkpoint cannot complete here, so the coordinator is
   * told at once rather than waiting for its timeout.
   */
  declineLate(checkpointId: number): void;
  /** Drops the local work of a checkpoint; `decline` also tells the coordinator. */
  abortCheckpoint(checkpointId: number, reason: CheckpointFailureReason, decline: boolean): void;
}

/** Timing of one alignment, for stats. */
export interface AlignmentTiming {
  /** Trigger → first barrier at this subtask. */
  startDelayMs: number;
  /** First barrier → last barrier (or → switch to unaligned). */
  alignmentDurationMs: number;
}

/** One phase of alignment. */
export interface BarrierHandlerState {
  readonly name: string;
  barrierReceived(h: Handler, channel: number, barrier: Barrier, priority: boolean): BarrierHandlerState;
  alignmentTimeout(h: Handler, checkpointId: number): BarrierHandlerState;
  abort(h: Handler, checkpointId: number, reason: CheckpointFailureReason): BarrierHandlerState;
  endOfPartition(h: Handler, channel: number): BarrierHandlerState;
}

/** The counters shared by all states. */
interface Handler {
  readonly ctl: BarrierController;
  /** Highest checkpoint id seen; never goes backwards. */
  latestId: number;
  current: Barrier | undefined;
  seen: Set<number>;
  firstBarrierAt: number;
  timing(): AlignmentTiming;
  allArrived(): boolean;
}

/** Idle: no checkpoint is being aligned; the next new barrier starts one. */
class WaitingForFirstBarrier implements BarrierHandlerState {
  readonly name = "WaitingForFirstBarrier";
  barrierReceived(h: Handler, channel: number, barrier: Barrier, priority: boolean): BarrierHandlerState {
    // Barriers of checkpoints already handled or aborted are late.
    if (barrier.checkpointId <= h.latestId) return late(h, barrier);
    h.latestId = barrier.checkpointId;
    h.current = barrier;
    h.seen = new Set([channel]);
    h.firstBarrierAt = h.ctl.now();
    if (!barrier.exactlyOnce) return new CollectingAtLeastOnce().check(h);
    if (priority) return startUnaligned(h, channel);
    if (h.allArrived()) {
      h.ctl.snapshotAligned(barrier, h.timing());
      return finish(h);
    }
    h.ctl.block(channel);
    if (barrier.alignedTimeoutMs > 0) h.ctl.scheduleAlignmentTimeout(barrier);
    return COLLECTING_ALIGNED;
  }
  alignmentTimeout(): BarrierHandlerState {
    return this;
  }
  abort(h: Handler, checkpointId: number): BarrierHandlerState {
    // An abort for a checkpoint not yet seen here: its barriers must be ignored when they come.
    if (checkpointId > h.latestId) h.latestId = checkpointId;
    return this;
  }
  endOfPartition(): BarrierHandlerState {
    return this;
  }
}

/** Aligned: some barriers arrived and their channels are blocked; waiting for the rest. */
class CollectingAligned implements BarrierHandlerState {
  readonly name = "CollectingAligned";
  barrierReceived(h: Handler, channel: number, barrier: Barrier, priority: boolean): BarrierHandlerState {
    const other = ofOtherCheckpoint(h, channel, barrier, priority, this);
    if (other) return other;
    // The upstream output timed out and sent this barrier ahead of its data: switch.
    if (priority) return startUnaligned(h, channel);
    h.seen.add(channel);
    h.ctl.block(channel);
    return this.endOfPartition(h);
  }
  alignmentTimeout(h: Handler, checkpointId: number): BarrierHandlerState {
    if (checkpointId !== h.current!.checkpointId) return this;
    return startUnaligned(h, undefined);
  }
  abort(h: Handler, checkpointId: number, reason: CheckpointFailureReason): BarrierHandlerState {
    if (checkpointId < h.current!.checkpointId) return this;
    h.ctl.unblockAll();
    return abortCurrent(h, checkpointId, reason);
  }
  endOfPartition(h: Handler): BarrierHandlerState {
    if (!h.allArrived()) return this;
    h.ctl.unblockAll();
    h.ctl.snapshotAligned(h.current!, h.timing());
    return finish(h);
  }
}

/** Unaligned: the snapshot is taken; channel state is recorded until every barrier arrived. */
class CollectingUnaligned implements BarrierHandlerState {
  readonly name = "CollectingUnaligned";
  barrierReceived(h: Handler, channel: number, barrier: Barrier, priority: boolean): BarrierHandlerState {
    const other = ofOtherCheckpoint(h, channel, barrier, priority, this);
    if (other) return other;
    if (h.seen.has(channel)) return this;
    h.seen.add(channel);
    h.ctl.barrierArrivedAfterSnapshot(barrier.checkpointId, channel, priority);
    return this.endOfPartition(h);
  }
  alignmentTimeout(): BarrierHandlerState {
    return this;
  }
  abort(h: Handler, checkpointId: number, reason: CheckpointFailureReason): BarrierHandlerState {
    if (checkpointId < h.current!.checkpointId) return this;
    return abortCurrent(h, checkpointId, reason);
  }
  endOfPartition(h: Handler): BarrierHandlerState {
    if (!h.allArrived()) return this;
    h.ctl.recordingFinished(h.current!.checkpointId, h.timing());
    return finish(h);
  }
}

/** At-least-once: barriers are only counted; nothing blocks; snapshot on the last one. */
class CollectingAtLeastOnce implements BarrierHandlerState {
  readonly name = "CollectingAtLeastOnce";
  check(h: Handler): BarrierHandlerState {
    if (!h.allArrived()) return this;
    h.ctl.snapshotAligned(h.current!, h.timing());
    return finish(h);
  }
  barrierReceived(h: Handler, channel: number, barrier: Barrier, priority: boolean): BarrierHandlerState {
    const other = ofOtherCheckpoint(h, channel, barrier, priority, this);
    if (other) return other;
    h.seen.add(channel);
    return this.check(h);
  }
  alignmentTimeout(): BarrierHandlerState {
    return this;
  }
  abort(h: Handler, checkpointId: number, reason: CheckpointFailureReason): BarrierHandlerState {
    return COLLECTING_ALIGNED.abort(h, checkpointId, reason);
  }
  endOfPartition(h: Handler): BarrierHandlerState {
    return this.check(h);
  }
}

const WAITING = new WaitingForFirstBarrier();
const COLLECTING_ALIGNED = new CollectingAligned();
const COLLECTING_UNALIGNED = new CollectingUnaligned();

function startUnaligned(h: Handler, arrivedOn: number | undefined): BarrierHandlerState {
  h.ctl.unblockAll();
  if (arrivedOn !== undefined) h.seen.add(arrivedOn);
  const overtaken = h.ctl.snapshotUnaligned(h.current!, arrivedOn, h.seen, h.timing());
  for (const c of overtaken) h.seen.add(c);
  return COLLECTING_UNALIGNED.endOfPartition(h);
}

function late(h: Handler, barrier: Barrier, state: BarrierHandlerState = WAITING): BarrierHandlerState {
  h.ctl.declineLate(barrier.checkpointId);
  return state;
}

/**
 * A barrier of another checkpoint than the current one, while collecting: an older one is
 * late (declined, `state` stays), a newer one subsumes the current checkpoint and starts
 * its own. Undefined for a barrier of the current checkpoint.
 */
function ofOtherCheckpoint(h: Handler, channel: number, barrier: Barrier, priority: boolean, state: BarrierHandlerState): BarrierHandlerState | undefined {
  const id = h.current!.checkpointId;
  if (barrier.checkpointId < id) return late(h, barrier, state);
  if (barrier.checkpointId > id) {
    subsume(h);
    return WAITING.barrierReceived(h, channel, barrier, priority);
  }
  return undefined;
}

function subsume(h: Handler): void {
  h.ctl.unblockAll();
  h.ctl.abortCheckpoint(h.current!.checkpointId, "checkpoint_subsumed", true);
  h.current = undefined;
}

/**
 * The coordinator aborted the current checkpoint, or a newer one (which subsumes it): the
 * current one is dropped without a decline, and barriers up to `checkpointId` are late here.
 */
function abortCurrent(h: Handler, checkpointId: number, reason: CheckpointFailureReason): BarrierHandlerState {
  h.ctl.abortCheckpoint(h.current!.checkpointId, reason, false);
  if (checkpointId > h.latestId) h.latestId = checkpointId;
  h.current = undefined;
  return WAITING;
}

function finish(h: Handler): BarrierHandlerState {
  h.current = undefined;
  h.seen = new Set();
  return WAITING;
}

/**
 * Routes barrier events of one subtask with inputs to its current alignment state.
 *
 * @example
 * ```ts ignore
 * const handler = new BarrierHandler(subtask);
 * handler.barrierReceived(0, barrier, false);
 * ```
 */
export class BarrierHandler implements Handler {
  readonly ctl: BarrierController;
  latestId = 0;
  current: Barrier | undefined;
  seen = new Set<number>();
  firstBarrierAt = 0;
  #state: BarrierHandlerState = WAITING;

  constructor(ctl: BarrierController, restoredCheckpointId = 0) {
    this.ctl = ctl;
    this.latestId = restoredCheckpointId;
  }

  get stateName(): string {
    return this.#state.name;
  }

  /** The checkpoint being aligned or recorded, if any. */
  get pendingCheckpointId(): number | undefined {
    return this.current?.checkpointId;
  }

  timing(): AlignmentTiming {
    const now = this.ctl.now();
    return {
      startDelayMs: Math.max(0, this.firstBarrierAt - (this.current?.timestamp ?? this.firstBarrierAt)),
      alignmentDurationMs: now - this.firstBarrierAt,
    };
  }

  allArrived(): boolean {
    for (let c = 0; c < this.ctl.inputCount; c++) {
      if (!this.seen.has(c) && !this.ctl.isEnded(c)) return false;
    }
    return true;
  }

  barrierReceived(channel: number, barrier: Barrier, priority: boolean): void {
    const before = this.latestId;
    this.#state = this.#state.barrierReceived(this, channel, barrier, priority);
    if (this.latestId < before) throw new WeirError("invariant_broken", `Barrier id went backwards from ${before} to ${this.latestId}`);
  }
  alignmentTimeout(checkpointId: number): void {
    this.#state = this.#state.alignmentTimeout(this, checkpointId);
  }
  abort(checkpointId: number, reason: CheckpointFailureReason): void {
    this.#state = this.#state.abort(this, checkpointId, reason);
  }
  endOfPartition(channel: number): void {
    this.#state = this.#state.endOfPartition(this, channel);
  }
}
