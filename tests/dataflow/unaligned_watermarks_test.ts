/**
 * An unaligned checkpoint's channel state keeps records and the watermarks between them in
 * order, also restored at another parallelism: with monotonous timestamps no record may come
 * late behind a watermark that overtook it, so every window holds all of its records and
 * the late side output stays empty. Virtual time: a slow relay and a slow window function
 * keep the queues full.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, OutputTag, SequenceSource, StreamEnvironment, TumblingEventTimeWindows, WatermarkStrategy } from "../../mod.ts";
import type { StorageAdapter } from "../../mod.ts";
import { VirtualWorld } from "../virtual_world.ts";

const N = 3000;
const KEYS = 5;
const JOB = "unaligned-wm";
type Row = [key: number, start: number, count: number];

function job(world: VirtualWorld, o: { p: number; storage: StorageAdapter; sink: CollectSink<Row>; late: CollectSink<number>; restoreFrom?: string }) {
  const env = new StreamEnvironment({
    jobName: JOB, parallelism: 2, storage: o.storage, batchSize: 16, channelCapacity: 4, autoWatermarkInterval: 2,
    checkpoint: { unaligned: true, retained: 5 }, restart: { strategy: "none" },
    restoreFrom: o.restoreFrom === undefined ? undefined : { storage: o.storage, path: o.restoreFrom },
    runtime: world.runtime(),
  });
  const lateTag = new OutputTag<number>("late");
  const w = env.fromSource(new SequenceSource(0, N), { uid: "numbers" })
    .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n), { uid: "ts" })
    .rebalance()
    .map(async (n) => (await world.sleep(0.5), n), { uid: "relay", parallelism: o.p })
    .keyBy((n) => n % KEYS)
    .window(TumblingEventTimeWindows.of(100))
    .sideOutputLateData(lateTag)
    .process<Row>(async (k, win, els, ctx) => {
      await world.sleep(1);
      ctx.emit([k, win.start, els.length]);
    }, { uid: "w", parallelism: o.p });
  w.sinkTo(o.sink, { uid: "out", parallelism: o.p });
  w.getSideOutput(lateTag).sinkTo(o.late, { uid: "late", parallelism: 1 });
  return env;
}

describe("watermarks in the channel state of an unaligned checkpoint", () => {
  for (const [from, to] of [[2, 3], [3, 2], [2, 2]]) {
    test(`event-time windows restored from an unaligned checkpoint with in-flight records and watermarks (${from} -> ${to})`, async () => {
      const world = new VirtualWorld();
      const storage = new MemoryStorage();
      const sink = new CollectSink<Row>();
      const late = new CollectSink<number>();
      const h = await job(world, { p: from, storage, sink, late }).execute();
      await world.drive(() => false, 300);
      const d = (await world.settle(h.triggerCheckpoint(), 10_000))?.value;
      assert.equal(d?.status, "COMPLETED");
      assert.equal(d!.checkpoint_type, "UNALIGNED_CHECKPOINT");
      assert.ok(d!.persisted_data > 0, "the checkpoint holds in-flight records (and the watermarks between them)");
      await world.settle(h.cancel(), 10_000);
      const dir = `${JOB}/${h.id}/chk-${d!.id}`;
      const h2 = await job(world, { p: to, storage, sink, late, restoreFrom: dir }).execute();
      const r = await world.untilDone(h2);
      assert.equal(r.status, "finished", String(r.error));
      const expected: Row[] = [];
      for (let k = 0; k < KEYS; k++) for (let s = 0; s < N; s += 100) expected.push([k, s, 100 / KEYS]);
      const sort = (rows: Row[]) => [...rows].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      assert.deepEqual(late.committed, []);
      assert.deepEqual(sort(sink.committed), sort(expected));
    });
  }
});
