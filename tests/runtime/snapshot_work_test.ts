/**
 * The async part of a checkpoint runs in slices on the subtask's own thread; each slice is
 * a pause of the subtask's records. SnapshotWork tells each job how long every slice ran,
 * so a checkpoint reports its longest pause (`checkpoint.longest_step`, issue 10's "no
 * checkpoint pauses processing for more than 10 ms"), and slices shrink to the budget.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SnapshotWork } from "../../runtime/snapshot_work.ts";

test("SnapshotWork reports every slice's duration to its job and shrinks slices that overran the budget", () => {
  let now = 0;
  const work = new SnapshotWork({ now: () => now }, 4);
  const steps: number[] = [];
  let left = 10_000;
  let finished = false;
  // 0.01 ms per unit: the first slice of 1,000 units runs 10 ms, over the 4 ms budget.
  work.add({
    checkpointId: 1,
    firstBudget: 1_000,
    maxBudget: 1_000,
    step: (n) => {
      now += n * 0.01;
      left -= n;
      return left <= 0;
    },
    done: () => (finished = true),
    drop: () => {},
    stepTook: (ms) => steps.push(ms),
  });
  while (work.pending) work.run();
  assert.ok(finished);
  assert.equal(steps[0], 10);
  assert.ok(steps.length > 2);
  // After the overrun every slice fits the budget.
  assert.ok(steps.slice(1).every((ms) => ms <= 4 + 1e-9), `slices after the first: ${steps.slice(1).join(", ")}`);
});

test("SnapshotWork reports the duration of an async slice once it settles", async () => {
  let now = 0;
  const work = new SnapshotWork({ now: () => now }, 4);
  const steps: number[] = [];
  work.add({
    checkpointId: 2,
    firstBudget: 1,
    maxBudget: 1,
    step: () => {
      now += 3;
      return Promise.resolve(true);
    },
    done: () => {},
    drop: () => {},
    stepTook: (ms) => steps.push(ms),
  });
  await work.run();
  assert.deepEqual(steps, [3]);
  assert.equal(work.pending, false);
});
