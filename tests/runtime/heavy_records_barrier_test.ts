/**
 * Issue 8, fault 11: half the records share one key whose synchronous processing costs
 * 0.5 ms; with the default batchSize (1024) an unaligned checkpoint must still complete
 * within ~150 ms, because a subtask checks its priority lane within a batch by time (the
 * injected clock), not after the whole batch. The cost is virtual: the keyed function
 * moves the virtual clock forward, so every duration below is exact and repeatable.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { VirtualWorld } from "../virtual_world.ts";

const HOT_KEY_COST_MS = 0.5;

function heavyJob(world: VirtualWorld, o: { unaligned: boolean; n?: number }) {
  const env = new StreamEnvironment({
    jobName: `heavy-${o.unaligned}`,
    parallelism: 2,
    storage: new MemoryStorage(),
    checkpoint: { unaligned: o.unaligned, timeout: 60_000 },
    restart: { strategy: "none" },
    runtime: world.runtime(),
  });
  const sink = new CollectSink<[number, number]>();
  let processed = 0;
  env.fromSource(new SequenceSource(0, o.n ?? 1_000_000), { uid: "numbers" })
    .keyBy((n) => (n % 2 === 0 ? 0 : n % 101))
    .process<[number, number]>((n, ctx) => {
      // The hot key's records are slow, synchronously: the virtual clock moves on.
      if (ctx.key === 0) world.clock.advanceTo(world.clock.now() + HOT_KEY_COST_MS);
      const count = ctx.valueState<number>("count");
      count.update((count.value() ?? 0) + 1);
      processed++;
      ctx.emit([ctx.key as number, n]);
    }, { uid: "hot" })
    .sinkTo(sink, { uid: "out" });
  return { env, sink, processed: () => processed };
}

async function checkpointAfterWarmUp(world: VirtualWorld, unaligned: boolean) {
  const { env, processed } = heavyJob(world, { unaligned });
  const job = await env.execute();
  // Until the keyed operator is busy with full batches and its input queues are full.
  await world.drive(() => processed() >= 5_000, 60_000);
  const triggered = world.clock.now();
  let details: Awaited<ReturnType<typeof job.triggerCheckpoint>> | undefined;
  job.triggerCheckpoint().then((d) => (details = d));
  await world.drive(() => details !== undefined, 120_000);
  const took = world.clock.now() - triggered;
  await job.cancel();
  return { details: details!, took };
}

describe("a barrier does not wait for a whole batch of slow records", () => {
  test("an unaligned checkpoint completes within 150 ms (virtual) while the hot key costs 0.5 ms per record, batchSize 1024", async () => {
    const world = new VirtualWorld();
    const { details, took } = await checkpointAfterWarmUp(world, true);
    assert.equal(details.status, "COMPLETED");
    assert.equal(details.checkpoint_type, "UNALIGNED_CHECKPOINT");
    assert.ok(details.persisted_data > 0, "the barrier overtook queued records");
    assert.ok(took < 150, `the unaligned checkpoint took ${took} ms (virtual)`);
  });

  test("the same job's records flow on exactly-once through many checkpoints taken mid-batch", async () => {
    const world = new VirtualWorld();
    const n = 20_000;
    const env = new StreamEnvironment({
      jobName: "heavy-exact",
      parallelism: 2,
      // Small queues: the sources are still reading when the failure comes.
      channelCapacity: 2,
      storage: new MemoryStorage(),
      checkpoint: { interval: 40, unaligned: true },
      restart: { strategy: "fixed-delay", attempts: 2, delay: 1 },
      runtime: world.runtime(),
    });
    const sink = new CollectSink<number>();
    let failed = false;
    env.fromSource(new SequenceSource(0, n), { uid: "numbers" })
      .keyBy((x) => (x % 2 === 0 ? 0 : x % 101))
      .process<number>((x, ctx) => {
        if (ctx.key === 0) world.clock.advanceTo(world.clock.now() + HOT_KEY_COST_MS);
        // One failure mid-run, so that a checkpoint taken within a batch is restored.
        if (x === 2_000 && !failed) {
          failed = true;
          throw new Error("injected failure");
        }
        ctx.emit(x);
      }, { uid: "hot" })
      .sinkTo(sink, { uid: "out" });
    const job = await env.execute();
    let result: Awaited<typeof job.done> | undefined;
    job.done.then((r) => (result = r));
    await world.drive(() => result !== undefined, 600_000);
    assert.equal(result?.status, "finished", String(result?.error));
    assert.equal(result?.restarts, 1);
    const stats = job.checkpointStats();
    assert.equal(stats.counts.restored, 1, JSON.stringify(stats.counts));
    assert.deepEqual([...sink.committed].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  });
});
