import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { restartStrategy } from "../../runtime/restart_strategy.ts";

describe("restart strategies", () => {
  test("none never restarts", () => {
    assert.equal(restartStrategy({ strategy: "none" }).nextDelay(0), undefined);
  });
  test("fixed-delay restarts `attempts` times with the same delay", () => {
    const s = restartStrategy({ strategy: "fixed-delay", attempts: 2, delay: 7 });
    assert.deepEqual([s.nextDelay(0), s.nextDelay(1), s.nextDelay(2)], [7, 7, undefined]);
  });
  test("exponential-delay doubles up to maxDelay and resets after a quiet period", () => {
    const s = restartStrategy({ strategy: "exponential-delay", initialDelay: 10, maxDelay: 35, multiplier: 2, resetAfter: 1000 });
    assert.deepEqual([s.nextDelay(0), s.nextDelay(20), s.nextDelay(60), s.nextDelay(120)], [10, 20, 35, 35]);
    assert.equal(s.nextDelay(10_000), 10, "reset after a long run");
  });
  test("failure-rate gives up when more than maxFailures happen within the interval", () => {
    const s = restartStrategy({ strategy: "failure-rate", maxFailures: 2, interval: 100, delay: 3 });
    assert.deepEqual([s.nextDelay(0), s.nextDelay(10), s.nextDelay(20)], [3, 3, undefined]);
    const t = restartStrategy({ strategy: "failure-rate", maxFailures: 2, interval: 100, delay: 3 });
    assert.deepEqual([t.nextDelay(0), t.nextDelay(10), t.nextDelay(150)], [3, 3, 3], "old failures leave the window");
  });
});
