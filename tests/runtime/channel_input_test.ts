/**
 * ChannelInput (runtime/channel_input.ts): a subtask's data step over its input channels —
 * batches in slices, every event kind handled by name, event time through the watermark
 * valve, and a kind nobody handles failing loudly.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { InputGate } from "../../actors/input_gate.ts";
import type { Barrier, Batch, ChannelItem, ChannelStateItem } from "../../actors/messages.ts";
import { WeirError } from "../../errors.ts";
import { ChannelInput } from "../../runtime/channel_input.ts";
import { OperatorChain } from "../../runtime/operator_chain.ts";
import { StepSlice } from "../../runtime/step_slice.ts";
import { channelPair } from "../actors/channel_pair.ts";

/** A ChannelInput over one channel and an empty chain, with what it passes on recorded. */
function input(sliceRecords = 1024) {
  const pair = channelPair(8);
  const inputs = new InputGate();
  inputs.add(pair.input);
  const seen: (string | number)[] = [];
  const chain = new OperatorChain([], undefined, (values) => seen.push(...(values as number[])), {
    watermark: (w) => seen.push(`w${w}`),
    status: (idle) => seen.push(idle ? "idle" : "active"),
  });
  const consumed: ChannelStateItem[] = [];
  const checkpoints = {
    consumed: (_c: number, item: ChannelStateItem) => void consumed.push(item),
    inBandBarrier: (c: number, b: Barrier) => void seen.push(`barrier ${b.checkpointId} on ${c}`),
    endOfPartition: (c: number) => void seen.push(`eop ${c}`),
  };
  const counters = { recordsIn: 0 };
  const ci = new ChannelInput({
    inputs,
    chain,
    slice: new StepSlice(sliceRecords, 4),
    checkpoints,
    counters,
    status: (idle) => seen.push(idle ? "status idle" : "status active"),
    endOfInput: () => void seen.push("end of input"),
  });
  inputs.connected();
  ci.connected();
  const send = (item: ChannelItem) => assert.ok(pair.output.send(item));
  return { ci, send, seen, consumed, counters };
}

const barrier: Barrier = { kind: "barrier", checkpointId: 3, timestamp: 0, type: "CHECKPOINT", exactlyOnce: true, unaligned: false, alignedTimeoutMs: 0 };

describe("ChannelInput", () => {
  test("read() takes a batch in slices of the step slice, and reports a sliced step", () => {
    const { ci, send, seen, consumed, counters } = input(2);
    send([1, 2, 3, 4, 5] as Batch);
    ci.read();
    assert.ok(ci.sliced);
    assert.deepEqual(seen, [1, 2]);
    ci.read();
    ci.read();
    assert.ok(!ci.sliced, "the last slice ends the batch");
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
    assert.equal(counters.recordsIn, 5);
    assert.deepEqual(consumed.map((b) => [...(b as number[])]), [[1, 2], [3, 4], [5]], "each slice is offered to channel-state recording");
    assert.ok(!ci.readable);
  });

  test("read() hands a barrier to the checkpointing half and a watermark down the chain", () => {
    const { ci, send, seen, consumed } = input();
    send({ kind: "watermark", timestamp: 7 });
    send(barrier);
    ci.read();
    ci.read();
    assert.deepEqual(seen, ["w7", "barrier 3 on 0"]);
    assert.deepEqual(consumed, [{ kind: "watermark", timestamp: 7 }]);
  });

  test("read() tells the subtask's idleness when every open input is idle", () => {
    const { ci, send, seen } = input();
    send({ kind: "watermarkStatus", idle: true });
    send({ kind: "watermarkStatus", idle: false });
    ci.read();
    ci.read();
    assert.deepEqual(seen, ["status idle", "status active"]);
  });

  test("read() of the last end of partition ends the input", () => {
    const { ci, send, seen } = input();
    send({ kind: "eop" });
    ci.read();
    assert.deepEqual(seen, ["eop 0", "end of input"]);
  });

  test("read() of an event kind nobody handles throws invariant_broken", () => {
    const { ci, send } = input();
    send({ kind: "latencyMarker" } as unknown as ChannelItem);
    assert.throws(() => ci.read(), (e: unknown) => e instanceof WeirError && e.code === "invariant_broken");
  });
});
