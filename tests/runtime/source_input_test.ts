/**
 * SourceInput (runtime/source_input.ts): a source subtask's polls never hold the actor —
 * a pending poll's records wait for a later step, an empty poll waits the reader's waitMs,
 * null ends the reader, and after end of input a pending poll's records are dropped.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { OperatorContext, SourceReader } from "../../dataflow/operator.ts";
import { OperatorChain } from "../../runtime/operator_chain.ts";
import { SourceInput } from "../../runtime/source_input.ts";
import { StepSlice } from "../../runtime/step_slice.ts";

/** A SourceInput over `reader`, with its owner's timers, wake-ups and the processed records recorded. */
function source(reader: Partial<SourceReader>, opts: { batchSize?: number; sliceRecords?: number } = {}) {
  const batchSize = opts.batchSize ?? 4;
  const slice = new StepSlice(batchSize, 4);
  if (opts.sliceRecords !== undefined) {
    // A step that took the whole batch and overran the 4 ms budget shrinks the slice.
    slice.took(batchSize);
    slice.stepEnded((batchSize * 4) / opts.sliceRecords);
    assert.equal(slice.records, opts.sliceRecords);
  }
  const out: unknown[] = [];
  const ctx = { name: "src", uid: "src", objectReuse: true } as unknown as OperatorContext;
  const chain = new OperatorChain([], { reader: reader as SourceReader, ctx }, (v) => out.push(...v));
  const timers: { delayMs: number; fn: () => void }[] = [];
  const owner = {
    alive: true,
    wakes: 0,
    failed: [] as unknown[],
    timer(delayMs: number, fn: () => void) {
      timers.push({ delayMs, fn });
      return { cancel() {} };
    },
    wake() {
      this.wakes++;
    },
    fail(e: unknown) {
      this.failed.push(e);
    },
  };
  const ended = { count: 0 };
  const counters = { recordsIn: 0 };
  const input = new SourceInput(owner, { chain, slice, batchSize, counters, readerEnded: () => void ended.count++ });
  return { input, out, owner, timers, ended, counters };
}

/** Lets settled promises' callbacks run (no time passes). */
async function microtasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe("SourceInput", () => {
  test("poll() processes what a synchronous reader returns, and null ends the reader once", () => {
    const left = [1, 2, 3];
    const { input, out, ended, counters } = source({ poll: (max: number) => (left.length === 0 ? null : left.splice(0, max)) }, { batchSize: 4, sliceRecords: 2 });
    input.poll();
    assert.ok(input.sliced, "a full slice smaller than a batch: more is probably ready");
    input.poll();
    assert.ok(!input.sliced);
    assert.deepEqual(out, [1, 2, 3]);
    input.poll();
    assert.equal(ended.count, 1);
    assert.ok(!input.pollable);
    assert.equal(counters.recordsIn, 3);
  });

  test("poll() of an empty batch waits the reader's waitMs before the next poll", () => {
    const { input, timers, owner } = source({ poll: () => [], waitMs: () => 25 });
    input.poll();
    assert.ok(!input.pollable);
    assert.deepEqual(timers.map((t) => t.delayMs), [25]);
    timers[0].fn();
    assert.ok(input.pollable);
    assert.equal(owner.wakes, 1);
  });

  test("a pending poll does not hold the actor; its records wait for processPolled()", async () => {
    let settle!: (v: unknown[]) => void;
    const { input, out, owner } = source({ poll: () => new Promise<unknown[]>((r) => (settle = r)) });
    assert.equal(input.poll(), undefined, "the step ends at once");
    assert.ok(!input.pollable && !input.polled);
    settle([7, 8]);
    await microtasks();
    assert.ok(input.polled);
    assert.equal(owner.wakes, 1);
    assert.deepEqual(out, []);
    input.processPolled();
    assert.deepEqual(out, [7, 8]);
    assert.ok(input.pollable);
  });

  test("after end(), what a pending poll returns is dropped", async () => {
    let settle!: (v: unknown[]) => void;
    const { input, out } = source({ poll: () => new Promise<unknown[]>((r) => (settle = r)) });
    input.poll();
    input.end();
    settle([1]);
    await microtasks();
    assert.ok(!input.polled && !input.pollable);
    assert.deepEqual(out, []);
  });

  test("a poll that rejects fails the subtask", async () => {
    const { input, owner } = source({ poll: () => Promise.reject(new Error("broker gone")) });
    input.poll();
    await microtasks();
    assert.equal(owner.failed.length, 1);
    assert.match(String((owner.failed[0] as Error).message), /src|broker gone/);
  });
});
