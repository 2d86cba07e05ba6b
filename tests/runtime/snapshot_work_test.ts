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

test("SnapshotWork reports the duration of a slice that is not parkable once its promise settles: the subtask waited for it", async () => {
  let now = 0;
  const work = new SnapshotWork({ now: () => now }, 4);
  const steps: number[] = [];
  work.add({
    checkpointId: 2,
    firstBudget: 1,
    maxBudget: 1,
    step: () => {
      now += 3;
      return new Promise<boolean>((resolve) => setTimeout(() => {
        now += 5;
        resolve(true);
      }, 0));
    },
    done: () => {},
    drop: () => {},
    stepTook: (ms) => steps.push(ms),
  });
  assert.equal(work.pending, true);
  await work.run();
  assert.deepEqual(steps, [8]);
  assert.equal(work.pending, false);
});

test("SnapshotWork parks a parkable job whose slice returns a promise: only the synchronous part is a pause, and wake() takes the job up once it settles", async () => {
  let now = 0;
  let wakes = 0;
  const failures: unknown[] = [];
  const work = new SnapshotWork({ now: () => now }, 4, { wake: () => wakes++, fail: (e) => failures.push(e) });
  const steps: number[] = [];
  let upload: ((finished: boolean) => void) | undefined;
  let done = false;
  work.add({
    checkpointId: 2,
    firstBudget: 1,
    maxBudget: 1,
    parkable: true,
    step: () => {
      now += 3;
      // An upload that takes 50 ms of the clock, during which records must flow.
      return new Promise<boolean>((resolve) => (upload = resolve));
    },
    done: () => (done = true),
    drop: () => {},
    stepTook: (ms) => steps.push(ms),
  });
  work.run();
  assert.deepEqual(steps, [3], "the slice's synchronous part");
  assert.equal(work.pending, false, "a parked job does not keep the subtask from its records");
  assert.equal(work.parked, true);
  now += 50;
  upload!(true);
  await Promise.resolve();
  assert.equal(done, true);
  assert.equal(wakes, 1);
  assert.equal(work.parked, false);
  assert.deepEqual(steps, [3], "the wait is the store's time, not a pause");
  // A job whose promise rejects fails the subtask.
  work.add({ checkpointId: 3, firstBudget: 1, maxBudget: 1, parkable: true, step: () => Promise.reject(new Error("disk gone")), done: () => {}, drop: () => {} });
  work.run();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal((failures[0] as Error)?.message, "disk gone");
});
