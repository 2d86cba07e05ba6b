/**
 * Issue 10 item 1: keyed state is snapshotted asynchronously. The snapshot point only
 * marks the heap state; its entries are copied and encoded in slices between records
 * (a slice of a few entries here, so that records race every snapshot), and a change made
 * after the snapshot point — here a reduce that changes its accumulator in place — must
 * never reach that checkpoint: a restore from it then counts every record exactly once.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, type StorageAdapter, StreamEnvironment } from "../../mod.ts";
import { VirtualWorld } from "../virtual_world.ts";
import { loadCheckpoint } from "../../checkpoint/restore.ts";
import { joinParts } from "../../storage/adapter.ts";

type Count = [key: number, count: number];

/**
 * A storage that keeps the very parts it is given (and says nothing of it): a subtask that
 * wrote over its snapshot's chunks after storing them would change checkpoints already
 * taken, and the restore would find them damaged.
 */
function keepingStorage(): StorageAdapter {
  const files = new Map<string, Uint8Array[]>();
  return {
    description: "keeping",
    get: (k) => Promise.resolve(files.has(k) ? joinParts(files.get(k)!) : undefined),
    put: (k, bytes) => Promise.resolve(void files.set(k, [bytes])),
    putParts: async (k, parts) => {
      const kept: Uint8Array[] = [];
      for await (const p of parts) kept.push(p);
      files.set(k, kept);
    },
    // Nothing is deleted either: every checkpoint's files are checked at the end.
    delete: () => Promise.resolve(),
    list: (prefix) => Promise.resolve([...files.keys()].filter((k) => k.startsWith(prefix)).sort()),
    deletePrefix: () => Promise.resolve(),
  };
}

describe("asynchronous keyed snapshots", () => {
  for (const incremental of [false, true]) {
  for (const keeping of [false, true]) {
  test(`records flow while a snapshot is written, and a restore from it counts every record exactly once${incremental ? " (incremental: base + changelogs)" : ""}${keeping ? ", on a storage that keeps the buffers it is given" : ""}`, async () => {
    const world = new VirtualWorld();
    const n = 60_000;
    const keys = 3_000;
    const storage = keeping ? keepingStorage() : new MemoryStorage();
    const env = new StreamEnvironment({
      jobName: "async-snapshot",
      state: { incremental },
      parallelism: 2,
      storage,
      // One key group per subtask: its chunks fill up and go to storage as they are (a
      // key group's chunks under 4 KiB are joined into a buffer of the file's own).
      maxParallelism: keeping ? 2 : 128,
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
    let latestAtFailure: number | undefined;
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
          latestAtFailure = stats.latest.completed?.id;
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
    // The latest checkpoint, not an older one after it was found damaged.
    assert.equal(job.checkpointStats().latest.restored?.id, latestAtFailure);
    if (keeping) {
      // Every checkpoint's state files are still what it wrote: none was written over later.
      const taken = (await storage.list("")).filter((k) => k.endsWith("/_metadata"));
      assert.ok(taken.length >= 3, `checkpoints kept: ${taken}`);
      for (const m of taken) await loadCheckpoint(storage, m.slice(0, -"/_metadata".length));
    }
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
  }
});
