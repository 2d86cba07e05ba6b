import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { assert as invariant, WeirError } from "../errors.ts";
import { InputChannel } from "../actors/input_channel.ts";
import { MemoryTransport } from "../actors/memory_transport.ts";
import { OutputChannel } from "../actors/output_channel.ts";

describe("assert()", () => {
  test("assert() throws invariant_broken with the message when the condition is false", () => {
    assert.throws(() => invariant(1 > 2, () => "One is not above two"), (e: unknown) => e instanceof WeirError && e.code === "invariant_broken" && e.message === "One is not above two");
    invariant(true, "never built");
  });

  test("a receiver refuses a batch beyond the credit it granted, naming the channel", () => {
    const t = new MemoryTransport();
    const address = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "b", subtaskIndex: 1 }, inputIndex: 0, capacity: 1 };
    const owner = { wake() {}, priorityBarrier() {}, fail() {} };
    new InputChannel(address, t, owner);
    // A rogue sender that ignores credit: the receiver's own assertion catches it.
    const rogue = t.openSender(address, { deliver() {}, failed() {} });
    rogue.send({ kind: "item", seq: 0, item: [1] });
    assert.throws(() => rogue.send({ kind: "item", seq: 1, item: [2] }), (e: unknown) => e instanceof WeirError && e.code === "invariant_broken" && /a-0>b-1 holds 2 batches, over its capacity 1/.test(e.message));
  });

  test("a receiver refuses an item out of sequence (a transport that reordered within a channel)", () => {
    const t = new MemoryTransport();
    const address = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "b", subtaskIndex: 0 }, inputIndex: 0, capacity: 4 };
    new InputChannel(address, t, { wake() {}, priorityBarrier() {}, fail() {} });
    const rogue = t.openSender(address, { deliver() {}, failed() {} });
    assert.throws(() => rogue.send({ kind: "item", seq: 1, item: [2] }), /received item 1, expected 0/);
  });

  test("a sender refuses credit beyond its capacity (a receiver that returned credit twice)", () => {
    const t = new MemoryTransport();
    const address = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "b", subtaskIndex: 0 }, inputIndex: 0, capacity: 2 };
    new OutputChannel(address, t, { wake() {}, fail() {} });
    const rogue = t.openReceiver(address, { deliver() {}, failed() {} });
    assert.throws(() => rogue.send({ kind: "credit", batches: 1 }), /credit 3 exceeds its capacity 2/);
  });
});

describe("describe()", () => {
  test("describe() shows numbers JSON cannot (NaN, Infinity) and objects whose members are functions", async () => {
    const { describe: show } = await import("../errors.ts");
    assert.equal(show(Number.NaN), "NaN");
    assert.equal(show(-Infinity), "-Infinity");
    assert.equal(show(3), "3");
    assert.equal(show({ onTimer() {} }), "{ onTimer: function }");
    assert.equal(show({}), "{}");
    assert.equal(show({ a: 1 }), '{"a":1}');
  });
});
