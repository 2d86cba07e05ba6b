/**
 * SubtaskOutput (runtime/subtask_output.ts): what a subtask sends besides barriers —
 * watermarks never backwards and idleness once per change, partly filled batches as the
 * buffer timeout says (one timer for the earliest), end of partition after everything,
 * and the time spent backpressured.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ChannelStateItem } from "../../actors/messages.ts";
import { OutputGate } from "../../actors/output_gate.ts";
import type { PriorityMessage } from "../../runtime/priority_message.ts";
import { SubtaskOutput } from "../../runtime/subtask_output.ts";
import { channelPair } from "../actors/channel_pair.ts";

/** A SubtaskOutput with one gate over one channel, on a clock the test sets, its timers listed. */
function output(opts: { bufferTimeoutMs?: number; batchSize?: number; capacity?: number } = {}) {
  const pair = channelPair(opts.capacity ?? 8);
  const clock = { t: 0 };
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const posted: PriorityMessage[] = [];
  const owner = {
    alive: true,
    now: () => clock.t,
    timer(delayMs: number, fn: () => void) {
      const t = { at: clock.t + delayMs, fn, cancelled: false };
      timers.push(t);
      return { cancel: () => void (t.cancelled = true) };
    },
    post: (m: PriorityMessage) => void posted.push(m),
  };
  const counters = { recordsOut: 0, backpressuredMs: 0 };
  const out = new SubtaskOutput(owner, counters);
  out.gates.push(new OutputGate([pair.output], { kind: "forward" }, opts.batchSize ?? 4, { name: "next", uid: "next" }, "none", opts.bufferTimeoutMs ?? 0));
  /** What reached the receiver, in order: records as numbers, watermarks as `w<t>`, other events by kind (`idle`/`active`). */
  const received = () =>
    pair.queue().flatMap((i: ChannelStateItem): (number | string)[] => {
      if (Array.isArray(i)) return [...(i as number[])];
      if (i.kind === "watermark") return [`w${i.timestamp}`];
      return [i.idle ? "idle" : "active"];
    });
  return { out, pair, clock, timers, posted, counters, received };
}

describe("SubtaskOutput", () => {
  test("watermark() sends only watermarks that advance, after the records before it; +Infinity (a finished source) once and last", () => {
    const { out, received } = output();
    out.emit([1, 2]);
    out.watermark(10);
    out.watermark(10);
    out.watermark(5);
    out.watermark(20);
    out.watermark(Infinity);
    out.watermark(Infinity);
    out.watermark(30);
    assert.deepEqual(received(), [1, 2, "w10", "w20", "wInfinity"]);
  });

  test("status() tells each change once, and a watermark ends idleness first", () => {
    const { out, received } = output();
    out.status(false);
    out.status(true);
    out.status(true);
    out.watermark(7);
    out.status(false);
    assert.deepEqual(received(), ["idle", "active", "w7"]);
  });

  test("emit() counts the records out", () => {
    const { out, counters } = output();
    out.emit([]);
    out.emit([1, 2, 3]);
    assert.equal(counters.recordsOut, 3);
  });

  test("endOfStep() without a buffer timeout sends a partly filled batch unless the step took only a slice", () => {
    const { out, received, timers } = output({ bufferTimeoutMs: 0 });
    out.emit([1]);
    out.endOfStep(0, true);
    assert.deepEqual(received(), [], "more of the sliced batch follows at once: the gate's batch fills up");
    out.endOfStep(0, false);
    assert.deepEqual(received(), [1]);
    assert.equal(timers.length, 0);
  });

  test("endOfStep() with a buffer timeout keeps one timer for the earliest record, which posts flushOutput", () => {
    const { out, clock, timers, posted, received } = output({ bufferTimeoutMs: 10 });
    out.emit([1]);
    clock.t = 2;
    out.endOfStep(0, false);
    assert.deepEqual(received(), []);
    assert.deepEqual(timers.map((t) => t.at), [10]);
    clock.t = 5;
    out.endOfStep(4, false);
    assert.equal(timers.length, 1, "the same due time keeps the timer");
    clock.t = 10;
    timers[0].fn();
    assert.deepEqual(posted, [{ kind: "flushOutput" }]);
    out.endOfStep(10, false);
    assert.deepEqual(received(), [1]);
  });

  test("endOfPartition() flushes what every gate holds, then sends end of partition", () => {
    const { out, pair, received } = output({ bufferTimeoutMs: -1 });
    out.emit([1, 2]);
    assert.deepEqual(received(), [], "held: only a full batch or an event sends it");
    out.endOfPartition();
    const items = [];
    for (let item = pair.input.shift(); item !== undefined; item = pair.input.shift()) items.push(Array.isArray(item) ? [...item] : item.kind);
    assert.deepEqual(items, [[1, 2], "eop"]);
  });

  test("holdsBack() starts counting backpressured time, creditChanged() stops it once credit is back", () => {
    const { out, pair, clock, counters } = output({ batchSize: 1, capacity: 1 });
    out.emit([1]);
    assert.ok(!out.blocked);
    out.emit([2]);
    assert.ok(out.blocked, "the second batch waits for credit");
    clock.t = 10;
    assert.ok(out.holdsBack());
    clock.t = 15;
    assert.equal(out.backpressuredSoFar(clock.t), 5);
    out.creditChanged();
    assert.equal(counters.backpressuredMs, 0, "still blocked: still counting");
    pair.input.shift();
    clock.t = 25;
    out.creditChanged();
    assert.ok(!out.blocked);
    assert.equal(counters.backpressuredMs, 15);
    assert.equal(out.backpressuredSoFar(clock.t), 0);
  });
});
