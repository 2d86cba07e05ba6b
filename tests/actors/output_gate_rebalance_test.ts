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

  test("records keep their timestamps when dealt", () => {
    const { g, pairs } = gate(2);
    g.emit(withTimestamps([10, 20, 30, 40], [1, 2, 3, 4]));
    g.flush();
    for (const p of pairs) for (const b of p.queue() as Batch[]) b.forEach((v, i) => assert.equal(b.timestamps![i], (v as number) / 10));
  });
});
