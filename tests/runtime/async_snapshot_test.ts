/**
 * Issue 10 item 1: keyed state is snapshotted asynchronously. The snapshot point only
 * marks the heap state; its entries are copied and encoded in slices between records
 * (a slice of a few entries here, so that records race every snapshot), and a change made
 * after the snapshot point — here a reduce that changes its accumulator in place — must
 * never reach that checkpoint: a restore from it then counts every record exactly once.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { VirtualWorld } from "../virtual_world.ts";

type Count = [key: number, count: number];

describe("asynchronous keyed snapshots", () => {
  for (const incremental of [false, true]) {
  test(`records flow while a snapshot is written, and a restore from it counts every record exactly once${incremental ? " (incremental: base + changelogs)" : ""}`, async () => {
    const world = new VirtualWorld();
    const n = 60_000;
    const keys = 3_000;
    const env = new StreamEnvironment({
      jobName: "async-snapshot",
      state: { incremental },
      parallelism: 2,
      storage: new MemoryStorage(),
      checkpoint: { interval: 5 },
      restart: { strategy: "fixed-delay", attempts: 1, delay: 1 },
      runtime: world.runtime({ snapshotSliceMax: 200 }),
    });
    const sink = new CollectSink<Count>();
    let reduced = 0;
    let failAt = -1;
    let failed = false;
    let duringSnapshot = 0;
    let completedBefore = 0;
    env.fromSource(new SequenceSource(0, n), { uid: "numbers" })
      .map((x): Count => [x % keys, 1], { uid: "pair" })
      .keyBy((p) => p[0])
      .reduce((acc, p) => {
        // In place: without copy-on-write this change would reach a snapshot in progress.
        acc[1] += p[1];
        reduced++;
        // Records cost virtual time, so that checkpoints come and go while they flow.
        world.clock.advanceTo(world.clock.now() + 0.01);
        const stats = job.checkpointStats();
        if (stats.counts.in_progress > 0 && stats.counts.completed === completedBefore) duringSnapshot++;
        completedBefore = stats.counts.completed;
        if (!failed && failAt < 0 && stats.counts.completed >= 2) failAt = reduced + 500;
        if (!failed && reduced === failAt) {
          failed = true;
          throw new Error("injected failure after a completed checkpoint");
        }
        return acc;
      }, { uid: "sum" })
      .sinkTo(sink, { uid: "out" });
    const job = await env.execute();
    let result: Awaited<typeof job.done> | undefined;
    job.done.then((r) => (result = r));
    await world.drive(() => result !== undefined, 600_000);
    assert.equal(result?.status, "finished", String(result?.error));
    assert.equal(result?.restarts, 1);
    assert.equal(job.checkpointStats().counts.restored, 1);
    assert.ok(duringSnapshot > 1_000, `records processed while a checkpoint was in progress: ${duringSnapshot}`);
    const last = new Map<number, number>();
    for (const [k, c] of sink.committed) last.set(k, c);
    assert.equal(last.size, keys);
    for (let k = 0; k < keys; k++) assert.equal(last.get(k), n / keys, `count of key ${k}`);
    if (incremental) {
      const sizes = job.checkpointStats().history.map((c) => (c as unknown as { checkpointed_size: number }).checkpointed_size);
      assert.ok(sizes.length > 2, "checkpoints with changelogs were taken");
    }
  });
  }
});
