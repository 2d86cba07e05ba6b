import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Dispatcher, type Runnable } from "../../actors/dispatcher.ts";
import type { Clock, Scheduler, Timer } from "../../actors/time.ts";

/** A clock that only moves when a step says so, and a scheduler that queues deferred slices. */
function manualTime() {
  let now = 0;
  const deferred: (() => void)[] = [];
  const clock: Clock = { now: () => now };
  const scheduler: Scheduler = {
    after: (): Timer => ({ cancel() {} }),
    defer: (fn) => void deferred.push(fn),
  };
  return {
    clock,
    scheduler,
    advance: (ms: number) => void (now += ms),
    /** Runs one deferred slice; false when none is queued. */
    runSlice: () => {
      const fn = deferred.shift();
      fn?.();
      return fn !== undefined;
    },
  };
}

/**
 * An actor that always has work and costs `costMs` of clock per step; `reports` makes it
 * hand over its clock reading after each step, as subtasks do.
 */
function busyActor(t: ReturnType<typeof manualTime>, costMs: number, reports = false) {
  const actor: Runnable & { steps: number; clockAfterStep: number } = {
    busy: false,
    queued: false,
    alive: true,
    steps: 0,
    clockAfterStep: -1,
    runnable: () => true,
    step() {
      actor.steps++;
      t.advance(costMs);
      if (reports) actor.clockAfterStep = t.clock.now();
    },
    fail(e) {
      throw e;
    },
  };
  return actor;
}

describe("Dispatcher", () => {
  test("a slice ends at its deadline although every step is heavy (2 ms steps, 8 ms slice)", () => {
    const t = manualTime();
    const d = new Dispatcher(t.clock, t.scheduler, { sliceMs: 8 });
    const actor = busyActor(t, 2);
    d.wake(actor);
    assert.ok(t.runSlice());
    // Four steps reach the deadline; reading the clock only every 16 steps ran 16 (32 ms).
    assert.equal(actor.steps, 4);
    assert.ok(t.runSlice(), "the next slice was deferred, so timers and I/O got their turn in between");
    assert.equal(actor.steps, 8);
  });

  test("cheap steps run many per slice, and the slice still ends by its deadline", () => {
    const t = manualTime();
    const d = new Dispatcher(t.clock, t.scheduler, { sliceMs: 8 });
    const actor = busyActor(t, 0.01);
    d.wake(actor);
    t.runSlice();
    assert.ok(actor.steps >= 800 && actor.steps <= 816, `${actor.steps} steps in one 8 ms slice of 0.01 ms steps`);
  });

  test("actors that report their clock reading: a slice mixing cheap and heavy steps overruns its deadline by at most one step", () => {
    const t = manualTime();
    const d = new Dispatcher(t.clock, t.scheduler, { sliceMs: 8 });
    const cheap = busyActor(t, 0.001, true);
    const heavy = busyActor(t, 3, true);
    d.wake(cheap);
    d.wake(heavy);
    t.runSlice();
    assert.ok(t.clock.now() < 8 + 3, `the slice ran until ${t.clock.now()} ms`);
  });
});
