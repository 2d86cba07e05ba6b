/**
 * The output side's buffer timeout (OutputGate.endOfStep): a partly filled batch waits as
 * the timeout says and never longer; full batches and events (barriers, watermarks, end of
 * partition) never wait, and nothing is lost, duplicated or reordered on the way.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { OutputGate } from "../../actors/output_gate.ts";
import type { Barrier, ChannelStateItem } from "../../actors/messages.ts";
import { channelPair } from "./channel_pair.ts";

const target = { name: "next", uid: "next" };

/** A gate over one channel of capacity `capacity`, batches of `batchSize` records. */
function gate(bufferTimeoutMs: number, batchSize = 4, capacity = 8) {
  const pair = channelPair(capacity);
  const g = new OutputGate([pair.output], { kind: "forward" }, batchSize, target, "none", bufferTimeoutMs);
  /** What reached the receiver's queue, in order: records as numbers, events by kind. */
  const received = () => pair.queue().flatMap((i: ChannelStateItem): (number | string)[] => (Array.isArray(i) ? [...(i as number[])] : [i.kind]));
  return { g, pair, received };
}

const barrier = (id: number, unaligned: boolean): Barrier => ({
  kind: "barrier", checkpointId: id, timestamp: 0, type: "CHECKPOINT", exactlyOnce: true, unaligned, alignedTimeoutMs: 0,
});

describe("OutputGate buffer timeout", () => {
  test("endOfStep() with timeout 0 sends a partly filled batch at the end of every step", () => {
    const { g, received } = gate(0);
    g.emit([1]);
    assert.deepEqual(received(), []);
    assert.equal(g.endOfStep(0, 0), Infinity);
    assert.deepEqual(received(), [1]);
    g.emit([2, 3]);
    assert.deepEqual(received(), [1, 2, 3], "half a batch travels as it is without a timeout");
  });

  test("endOfStep() holds a partly filled batch until the timeout since the step that put its first record in", () => {
    const { g, received } = gate(10);
    g.emit([1]);
    assert.equal(g.endOfStep(100, 101), 110, "due 10 ms after the step started");
    g.emit([2]);
    assert.equal(g.endOfStep(105, 106), 110, "a later record does not move the deadline");
    assert.deepEqual(received(), []);
    assert.equal(g.held, 2);
    assert.equal(g.endOfStep(109, 109.9), 110);
    assert.deepEqual(received(), []);
    assert.equal(g.endOfStep(110, 110), Infinity);
    assert.deepEqual(received(), [1, 2]);
    assert.equal(g.held, 0);
    // The next record starts a new wait.
    g.emit([3]);
    assert.equal(g.endOfStep(200, 200), 210);
  });

  test("a full batch goes at once whatever the timeout; only the rest waits", () => {
    const { g, received } = gate(1000, 4);
    g.emit([1, 2, 3, 4]);
    assert.deepEqual(received(), [1, 2, 3, 4], "a full batch travels as it is");
    g.emit([5, 6]);
    assert.deepEqual(received(), [1, 2, 3, 4], "half a batch waits to be joined");
    g.emit([7]);
    assert.equal(g.endOfStep(0, 0), 1000);
    g.emit([8, 9]);
    assert.deepEqual(received(), [1, 2, 3, 4, 5, 6, 7, 8, 9], "the batch being built filled up");
    assert.equal(g.held, 0);
    g.emit([10]);
    assert.ok(g.endOfStep(1, 1) <= 1001, "a record waits at most the timeout (a batch sent full meanwhile may shorten it)");
    assert.equal(g.held, 1);
  });

  test("timeout -1 sends only full batches, and events flush what waits before them", () => {
    const { g, pair, received } = gate(-1, 4);
    g.emit([1, 2]);
    assert.equal(g.endOfStep(0, 1_000_000), Infinity, "nothing waits on a timer");
    assert.deepEqual(received(), []);
    g.broadcastEvent({ kind: "watermark", timestamp: 5 });
    assert.deepEqual(received(), [1, 2, "watermark"], "the watermark follows the records emitted before it");
    g.emit([3]);
    g.broadcastEvent({ kind: "eop" });
    const all: unknown[] = [];
    for (let item = pair.input.shift(); item !== undefined; item = pair.input.shift()) all.push(Array.isArray(item) ? [...item] : item.kind);
    assert.deepEqual(all, [[1, 2], "watermark", [3], "eop"], "end of partition follows every record");
  });

  test("hash partitioning holds per channel and flushes every channel in order", () => {
    const a = channelPair(8);
    const b = channelPair(8);
    const g = new OutputGate([a.output, b.output], { kind: "hash", keySelector: (v) => v, maxParallelism: 128 }, 100, target, "none", 5);
    const values = Array.from({ length: 40 }, (_, i) => i);
    g.emit(values.slice(0, 20));
    assert.equal(g.endOfStep(0, 1), 5);
    g.emit(values.slice(20));
    assert.equal(a.queue().length + b.queue().length, 0);
    assert.equal(g.endOfStep(5, 5), Infinity);
    const got = [...a.queue(), ...b.queue()].flatMap((i) => i as number[]);
    assert.deepEqual(got.slice().sort((x, y) => x - y), values, "every record once");
    for (const q of [a.queue(), b.queue()]) {
      const xs = q.flatMap((i) => i as number[]);
      assert.deepEqual(xs, xs.slice().sort((x, y) => x - y), "order kept per channel");
    }
  });

  test("an unaligned barrier after a flush overtakes held records: they are in-flight data of its checkpoint, once", () => {
    // Capacity 1: the first batch takes the credit, the held one lands in the output buffer.
    const { g, pair } = gate(50, 4, 1);
    g.emit([1, 2, 3, 4]);
    g.emit([5]);
    assert.equal(g.endOfStep(0, 0), 50);
    // What the subtask does before it sends a barrier (SubtaskCheckpoints.#forwardBarrier).
    g.flush();
    const outputState = pair.output.sendPriority(barrier(1, true))!;
    assert.deepEqual(outputState, [[5]], "the held record is output channel state");
    const overtakes = pair.priority[0].overtakes;
    assert.deepEqual(pair.input.overtakenData(overtakes).batches, [[1, 2, 3, 4]], "what went on the wire is input channel state");
    assert.equal(g.held, 0);
    assert.equal(g.endOfStep(1, 1), Infinity, "nothing waits any more");
  });

  test("an aligned barrier follows the held records on the channel", () => {
    const { g, pair, received } = gate(50);
    g.emit([1]);
    assert.equal(g.endOfStep(0, 0), 50);
    g.flush();
    pair.output.send(barrier(1, false));
    assert.deepEqual(received(), [1]);
    assert.equal(pair.input.peek() !== undefined, true);
  });

  test("the constructor refuses a timeout that is not -1, 0 or whole ms", () => {
    for (const bad of [-2, 1.5, NaN, Infinity]) {
      assert.throws(() => new OutputGate([], { kind: "forward" }, 4, target, "none", bad), /Buffer timeout/);
    }
  });
});
