/**
 * CheckpointRequestDecider: which queued checkpoint request starts next, and how long the
 * periodic trigger waits (checkpoint/request_decider.ts, Flink's CheckpointRequestDecider).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Barrier } from "../../actors/messages.ts";
import type { Pending, TriggerRequest } from "../../checkpoint/coordinator_types.ts";
import { CheckpointRequestDecider } from "../../checkpoint/request_decider.ts";

function request(over: Partial<TriggerRequest> = {}): TriggerRequest {
  return { type: "CHECKPOINT", final: false, resolve: () => {}, ...over };
}

function pending(id: number, over: { type?: "CHECKPOINT" | "SAVEPOINT"; final?: boolean } = {}): Pending {
  const barrier = { kind: "barrier", checkpointId: id, timestamp: 0, type: over.type ?? "CHECKPOINT" } as Barrier;
  return { id, barrier, final: over.final ?? false, notYetAcked: new Set(), acks: [], subtaskCount: 1, timer: { cancel() {} }, waiters: [] };
}

describe("CheckpointRequestDecider", () => {
  test("next() starts requests in order while fewer than maxConcurrent are in flight", () => {
    const decider = new CheckpointRequestDecider({ interval: 100, minPause: 0, maxConcurrent: 2 });
    const a = request();
    const b = request({ type: "SAVEPOINT" });
    decider.push(a);
    decider.push(b);
    assert.equal(decider.next(new Map([[1, pending(1)], [2, pending(2)]]), false), undefined);
    assert.equal(decider.next(new Map([[1, pending(1)]]), false), a);
    assert.equal(decider.next(new Map(), false), b);
    assert.equal(decider.next(new Map(), false), undefined);
  });

  test("next() starts nothing beside a savepoint or a final checkpoint in flight", () => {
    const decider = new CheckpointRequestDecider({ interval: 100, minPause: 0, maxConcurrent: 5 });
    decider.push(request());
    assert.equal(decider.next(new Map([[1, pending(1, { type: "SAVEPOINT" })]]), false), undefined);
    assert.equal(decider.next(new Map([[1, pending(1, { final: true })]]), false), undefined);
    assert.ok(decider.next(new Map([[1, pending(1)]]), false));
  });

  test("next() holds the final checkpoint until every input ended and nothing else is in flight", () => {
    const decider = new CheckpointRequestDecider({ interval: 100, minPause: 0, maxConcurrent: 5 });
    const final = request({ final: true });
    decider.push(final);
    assert.ok(decider.endingQueued);
    assert.equal(decider.next(new Map(), false), undefined);
    assert.equal(decider.next(new Map([[1, pending(1)]]), true), undefined);
    assert.equal(decider.next(new Map(), true), final);
    assert.ok(!decider.endingQueued);
  });

  test("periodicWait() is the rest of minPause, then an interval while no slot is free, else 0", () => {
    const decider = new CheckpointRequestDecider({ interval: 100, minPause: 50, maxConcurrent: 1 });
    assert.equal(decider.periodicWait(0, new Map()), 0);
    decider.completed(1000);
    assert.equal(decider.periodicWait(1020, new Map()), 30);
    assert.equal(decider.periodicWait(1050, new Map([[1, pending(1)]])), 100);
    assert.equal(decider.periodicWait(1050, new Map()), 0);
  });

  test("takeAll() empties the queue and returns what it held", () => {
    const decider = new CheckpointRequestDecider({ interval: 100, minPause: 0, maxConcurrent: 1 });
    const a = request({ terminate: true, type: "SAVEPOINT" });
    decider.push(a);
    assert.ok(decider.endingQueued);
    assert.deepEqual(decider.takeAll(), [a]);
    assert.equal(decider.next(new Map(), true), undefined);
  });
});
