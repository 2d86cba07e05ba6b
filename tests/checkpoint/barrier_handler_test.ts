import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Barrier } from "../../actors/messages.ts";
import { type AlignmentTiming, type BarrierController, BarrierHandler } from "../../checkpoint/barrier_handler.ts";
import type { CheckpointFailureReason } from "../../checkpoint/failure_reason.ts";

/** Records what the handler asks of its subtask. */
class FakeSubtask implements BarrierController {
  readonly log: string[] = [];
  readonly blocked = new Set<number>();
  ended = new Set<number>();
  overtakeQueued: number[] = [];
  time = 0;
  constructor(readonly inputCount: number) {}
  isEnded(c: number) {
    return this.ended.has(c);
  }
  now() {
    return this.time;
  }
  block(c: number) {
    this.blocked.add(c);
  }
  unblockAll() {
    this.blocked.clear();
  }
  snapshotAligned(b: Barrier, t: AlignmentTiming) {
    this.log.push(`aligned ${b.checkpointId} after ${t.alignmentDurationMs}`);
  }
  snapshotUnaligned(b: Barrier, arrivedOn: number | undefined, seen: ReadonlySet<number>) {
    this.log.push(`unaligned ${b.checkpointId} on ${arrivedOn} seen ${[...seen].sort()}`);
    return this.overtakeQueued;
  }
  barrierArrivedAfterSnapshot(id: number, c: number, priority: boolean) {
    this.log.push(`late-channel ${id} ${c} ${priority ? "priority" : "in-band"}`);
  }
  recordingFinished(id: number) {
    this.log.push(`recorded ${id}`);
  }
  scheduleAlignmentTimeout(b: Barrier) {
    this.log.push(`timer ${b.checkpointId}`);
  }
  declineLate(id: number) {
    this.log.push(`late ${id}`);
  }
  abortCheckpoint(id: number, reason: CheckpointFailureReason, decline: boolean) {
    this.log.push(`abort ${id} ${reason}${decline ? " declined" : ""}`);
  }
}

const barrier = (id: number, o: Partial<Barrier> = {}): Barrier => ({
  kind: "barrier", checkpointId: id, timestamp: 0, type: "CHECKPOINT", exactlyOnce: true, unaligned: false, alignedTimeoutMs: 0, ...o,
});

describe("BarrierHandler", () => {
  test("aligned: blocks each channel whose barrier arrived and snapshots once all arrived", () => {
    const s = new FakeSubtask(3);
    const h = new BarrierHandler(s);
    h.barrierReceived(1, barrier(1), false);
    assert.equal(h.stateName, "CollectingAligned");
    assert.deepEqual([...s.blocked], [1]);
    s.time = 5;
    h.barrierReceived(0, barrier(1), false);
    assert.deepEqual([...s.blocked].sort(), [0, 1]);
    h.barrierReceived(2, barrier(1), false);
    assert.deepEqual(s.log, ["aligned 1 after 5"]);
    assert.equal(s.blocked.size, 0, "all channels unblocked after the snapshot");
    assert.equal(h.stateName, "WaitingForFirstBarrier");
  });

  test("aligned: an ended channel counts as aligned", () => {
    const s = new FakeSubtask(2);
    const h = new BarrierHandler(s);
    h.barrierReceived(0, barrier(1), false);
    s.ended.add(1);
    h.endOfPartition(1);
    assert.deepEqual(s.log, ["aligned 1 after 0"]);
  });

  test("unaligned: the first priority barrier snapshots at once without blocking, the last ends recording", () => {
    const s = new FakeSubtask(3);
    const h = new BarrierHandler(s);
    h.barrierReceived(2, barrier(4, { unaligned: true }), true);
    assert.equal(s.blocked.size, 0);
    assert.equal(h.stateName, "CollectingUnaligned");
    h.barrierReceived(0, barrier(4, { unaligned: true }), true);
    h.barrierReceived(0, barrier(4, { unaligned: true }), true);
    h.barrierReceived(1, barrier(4, { unaligned: true }), true);
    assert.deepEqual(s.log, ["unaligned 4 on 2 seen 2", "late-channel 4 0 priority", "late-channel 4 1 priority", "recorded 4"]);
    assert.equal(h.stateName, "WaitingForFirstBarrier");
  });

  test("aligned with timeout: the timeout switches to unaligned, overtaking queued in-band barriers", () => {
    const s = new FakeSubtask(3);
    const h = new BarrierHandler(s);
    h.barrierReceived(0, barrier(2, { alignedTimeoutMs: 10 }), false);
    assert.deepEqual(s.log, ["timer 2"]);
    s.overtakeQueued = [1];
    h.alignmentTimeout(2);
    assert.equal(s.blocked.size, 0, "switching unblocks");
    assert.equal(h.stateName, "CollectingUnaligned");
    h.barrierReceived(2, barrier(2, { alignedTimeoutMs: 10 }), false);
    assert.deepEqual(s.log, ["timer 2", "unaligned 2 on undefined seen 0", "late-channel 2 2 in-band", "recorded 2"]);
  });

  test("aligned: a barrier the upstream sent ahead of its data (priority) switches to unaligned", () => {
    const s = new FakeSubtask(2);
    const h = new BarrierHandler(s);
    h.barrierReceived(0, barrier(3, { alignedTimeoutMs: 10 }), false);
    h.barrierReceived(1, barrier(3, { alignedTimeoutMs: 10, unaligned: true }), true);
    assert.deepEqual(s.log, ["timer 3", "unaligned 3 on 1 seen 0,1", "recorded 3"]);
  });

  test("an older barrier while a newer checkpoint collects is declined as late, not silently dropped", () => {
    const s = new FakeSubtask(2);
    const h = new BarrierHandler(s);
    h.barrierReceived(0, barrier(4, { unaligned: true }), true);
    h.barrierReceived(1, barrier(3), false);
    assert.deepEqual(s.log, ["unaligned 4 on 0 seen 0", "late 3"]);
    assert.equal(h.pendingCheckpointId, 4);
  });

  test("a barrier of n+1 while n is collecting aborts n as subsumed and starts n+1", () => {
    const s = new FakeSubtask(2);
    const h = new BarrierHandler(s);
    h.barrierReceived(0, barrier(1, { unaligned: true }), true);
    h.barrierReceived(0, barrier(2, { unaligned: true }), true);
    assert.deepEqual(s.log, ["unaligned 1 on 0 seen 0", "abort 1 checkpoint_subsumed declined", "unaligned 2 on 0 seen 0"]);
    assert.equal(h.pendingCheckpointId, 2);
  });

  test("late barriers of an aborted checkpoint are ignored", () => {
    const s = new FakeSubtask(2);
    const h = new BarrierHandler(s);
    h.barrierReceived(0, barrier(5), false);
    h.abort(5, "checkpoint_expired");
    assert.equal(s.blocked.size, 0);
    h.barrierReceived(1, barrier(5), false);
    assert.deepEqual(s.log, ["abort 5 checkpoint_expired", "late 5"]);
    assert.equal(h.stateName, "WaitingForFirstBarrier");
    // An abort for a checkpoint whose barriers have not come yet makes them late too.
    h.abort(6, "checkpoint_expired");
    h.barrierReceived(0, barrier(6), false);
    assert.equal(h.stateName, "WaitingForFirstBarrier");
  });

  test("at-least-once: nothing blocks; the snapshot comes with the last barrier", () => {
    const s = new FakeSubtask(2);
    const h = new BarrierHandler(s);
    h.barrierReceived(1, barrier(1, { exactlyOnce: false }), false);
    assert.equal(s.blocked.size, 0);
    assert.deepEqual(s.log, []);
    h.barrierReceived(0, barrier(1, { exactlyOnce: false }), false);
    assert.deepEqual(s.log, ["aligned 1 after 0"]);
  });

  test("restored handlers ignore barriers up to the restored checkpoint id", () => {
    const s = new FakeSubtask(1);
    const h = new BarrierHandler(s, 7);
    h.barrierReceived(0, barrier(7), false);
    assert.deepEqual(s.log, ["late 7"]);
    h.barrierReceived(0, barrier(8), false);
    assert.deepEqual(s.log, ["late 7", "aligned 8 after 0"]);
  });
});
