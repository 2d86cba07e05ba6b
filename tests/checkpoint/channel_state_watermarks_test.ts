import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Batch, type ChannelStateItem, isBatch, withTimestamps } from "../../actors/messages.ts";
import { OutputGate } from "../../actors/output_gate.ts";
import { decodeChannelItem, encodeChannelItem } from "../../checkpoint/channel_state_items.ts";
import { type ChannelTopology, routeChannelState } from "../../checkpoint/channel_state_restore.ts";
import type { SubtaskStateFile } from "../../checkpoint/pending_snapshot.ts";
import { WatermarkValve } from "../../runtime/watermark_valve.ts";
import { channelPair } from "../actors/channel_pair.ts";
import { keyGroupOf, subtaskForKeyGroup } from "../../state/key_group.ts";

const wm = (timestamp: number) => ({ kind: "watermark" as const, timestamp });

describe("watermarks and timestamps on channels and in channel state", () => {
  test("overtakenData() keeps watermark events in their place among the batches, with the batches' timestamps", () => {
    const { input, output } = channelPair(8);
    output.send(withTimestamps(["a", "b"], [1, 2]));
    output.send(wm(2));
    output.send(withTimestamps(["c"], [5]));
    input.headOffset = 1;
    const { batches } = input.overtakenData();
    assert.equal(batches.length, 3);
    assert.deepEqual([...(batches[0] as Batch)], ["b"]);
    assert.deepEqual((batches[0] as Batch).timestamps, [2], "a partly consumed batch keeps the timestamps of what is left");
    assert.deepEqual(batches[1], wm(2));
    assert.deepEqual((batches[2] as Batch).timestamps, [5]);
  });

  test("a restored watermark counts as restored state and takes no credit", () => {
    const { input, output } = channelPair(1);
    input.restore([[1], wm(3), [2]]);
    output.send([9]);
    assert.equal(input.restoredBatches, 3);
    input.shift();
    input.shift();
    input.shift();
    assert.equal(input.restoredBatches, 0);
    assert.equal(input.creditedBatches, 1);
    assert.equal(output.credit, 0, "restored items returned no credit");
    assert.deepEqual(input.shift(), [9]);
    assert.equal(input.creditedBatches, 0);
    assert.equal(output.credit, 1);
  });

  test("channel-state items round-trip: plain batches as before, timestamped batches and watermark events as themselves", () => {
    const items: ChannelStateItem[] = [[1, 2], withTimestamps(["x"], [7]), wm(7), { kind: "watermarkStatus", idle: true }];
    const back = items.map((i) => decodeChannelItem(encodeChannelItem(i)));
    assert.deepEqual(back[0], [1, 2]);
    assert.equal((back[0] as Batch).timestamps, undefined);
    assert.deepEqual([...(back[1] as Batch)], ["x"]);
    assert.deepEqual((back[1] as Batch).timestamps, [7]);
    assert.deepEqual(back[2], wm(7));
    assert.deepEqual(back[3], { kind: "watermarkStatus", idle: true });
  });

  test("a rescaled hash edge's channel state sends each record with its timestamp to its new owner, and each watermark to every receiver in its place", () => {
    const keys = Array.from({ length: 20 }, (_, i) => i);
    const file: SubtaskStateFile = {
      checkpointId: 3, vertexId: "v1", subtaskIndex: 0, parallelism: 2, keyGroupRange: { start: 0, end: 0 }, operators: {},
      inputChannels: [[0, [
        encodeChannelItem(withTimestamps(keys.slice(0, 10), keys.slice(0, 10).map((k) => k * 100))),
        encodeChannelItem(wm(900)),
        encodeChannelItem(withTimestamps(keys.slice(10), keys.slice(10).map((k) => k * 100))),
      ]]],
      outputChannels: [],
      channelPeers: { inputs: [[0, "v0", 0]], outputs: [] },
    };
    const topology: ChannelTopology = {
      maxParallelism: 128,
      vertices: [{ id: "v0", name: "src", parallelism: 1, uids: ["src"] }, { id: "v1", name: "sum", parallelism: 3, uids: ["sum"] }],
      edges: [{ from: "v0", to: "v1", partitioning: { kind: "hash", keySelector: (x) => x, maxParallelism: 128 }, pointwise: false }],
    };
    const routes = routeChannelState({ metadata: { checkpointId: 3, vertices: [{ id: "v0", parallelism: 1 }, { id: "v1", parallelism: 2 }] }, files: [file] }, topology);
    let records = 0;
    for (let j = 0; j < 3; j++) {
      const items = (routes.get(`v1/${j}`) ?? []).flatMap((r) => r.batches);
      const w = items.findIndex((i) => !isBatch(i));
      assert.ok(w >= 0, `receiver ${j} got the watermark`);
      items.forEach((item, i) => {
        if (!isBatch(item)) return;
        item.forEach((k, r) => {
          records++;
          assert.equal(subtaskForKeyGroup(keyGroupOf(k, 128), 3, 128), j, `key ${k} at its owner`);
          assert.equal(item.timestamps![r], (k as number) * 100, `key ${k} kept its timestamp`);
          assert.equal((k as number) < 10, i < w, `key ${k} on its side of the watermark`);
        });
      });
    }
    assert.equal(records, 20);
  });

  test("a +Infinity watermark (its sender's input ended) is not restored: on a rescale it would end event time for a sender still running", () => {
    const file: SubtaskStateFile = {
      checkpointId: 4, vertexId: "v1", subtaskIndex: 0, parallelism: 1, keyGroupRange: { start: 0, end: 0 }, operators: {},
      inputChannels: [
        [0, [encodeChannelItem(withTimestamps([1], [10])), encodeChannelItem(wm(10))]],
        [1, [encodeChannelItem(withTimestamps([2], [20])), encodeChannelItem(wm(Infinity))]],
      ],
      outputChannels: [],
      channelPeers: { inputs: [[0, "v0", 0], [1, "v0", 1]], outputs: [] },
    };
    const metadata = { checkpointId: 4, vertices: [{ id: "v0", parallelism: 2 }, { id: "v1", parallelism: 1 }] };
    for (const sources of [2, 1]) {
      const topology: ChannelTopology = {
        maxParallelism: 128,
        vertices: [{ id: "v0", name: "src", parallelism: sources, uids: ["src"] }, { id: "v1", name: "sink", parallelism: 1, uids: ["sink"] }],
        edges: [{ from: "v0", to: "v1", partitioning: { kind: "rebalance" }, pointwise: false }],
      };
      const items = (routeChannelState({ metadata, files: [file] }, topology).get("v1/0") ?? []).flatMap((r) => r.batches);
      assert.deepEqual(items.filter((i) => !isBatch(i)), [wm(10)], `${sources} sources: the finite watermark stays, +Infinity goes`);
      assert.equal(items.filter(isBatch).length, 2, "every record stays");
    }
  });

  test("an output gate keeps each record's timestamp beside it, whatever the partitioning", () => {
    for (const partitioning of [{ kind: "hash" as const, keySelector: (x: unknown) => x, maxParallelism: 128 }, { kind: "rebalance" as const }, { kind: "broadcast" as const }]) {
      const pairs = [0, 1].map(() => channelPair(8));
      const gate = new OutputGate(pairs.map((p) => p.output), partitioning, 4, { name: "t", uid: "t" }, "others");
      gate.emit(withTimestamps([1, 2, 3, 4, 5, 6], [10, 20, 30, 40, 50, 60]));
      gate.flush();
      for (const p of pairs) {
        for (const b of p.queue() as Batch[]) b.forEach((v, i) => assert.equal(b.timestamps![i], (v as number) * 10, `${partitioning.kind}: record ${v}`));
      }
    }
  });

  test("WatermarkValve: the minimum over active inputs, idle and ended ones left out, never backwards", () => {
    const v = new WatermarkValve(3);
    assert.deepEqual(v.watermark(0, 10), {});
    assert.deepEqual(v.watermark(1, 5), {});
    assert.deepEqual(v.watermark(2, 7), { watermark: 5 });
    assert.deepEqual(v.status(1, true), { watermark: 7 });
    assert.deepEqual(v.ended(2), { watermark: 10 });
    assert.deepEqual(v.status(0, true), { idle: true }, "all open inputs idle: the subtask is idle, its watermark stays");
    assert.deepEqual(v.watermark(1, 6), { idle: false }, "input 1 is active again but behind: no step back");
    assert.equal(v.current, 10);
    assert.deepEqual(v.watermark(1, 12), { watermark: 12 });
  });
});
