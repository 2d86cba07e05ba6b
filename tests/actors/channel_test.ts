import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Barrier } from "../../actors/messages.ts";
import { WeirError } from "../../errors.ts";
import { channelPair } from "./channel_pair.ts";

const barrier = (id: number): Barrier => ({
  kind: "barrier", checkpointId: id, timestamp: 0, type: "CHECKPOINT", exactlyOnce: true, unaligned: false, alignedTimeoutMs: 0,
});

const channel = channelPair;

describe("input and output channel", () => {
  test("a full queue makes the sender buffer; taking a batch returns credit and wakes the sender once drained", () => {
    const { input, output, sender, queue } = channel(2);
    output.send([1]);
    output.send([2]);
    output.send([3]);
    assert.equal(input.creditedBatches, 2);
    assert.equal(output.backpressured, true);
    assert.equal(output.credit, 0);
    assert.deepEqual(input.shift(), [1]);
    assert.equal(output.backpressured, false);
    assert.equal(sender.wakes, 1);
    assert.deepEqual(queue(), [[2], [3]]);
  });

  test("events take no credit but keep their place behind buffered data", () => {
    const { input, output } = channel(1);
    output.send([1]);
    assert.equal(output.send(barrier(1)), true, "a barrier behind nothing buffered goes straight on the wire");
    assert.equal(input.length, 2);
    assert.equal(output.send([2]), false);
    assert.equal(output.send(barrier(2)), false);
    assert.equal(output.isBuffered(barrier(2)), false, "buffered by identity");
    assert.equal(output.buffered, 2);
    input.shift();
    input.shift();
    assert.deepEqual(input.peek(), [2]);
    input.shift();
    assert.equal((input.peek() as Barrier).checkpointId, 2);
  });

  test("a priority barrier marks by sequence number what it overtook: consuming or removing items before it is handled keeps the mark exact", () => {
    const { input, output, priority } = channel(8);
    output.send([1]);
    output.send(barrier(3));
    output.send([2]);
    output.sendPriority({ ...barrier(5), unaligned: true });
    output.send([4]);
    assert.equal(priority.length, 1);
    const { overtakes } = priority[0];
    assert.equal(overtakes, 3, "three items went on the wire before it");
    input.shift();
    assert.deepEqual(input.overtakenData(overtakes).batches, [[2]], "what the barrier overtook, not what came after");
    input.removeQueued(0);
    assert.deepEqual(input.overtakenData(overtakes).batches, [[2]]);
    input.shift();
    assert.deepEqual(input.overtakenData(overtakes).batches, [], "consumed before the barrier was handled: not overtaken");
  });

  test("a priority barrier overtakes the sender's output buffer, which is returned as output channel state and still sent behind it", () => {
    const { input, output, priority } = channel(1);
    output.send([1]);
    output.send([2]);
    output.send([3]);
    const overtaken = output.sendPriority({ ...barrier(1), unaligned: true });
    assert.deepEqual(overtaken, [[2], [3]]);
    assert.equal(priority[0].overtakes, 1);
    input.shift();
    assert.deepEqual(input.peek(), [2], "the overtaken buffer follows the barrier");
    assert.deepEqual(input.overtakenData(priority[0].overtakes).batches, [], "items sent after the barrier are post-barrier at the receiver");
  });

  test("withdrawing a buffered in-band barrier overtakes only what was ahead of it", () => {
    const { input, output, priority } = channel(1);
    output.send([1]);
    output.send([2]);
    const inBand = barrier(4);
    output.send(inBand);
    output.send([3]);
    assert.deepEqual(output.sendPriority({ ...inBand, unaligned: true }, inBand), [[2]]);
    assert.equal(output.sendPriority({ ...inBand, unaligned: true }, inBand), undefined, "already withdrawn");
    assert.equal(priority.length, 1);
    input.shift();
    input.shift();
    assert.deepEqual(input.peek(), [3], "the in-band barrier no longer travels");
  });

  test("overtakenData skips other checkpoints' barriers, stops at the one asked for and at end of partition", () => {
    const { input, output } = channel(8);
    output.send([1, 2]);
    output.send(barrier(4));
    output.send([3]);
    output.send(barrier(5));
    output.send([6]);
    output.send({ kind: "eop" });
    input.headOffset = 1;
    assert.deepEqual(input.overtakenData(), { batches: [[2], [3], [6]], barrierIndex: -1 });
    assert.deepEqual(input.overtakenData(Infinity, 5), { batches: [[2], [3]], barrierIndex: 3 });
  });

  test("restored channel state goes first, takes no credit and returns none", () => {
    const { input, output, queue } = channel(1);
    output.send([9]);
    input.restore([[7], [8]]);
    assert.deepEqual(queue(), [[7], [8], [9]]);
    assert.equal(input.creditedBatches, 1);
    assert.equal(input.queuedBatches, 3);
    assert.deepEqual(input.overtakenData(0).batches, [[7], [8]], "restored state is ahead of every mark");
    input.shift();
    assert.equal(output.credit, 0, "a restored batch returns no credit");
    input.shift();
    input.shift();
    assert.equal(output.credit, 1);
  });

  test("restored channel state of a million items goes first, in order, after what was restored before", () => {
    const { input, output, queue } = channel(1);
    output.send([-1]);
    input.restore([[0]]);
    input.restore(Array.from({ length: 1_000_000 }, (_, i) => [i + 1]));
    assert.equal(input.restoredBatches, 1_000_001);
    const q = queue() as number[][];
    assert.equal(q.length, 1_000_002);
    assert.deepEqual([q[0], q[1], q[500_000], q[1_000_000], q[1_000_001]], [[0], [1], [500_000], [1_000_000], [-1]]);
  });

  test("after either end closed nothing more is delivered", () => {
    const { t, input, output } = channel(2);
    output.send([1]);
    input.close();
    output.send([2]);
    assert.equal(input.length, 1);
    output.close();
    assert.equal(t.openChannels, 0, "both ends closed: the transport forgot the channel");
  });
});

describe("channel events", () => {
  test("an event kind nobody handles fails loudly instead of passing for another kind", () => {
    const { input, output } = channel(4);
    output.send([1, 2]);
    output.send({ kind: "watermark-from-the-future" } as never);
    assert.throws(() => input.overtakenData(), (e: unknown) => e instanceof WeirError && e.code === "invariant_broken" && /watermark-from-the-future/.test(e.message));
  });
});
