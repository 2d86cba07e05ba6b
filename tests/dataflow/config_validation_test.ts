/**
 * Regression (found in a review): checkpoint options that are counts accept fractions.
 *
 * checkpointConfig (checkpoint/config.ts:62-65) only checks `> 0` / `>= 0` for
 * maxConcurrent, retained and tolerableFailures. `retained: 0.5` passes, and then
 * CheckpointCoordinator #discardSubsumed (coordinator.ts `while (completedIds.length >
 * keep)`) deletes every checkpoint right after it completed: a failover finds no
 * checkpoint and restarts from scratch, so an exactly-once sink commits the replayed
 * records a second time. Fix: require integers (>= 1 for maxConcurrent and retained,
 * >= 0 for tolerableFailures) with a message naming the option, as positiveInt() does for
 * the environment options.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage, StreamEnvironment } from "../../mod.ts";

for (const [option, value] of [["retained", 0.5], ["maxConcurrent", 1.5], ["tolerableFailures", 0.5]] as const) {
  test(`checkpoint.${option} = ${value} is rejected with a message naming the option`, () => {
    assert.throws(
      () => new StreamEnvironment({ storage: new MemoryStorage(), checkpoint: { [option]: value } }),
      (e: Error) => e.message.includes(`checkpoint.${option}`),
    );
  });
}

test("retained: 0.5 (accepted today) keeps no checkpoint, so a failover duplicates committed records", async () => {
  const { countingJob, assertExactlyOnce, FailOnce } = await import("../helpers.ts");
  const fail = new FailOnce((n) => n >= 1500);
  let job;
  try {
    job = countingJob({ n: 20_000, ratePerSecond: 100_000, checkpoint: { interval: 10, retained: 0.5 }, failInReduce: fail });
  } catch {
    return; // rejected: fine
  }
  const { env, sink, n } = job;
  const r = await (await env.execute()).done;
  assert.equal(r.status, "finished");
  assert.ok(fail.fired);
  assertExactlyOnce(sink.committed, n);
});
