/**
 * Regression (found in a review): SequenceSource splits [from, to) with from + floor(span * i / p); span * p is not exact
 * above 2^53 / p, so the last split can end before `to`: SequenceSource(0, MAX_SAFE_INTEGER)
 * at parallelism 5 never emits 9007199254740990. DESIGN: each integer exactly once.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SequenceSource } from "../../mod.ts";
import type { OperatorContext } from "../../mod.ts";

function splits(source: SequenceSource, p: number): { from: number; to: number }[] {
  const out: { from: number; to: number }[] = [];
  for (let i = 0; i < p; i++) {
    const ctx = { uid: "n", name: "n", subtaskIndex: i, parallelism: p, maxParallelism: 128, keyGroupRange: { start: 0, end: 127 }, clock: { now: () => 0 }, attempt: 0, jobName: "j" } as unknown as OperatorContext;
    const reader = source.createReader(ctx);
    reader.open(ctx, undefined);
    for (const s of reader.snapshotState(1) as { from: number; to: number }[]) out.push(s);
  }
  return out;
}

describe("SequenceSource splits", () => {
  test("the splits of a range near 2^53 cover it exactly at every parallelism", () => {
    const source = new SequenceSource(0, Number.MAX_SAFE_INTEGER);
    for (const p of [2, 3, 5]) {
      const s = splits(source, p);
      assert.equal(s[0].from, 0, `p=${p}`);
      assert.equal(s.at(-1)!.to, Number.MAX_SAFE_INTEGER, `p=${p}: the last split ends at ${s.at(-1)!.to}, records up to 'to' are lost`);
      for (let i = 1; i < s.length; i++) assert.equal(s[i].from, s[i - 1].to, `p=${p}: gap or overlap`);
    }
  });
});
