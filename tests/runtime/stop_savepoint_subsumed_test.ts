/**
 * Regression (found in a review): stop-with-savepoint (no drain) never succeeds while periodic checkpoints run
 * concurrently (unaligned checkpoints, maxConcurrent 2): it hangs until the checkpoint
 * timeout and then fails, or fails at once as subsumed.
 *
 * CheckpointCoordinator #schedulePeriodic (checkpoint/coordinator.ts:165-176) only stops
 * for `#finishing` (drain); a terminate savepoint does not stop the periodic scheduler,
 * and with maxConcurrent 2 the next periodic checkpoint n+1 starts right away. Its barrier
 * is unaligned (priority lane) while the savepoint n is aligned, so at a subtask with
 * inputs it overtakes savepoint barrier n still queued behind data:
 *  - if the subtask had not seen barrier n yet, it starts n+1 and later drops barrier n
 *    as "late" (WaitingForFirstBarrier.barrierReceived, barrier_handler.ts:72) WITHOUT
 *    declining it; the coordinator never subsumes a final/terminate savepoint
 *    (coordinator.ts #commit `!older.final`), so the savepoint waits for
 *    checkpoint.timeout (60 s by default) and fails (sources resume, job keeps running);
 *  - if it was aligning n, CollectingAligned subsumes and declines the savepoint.
 * (This virtual-time run hits the first case: periodic checkpoints keep completing while
 * stop() hangs until the 1.5 s timeout; the same job stops in 18 ms with aligned
 * checkpoints or with maxConcurrent 1.) Flink stops the checkpoint scheduler for stop-with-savepoint; weir should
 * not start periodic/queued checkpoints while a terminate savepoint is pending, and a
 * handler that skips an older checkpoint's barrier should decline that checkpoint.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { memoryDirectories, VirtualWorld } from "../virtual_world.ts";

test("a periodic unaligned checkpoint does not abort a stop-with-savepoint", async () => {
  const world = new VirtualWorld();
  // The savepoint goes to memory: real file I/O would not keep pace with virtual time.
  const dirs = memoryDirectories();
  const dir = "sp";
  const env = new StreamEnvironment({
    jobName: "stopsub",
    parallelism: 2,
    storage: new MemoryStorage(),
    batchSize: 4,
    channelCapacity: 2,
    checkpoint: { interval: 20, unaligned: true, maxConcurrent: 2, timeout: 1_500 },
    restart: { strategy: "none" },
    runtime: world.runtime(),
  });
  const sink = new CollectSink<number>();
  env.fromSource(new SequenceSource(0, 100_000), { uid: "numbers" })
    .keyBy((n) => n % 5)
    .process<number>(async (n, ctx) => {
      await world.sleep(1);
      ctx.emit(n);
    }, { uid: "slow", parallelism: 1 })
    .sinkTo(sink, { uid: "out", parallelism: 1 });
  const h = await env.execute();
  await world.drive(() => false, 50);
  let outcome: string | undefined;
  h.stop({ savepoint: dir }).then(() => (outcome = "stopped"), (e) => (outcome = String(e)));
  await world.drive(() => outcome !== undefined, 3_000);
  const completedMeanwhile = h.checkpointStats().counts.completed;
  if (outcome === undefined) await h.cancel();
  dirs.restore();
  assert.equal(outcome, "stopped", `stop() did not succeed within 3 s (virtual); checkpoints completed meanwhile: ${completedMeanwhile}`);
});
