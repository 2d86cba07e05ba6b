import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Batch, withTimestamps } from "../../actors/messages.ts";
import { OutputGate } from "../../actors/output_gate.ts";
import { channelPair } from "./channel_pair.ts";

const target = { name: "t", uid: "t" };

function gate(channels: number) {
  const pairs = Array.from({ length: channels }, () => channelPair(64));
  const g = new OutputGate(pairs.map((p) => p.output), { kind: "rebalance" }, 1024, target, "none");
  const received = () => pairs.map((p) => (p.queue() as Batch[]).flat());
  return { g, pairs, received };
}

describe("OutputGate rebalance (Flink's round robin)", () => {
  test("one batch is dealt over every channel: a few hundred records do not all go to one subtask", () => {
    const { g, received } = gate(3);
    g.emit(Array.from({ length: 300 }, (_, i) => i));
    g.flush();
    const got = received();
    assert.deepEqual(got.map((c) => c.length), [100, 100, 100]);
    assert.deepEqual(got.flat().sort((a, b) => (a as number) - (b as number)), Array.from({ length: 300 }, (_, i) => i));
  });

  test("single records go round robin, from where the last batch ended", () => {
    const { g, received } = gate(3);
    g.emit([0, 1]);
    for (let i = 2; i < 6; i++) g.emit([i]);
    g.flush();
    assert.deepEqual(received(), [[0, 3], [1, 4], [2, 5]]);
  });

  test("batches of any length even out over the channels: no channel is left out, none gets more than one record over another", () => {
    for (const [channels, length] of [[3, 4], [4, 5], [4, 10], [8, 41], [3, 2]]) {
      const { g, received } = gate(channels);
      for (let b = 0; b < 30; b++) g.emit(Array.from({ length }, (_, i) => b * length + i));
      g.flush();
      const counts = received().map((c) => c.length);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${channels} channels, batches of ${length}: ${counts}`);
      assert.equal(counts.reduce((a, b) => a + b, 0), 30 * length);
    }
  });

  test("records keep their timestamps when dealt over the channels", () => {
    const { g, pairs } = gate(2);
    g.emit(withTimestamps([10, 20, 30, 40], [1, 2, 3, 4]));
    g.flush();
    const batches = pairs.map((p) => p.queue() as Batch[]);
    assert.ok(batches.every((c) => c.length > 0), "both channels got records");
    for (const c of batches) for (const b of c) b.forEach((v, i) => assert.equal(b.timestamps![i], (v as number) / 10));
  });
});
