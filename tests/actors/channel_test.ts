import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Channel } from "../../actors/channel.ts";
import type { Barrier } from "../../actors/messages.ts";
import { WeirError } from "../../errors.ts";

const endpoint = () => ({ wakes: 0, wake() { this.wakes++; } });
const barrier = (id: number): Barrier => ({
  kind: "barrier", checkpointId: id, timestamp: 0, type: "CHECKPOINT", exactlyOnce: true, unaligned: false, alignedTimeoutMs: 0,
});

describe("Channel", () => {
  test("a full queue makes the sender buffer; taking a batch returns credit and wakes the sender once drained", () => {
    const sender = endpoint();
    const receiver = endpoint();
    const ch = new Channel(sender, receiver, 0, 2);
    ch.send([1]);
    ch.send([2]);
    ch.send([3]);
    assert.equal(ch.creditedBatches, 2);
    assert.equal(ch.backpressured, true);
    assert.deepEqual(ch.shift(), [1]);
    assert.equal(ch.backpressured, false);
    assert.equal(sender.wakes, 1);
    assert.deepEqual(ch.queue, [[2], [3]]);
  });

  test("events take no credit but keep their place behind buffered data", () => {
    const ch = new Channel(endpoint(), endpoint(), 0, 1);
    ch.send([1]);
    ch.send(barrier(1));
    assert.equal(ch.queue.length, 2, "a barrier behind nothing buffered goes straight in");
    ch.send([2]);
    ch.send(barrier(2));
    assert.deepEqual(ch.pending, [[2], barrier(2)]);
    ch.shift();
    ch.shift();
    assert.deepEqual(ch.queue, [[2], barrier(2)]);
  });

  test("an overtake mark stays exact when queued items are consumed or removed before it is handled", () => {
    const ch = new Channel(endpoint(), endpoint(), 0, 8);
    ch.send([1]);
    ch.send(barrier(3));
    ch.send([2]);
    const mark = ch.markOvertaken();
    ch.send([4]);
    assert.equal(mark.count, 3);
    ch.removeQueued(1);
    assert.equal(mark.count, 2, "removing an overtaken item shrinks the mark");
    ch.shift();
    assert.equal(ch.releaseMark(mark), 1);
    assert.deepEqual(ch.overtakenData(mark.count).batches, [[2]], "what the barrier overtook, not what came after");
  });

  test("overtakenData skips other checkpoints' barriers, stops at the one asked for and at end of partition", () => {
    const ch = new Channel(endpoint(), endpoint(), 0, 8);
    ch.send([1, 2]);
    ch.send(barrier(4));
    ch.send([3]);
    ch.send(barrier(5));
    ch.send([6]);
    ch.send({ kind: "eop" });
    ch.headOffset = 1;
    assert.deepEqual(ch.overtakenData(), { batches: [[2], [3], [6]], barrierIndex: -1 });
    assert.deepEqual(ch.overtakenData(ch.queue.length, 5), { batches: [[2], [3]], barrierIndex: 3 });
  });

  test("restored channel state goes first and takes no credit", () => {
    const ch = new Channel(endpoint(), endpoint(), 0, 1);
    ch.send([9]);
    ch.restore([[7], [8]]);
    assert.deepEqual(ch.queue, [[7], [8], [9]]);
    assert.equal(ch.creditedBatches, 1);
    assert.equal(ch.queuedBatches, 3);
  });
});

describe("channel events", () => {
  test("an event kind nobody handles fails loudly instead of passing for another kind", () => {
    const endpoint = { wake() {} };
    const ch = new Channel(endpoint, endpoint, 0, 4);
    ch.send([1, 2]);
    ch.send({ kind: "watermark-from-the-future" } as never);
    assert.throws(() => ch.overtakenData(), (e: unknown) => e instanceof WeirError && e.code === "invariant_broken" && /watermark-from-the-future/.test(e.message));
  });
});
