import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectSink, EventTimeSessionWindows, MemoryStorage, OutputTag, SequenceSource, SlidingEventTimeWindows, StreamEnvironment, TumblingEventTimeWindows,
  TumblingProcessingTimeWindows, WatermarkStrategy, WeirError,
} from "../../mod.ts";
import type { Source, SourceReader } from "../../mod.ts";
import { VirtualWorld } from "../virtual_world.ts";
import { virtualEnv } from "./virtual_env.ts";

/** A bounded source of fixed values in this order (parallelism 1), `perPoll` per poll. */
class Values<T> implements Source<T> {
  constructor(readonly values: T[], readonly perPoll = 1) {}
  createReader(): SourceReader {
    let next = 0;
    return {
      open: (_c, restored) => {
        if (restored && restored.length > 0) next = restored[0] as number;
      },
      poll: () => (next >= this.values.length ? null : this.values.slice(next, (next += this.perPoll))),
      waitMs: () => 1,
      snapshotState: () => [next],
    };
  }
}

type Ev = { key: string; at: number; v: number };
/** The watermark follows every record: it is the record's timestamp minus 1 (Flink's punctuated watermark). */
const punctuated = WatermarkStrategy.forGenerator<Ev>(() => ({
  onEvent: (_e, ts, out) => out.emitWatermark(ts - 1),
  onPeriodicEmit: () => {},
})).withTimestampAssigner((e) => e.at);

async function run(world: VirtualWorld, e: StreamEnvironment) {
  return world.untilDone(await e.execute());
}

describe("windows: the contract's details", () => {
  test("window.start and window.end are ms with end exclusive: a record at end belongs to the next window", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number, number[]]>();
    const e = virtualEnv(world, "window-bounds", { parallelism: 1 });
    e.fromSource<Ev>(new Values<Ev>([0, 999, 1000, 1999, 2000].map((at) => ({ key: "k", at, v: at }))), { uid: "src" })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<Ev>().withTimestampAssigner((e) => e.at), { uid: "ts" })
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(1000))
      .process<[number, number, number[]]>((_k, w, els, ctx) => ctx.emit([w.start, w.end, els.map((x) => x.v)]), { uid: "w" })
      .sinkTo(sink, { uid: "out" });
    assert.equal((await run(world, e)).status, "finished");
    assert.deepEqual(sink.committed.sort((a, b) => a[0] - b[0]), [[0, 1000, [0, 999]], [1000, 2000, [1000, 1999]], [2000, 3000, [2000]]]);
  });

  test("aggregate calls add(value, acc), getResult at firing; the late side output is on the stream aggregate returned", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<string>();
    const late = new CollectSink<Ev>();
    const tag = new OutputTag<Ev>("late");
    const e = virtualEnv(world, "aggregate-late", { parallelism: 1 });
    const events: Ev[] = [
      { key: "a", at: 100, v: 1 },
      { key: "a", at: 200, v: 2 },
      { key: "a", at: 1500, v: 3 }, // watermark 1499: [0,1000) fires with 1,2
      { key: "a", at: 300, v: 4 }, // late, no lateness: side output
      { key: "a", at: 1600, v: 5 },
    ];
    const out = e.fromSource<Ev>(new Values(events), { uid: "src" })
      .assignTimestampsAndWatermarks(punctuated, { uid: "ts" })
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(1000))
      .sideOutputLateData(tag)
      .aggregate({
        createAccumulator: () => "",
        add: (value: Ev, acc: string) => acc + value.v,
        getResult: (acc) => `sum-of:${acc}`,
        merge: (a, b) => a + b,
      }, { uid: "agg" });
    out.sinkTo(sink, { uid: "out" });
    out.getSideOutput(tag).sinkTo(late, { uid: "late" });
    assert.equal((await run(world, e)).status, "finished");
    assert.deepEqual(sink.committed, ["sum-of:12", "sum-of:35"]);
    assert.deepEqual(late.committed.map((x) => x.v), [4]);
  });

  test("allowedLateness fires the window again with the full updated result; later records go to the reduce's side output", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number]>();
    const late = new CollectSink<Ev>();
    const tag = new OutputTag<Ev>("too-late");
    const e = virtualEnv(world, "lateness-reduce", { parallelism: 1 });
    const events: Ev[] = [
      { key: "a", at: 100, v: 1 },
      { key: "a", at: 1200, v: 10 }, // watermark 1199: [0,1000) fires: 1
      { key: "a", at: 500, v: 100 }, // within lateness 500 (1199 < 999 + 500): fires again with 101
      { key: "a", at: 1400, v: 1000 }, // watermark 1399
      { key: "a", at: 600, v: 10_000 }, // still within: fires again with 10101
      { key: "a", at: 1600, v: 100_000 }, // watermark 1599 >= 999 + 500: [0,1000) is gone
      { key: "a", at: 700, v: 1_000_000 }, // too late: side output
    ];
    const out = e.fromSource<Ev>(new Values(events), { uid: "src" })
      .assignTimestampsAndWatermarks(punctuated, { uid: "ts" })
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(1000))
      .allowedLateness(500)
      .sideOutputLateData(tag)
      .reduce((a, b) => ({ key: a.key, at: Math.max(a.at, b.at), v: a.v + b.v }), { uid: "sum" });
    out.map((x): [number, number] => [Math.floor(x.at / 1000) * 1000, x.v], { uid: "pair" }).sinkTo(sink, { uid: "out" });
    out.getSideOutput(tag).sinkTo(late, { uid: "late" });
    assert.equal((await run(world, e)).status, "finished");
    assert.deepEqual(sink.committed, [[0, 1], [0, 101], [0, 10101], [1000, 101010]]);
    assert.deepEqual(late.committed.map((x) => x.v), [1_000_000]);
  });

  test("a window's process writes side outputs with ctx.output, beside its late side output", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<number>();
    const big = new CollectSink<[number, number]>();
    const late = new CollectSink<Ev>();
    const bigTag = new OutputTag<[number, number]>("big");
    const lateTag = new OutputTag<Ev>("late");
    const e = virtualEnv(world, "window-side-output", { parallelism: 1 });
    const events: Ev[] = [
      { key: "a", at: 100, v: 1 }, { key: "a", at: 200, v: 50 }, { key: "a", at: 1100, v: 2 }, { key: "a", at: 300, v: 7 }, { key: "a", at: 2100, v: 3 },
    ];
    const out = e.fromSource<Ev>(new Values(events), { uid: "src" })
      .assignTimestampsAndWatermarks(punctuated, { uid: "ts" })
      .keyBy((x) => x.key)
      .window(TumblingEventTimeWindows.of(1000))
      .sideOutputLateData(lateTag)
      .process<number>((_k, w, els, ctx) => {
        const sum = els.reduce((a, b) => a + b.v, 0);
        if (sum > 10) ctx.output(bigTag, [w.start, sum]);
        else ctx.emit(sum);
      }, { uid: "w" });
    out.sinkTo(sink, { uid: "out" });
    out.getSideOutput(bigTag).sinkTo(big, { uid: "big" });
    out.getSideOutput(lateTag).sinkTo(late, { uid: "late" });
    assert.equal((await run(world, e)).status, "finished");
    assert.deepEqual(sink.committed, [2, 3]);
    assert.deepEqual(big.committed, [[0, 51]]);
    assert.deepEqual(late.committed.map((x) => x.v), [7]);
  });

  test("a late record with no late side output is dropped and counted (Flink's numLateRecordsDropped)", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<number>();
    const e = virtualEnv(world, "late-dropped", { parallelism: 1 });
    const events: Ev[] = [
      { key: "a", at: 100, v: 1 }, { key: "a", at: 1500, v: 2 }, { key: "a", at: 200, v: 4 }, { key: "a", at: 300, v: 8 }, { key: "a", at: 1600, v: 16 },
    ];
    e.fromSource<Ev>(new Values(events), { uid: "src" })
      .assignTimestampsAndWatermarks(punctuated, { uid: "ts" })
      .keyBy((x) => x.key)
      .window(TumblingEventTimeWindows.of(1000))
      .reduce((a, b) => ({ ...a, v: a.v + b.v }), { uid: "w", name: "sums" })
      .map((x) => x.v, { uid: "v" })
      .sinkTo(sink, { uid: "out" });
    const job = await e.execute();
    let dropped = -1;
    let done = false;
    job.done.then(() => (done = true));
    await world.drive(() => {
      const w = job.vertices().find((v) => v.name.includes("sums"));
      if (w && w.subtasks.length > 0) dropped = w.subtasks.reduce((n, s) => n + s.lateRecordsDropped, 0);
      return dropped === 2 || done;
    }, 60_000);
    assert.equal(dropped, 2, "two records dropped as late, counted on the window's vertex");
    assert.equal((await world.untilDone(job)).status, "finished");
    assert.deepEqual(sink.committed, [1, 18]);
  });

  test("session windows merge when a record bridges two sessions; each session fires once", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[string, number, number, number]>();
    const e = virtualEnv(world, "sessions-aggregate", { parallelism: 2 });
    // Key a: 0, 400 (apart: gap 300), then 200 bridges them into one session [0, 700).
    // Key b: 0 and 1000, two sessions.
    const events: Ev[] = [
      { key: "a", at: 0, v: 1 }, { key: "b", at: 0, v: 1 }, { key: "a", at: 400, v: 1 }, { key: "a", at: 200, v: 1 }, { key: "b", at: 1000, v: 1 },
    ];
    e.fromSource<Ev>(new Values(events, 5), { uid: "src", parallelism: 1 })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness<Ev>(1000).withTimestampAssigner((x) => x.at), { uid: "ts" })
      .keyBy((x) => x.key)
      .window(EventTimeSessionWindows.withGap(300))
      .process<[string, number, number, number]>((key, w, els, ctx) => ctx.emit([key, w.start, w.end, els.length]), { uid: "sessions" })
      .sinkTo(sink, { uid: "out", parallelism: 1 });
    assert.equal((await run(world, e)).status, "finished");
    assert.deepEqual(sink.committed.sort((x, y) => x[0].localeCompare(y[0]) || x[1] - y[1]), [["a", 0, 700, 3], ["b", 0, 300, 1], ["b", 1000, 1300, 1]]);
  });

  test("a record late for its own session window still joins an open session it overlaps (Flink merges, then asks whether the merged window is late)", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number, number]>();
    const late = new CollectSink<Ev>();
    const tag = new OutputTag<Ev>("late");
    const e = virtualEnv(world, "session-late-join", { parallelism: 1 });
    // One session of records every 50 ms from 0 to 1000 (gap 100), the watermark at 999 - 1;
    // then a record at 500, 499 ms behind the watermark: its own window [500, 600) is late,
    // but it lies inside the open session [0, 1100). A record at -500 joins nothing: late.
    const events: Ev[] = [
      ...Array.from({ length: 21 }, (_, i) => ({ key: "a", at: i * 50, v: 1 })),
      { key: "a", at: 500, v: 100 },
      { key: "a", at: -500, v: 1000 },
    ];
    const out = e.fromSource<Ev>(new Values(events), { uid: "src" })
      .assignTimestampsAndWatermarks(punctuated, { uid: "ts" })
      .keyBy((x) => x.key)
      .window(EventTimeSessionWindows.withGap(100))
      .sideOutputLateData(tag)
      .process<[number, number, number]>((_k, w, els, ctx) => ctx.emit([w.start, w.end, els.reduce((a, b) => a + b.v, 0)]), { uid: "sessions" });
    out.sinkTo(sink, { uid: "out" });
    out.getSideOutput(tag).sinkTo(late, { uid: "late" });
    assert.equal((await run(world, e)).status, "finished");
    assert.deepEqual(sink.committed, [[0, 1100, 121]]);
    assert.deepEqual(late.committed.map((x) => x.at), [-500]);
  });

  test("a window can follow a window: results carry end - 1 as their timestamp", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number]>();
    const e = virtualEnv(world, "window-after-window");
    e.fromSource(new SequenceSource(0, 600, { ratePerSecond: 1000 }), { uid: "src" })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 10), { uid: "ts" })
      .keyBy((n) => n % 3)
      .window(TumblingEventTimeWindows.of(1000))
      .aggregate({ createAccumulator: () => 0, add: (_n: number, c: number) => c + 1, getResult: (c) => c, merge: (a, b) => a + b }, { uid: "per-second" })
      .keyBy(() => 0)
      .window(TumblingEventTimeWindows.of(3000))
      .process<[number, number]>((_k, w, counts, ctx) => ctx.emit([w.start, counts.reduce((a, b) => a + b, 0)]), { uid: "per-3s" })
      .sinkTo(sink, { uid: "out" });
    assert.equal((await run(world, e)).status, "finished");
    assert.deepEqual(sink.committed.sort((a, b) => a[0] - b[0]), [[0, 300], [3000, 300]]);
  });

  test("sliding event-time windows: each record in size/slide windows", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number]>();
    const e = virtualEnv(world, "sliding-count", { parallelism: 1 });
    e.fromSource(new SequenceSource(0, 100), { uid: "src" })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 10), { uid: "ts" })
      .keyBy(() => "all")
      .window(SlidingEventTimeWindows.of(500, 250))
      .process<[number, number]>((_k, w, els, ctx) => ctx.emit([w.start, els.length]), { uid: "w" })
      .sinkTo(sink, { uid: "out" });
    assert.equal((await run(world, e)).status, "finished");
    assert.deepEqual(sink.committed.sort((a, b) => a[0] - b[0]), [[-250, 25], [0, 50], [250, 50], [500, 50], [750, 25]]);
  });

  test("tumbling processing-time windows follow the injected clock", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number, boolean]>();
    const e = virtualEnv(world, "processing-windows", { parallelism: 1 });
    const start = world.clock.now();
    e.fromSource(new SequenceSource(0, 300, { ratePerSecond: 1000 }), { uid: "src" })
      .keyBy(() => "all")
      .window(TumblingProcessingTimeWindows.of(100))
      .process<[number, number, boolean]>((_k, w, els, ctx) => ctx.emit([w.start, els.length, ctx.currentProcessingTime() >= w.end - 1]), { uid: "w" })
      .sinkTo(sink, { uid: "out" });
    assert.equal((await run(world, e)).status, "finished");
    const total = sink.committed.reduce((a, [, c]) => a + c, 0);
    assert.equal(total, 300);
    assert.ok(sink.committed.length >= 3, `windows of 100 ms of a 300 ms run: ${JSON.stringify(sink.committed)}`);
    for (const [s] of sink.committed) assert.equal(s % 100, 0);
    assert.ok(sink.committed.every(([s]) => s >= Math.floor(start / 100) * 100));
    assert.ok(sink.committed.filter(([, , onTime]) => onTime).length >= sink.committed.length - 1, "fired when the clock passed them (the last at end of input)");
  });

  test("bad windows: a window on a non-keyed stream, after a keyed map, and negative sizes are WeirErrors naming the operator and value", () => {
    const e = new StreamEnvironment({ jobName: "bad-windows", storage: new MemoryStorage() });
    const src = e.fromSource(new SequenceSource(0, 3), { uid: "src" });
    const mapped = src.keyBy((n) => n).map((n) => n, { name: "after-keyed-map" });
    assert.throws(() => mapped.window(TumblingEventTimeWindows.of(1000)), (err: unknown) => err instanceof WeirError && /after-keyed-map/.test(err.message));
    assert.throws(() => src.map((n) => n, { name: "plain" }).window(TumblingEventTimeWindows.of(1000)), (err: unknown) => err instanceof WeirError && /plain/.test(err.message));
    for (const bad of [() => TumblingEventTimeWindows.of(-5), () => SlidingEventTimeWindows.of(-5, 1), () => SlidingEventTimeWindows.of(10, -5), () => EventTimeSessionWindows.withGap(-5), () => TumblingProcessingTimeWindows.of(-5)]) {
      assert.throws(bad, (err: unknown) => err instanceof WeirError && /-5/.test(err.message) && /Windows/.test(err.message));
    }
  });
});
