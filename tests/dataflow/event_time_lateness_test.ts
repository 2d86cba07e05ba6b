/**
 * Lateness in event time, with watermarks a generator emits per record (batchSize 1):
 * sliding windows with allowedLateness fire again with the full result and send later
 * records to the late side output; a late session merges with fired and open ones; the
 * late side output of reduce and aggregate; and
 * forBoundedOutOfOrderness's watermark trailing the largest timestamp by bound + 1 (Flink's).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectSink, EventTimeSessionWindows, MemoryStorage, OutputTag, SequenceSource, SlidingEventTimeWindows, StreamEnvironment, TumblingEventTimeWindows, WatermarkStrategy,
} from "../../mod.ts";
import { VirtualWorld } from "../virtual_world.ts";

const env = (name: string, extra: Record<string, unknown> = {}) =>
  new StreamEnvironment({ jobName: name, parallelism: 2, storage: new MemoryStorage(), ...extra });

/** `ts` in order as records and their timestamps, a watermark after each, all under one key. */
const keyedTimestamps = (e: StreamEnvironment, ts: number[]) =>
  e.fromSource(new SequenceSource(0, ts.length), { uid: "src" })
    .map((i) => ts[i], { uid: "ts" })
    .assignTimestampsAndWatermarks(
      WatermarkStrategy.forGenerator<number>(() => ({ onEvent: (_v, t, o) => o.emitWatermark(t), onPeriodicEmit() {} })).withTimestampAssigner((v) => v),
      { uid: "wm" },
    )
    .keyBy(() => "k");

describe("late records in event-time windows", () => {
  test("sliding window, allowed lateness refires with the full result, later goes to the side output", async () => {
    const e = env("slide", { parallelism: 1, batchSize: 1 });
    const ts = [1, 6, 11, 3, 20, 2];
    const late = new OutputTag<number>("late");
    const out = new CollectSink<string>();
    const lateSink = new CollectSink<number>();
    const w = keyedTimestamps(e, ts)
      .window(SlidingEventTimeWindows.of(10, 5))
      .allowedLateness(5)
      .sideOutputLateData(late)
      .process<string>((_k, win, els, ctx) => ctx.emit(`${win.start}-${win.end}:${[...els].sort((x, y) => x - y).join(",")}`), { uid: "w" });
    w.sinkTo(out, { uid: "out" });
    w.getSideOutput(late).sinkTo(lateSink, { uid: "lateout" });
    const r = await (await e.execute()).done;
    assert.equal(r.status, "finished", String(r.error));
    assert.deepEqual([...out.committed].sort(), ["-5-5:1", "0-10:1,6", "0-10:1,3,6", "5-15:6,11", "10-20:11", "15-25:20", "20-30:20"].sort());
    assert.deepEqual(lateSink.committed, [2]);
  });

  test("late side output on reduce and aggregate results", async () => {
    for (const kind of ["reduce", "aggregate"] as const) {
      const e = env(`late-${kind}`, { parallelism: 1, batchSize: 1 });
      const ts = [1, 15, 3, 25];
      const late = new OutputTag<number>("late");
      const out = new CollectSink<number>();
      const lateSink = new CollectSink<number>();
      const w = keyedTimestamps(e, ts)
        .window(TumblingEventTimeWindows.of(10))
        .sideOutputLateData(late);
      const res = kind === "reduce"
        ? w.reduce((a, b) => a + b, { uid: "w" })
        : w.aggregate({ createAccumulator: () => 0, add: (v: number, a: number) => a + v, getResult: (a: number) => a, merge: (a: number, b: number) => a + b }, { uid: "w" });
      res.sinkTo(out, { uid: "out" });
      res.getSideOutput(late).sinkTo(lateSink, { uid: "lateout" });
      const r = await (await e.execute()).done;
      assert.equal(r.status, "finished", String(r.error));
      assert.deepEqual([...out.committed].sort((a, b) => a - b), [1, 15, 25], kind);
      assert.deepEqual(lateSink.committed, [3], kind);
    }
  });

  test("session windows with allowedLateness: a late record merges a fired session with the next, which fires with the full result", async () => {
    const e = env("sesslate", { parallelism: 1, batchSize: 1 });
    const ts = [0, 15, 7, 100, 30];
    const late = new OutputTag<number>("late");
    const out = new CollectSink<string>();
    const lateSink = new CollectSink<number>();
    const w = keyedTimestamps(e, ts)
      .window(EventTimeSessionWindows.withGap(10))
      .allowedLateness(50)
      .sideOutputLateData(late)
      .process<string>((_k, win, els, ctx) => ctx.emit(`${win.start}-${win.end}:${[...els].sort((x, y) => x - y).join(",")}`), { uid: "w" });
    w.sinkTo(out, { uid: "out" });
    w.getSideOutput(late).sinkTo(lateSink, { uid: "lateout" });
    const r = await (await e.execute()).done;
    assert.equal(r.status, "finished", String(r.error));
    // 0: [0,10) fires at watermark 15; 7 (late, within the lateness) bridges [0,10) and [15,25)
    // into [0,25), due at 24; 100 fires it (then its lateness has passed too); 30 at watermark
    // 100 is later than 30 + 10 - 1 + 50: the late side output.
    assert.deepEqual([...out.committed].sort(), ["0-10:0", "0-25:0,7,15", "100-110:100"].sort());
    assert.deepEqual(lateSink.committed, [30]);
  });

  test("a window the watermark passed, first made or joined by a late record within the lateness, fires once (tumbling and session)", async () => {
    const fired = async (assigner: ReturnType<typeof TumblingEventTimeWindows.of>, ts: number[]) => {
      const e = env("latefirst", { parallelism: 1, batchSize: 1 });
      const out = new CollectSink<string>();
      keyedTimestamps(e, ts)
        .window(assigner)
        .allowedLateness(10)
        .process<string>((_k, win, els, ctx) => ctx.emit(`${win.start}-${win.end}:${[...els].sort((x, y) => x - y).join(",")}`), { uid: "w" })
        .sinkTo(out, { uid: "out" });
      const r = await (await e.execute()).done;
      assert.equal(r.status, "finished", String(r.error));
      return [...out.committed].sort();
    };
    // 15 is the first record of [10,20) and comes at watermark 25: it fires the window at once
    // (Flink's EventTimeTrigger returns FIRE), not again at the watermarks after it.
    assert.deepEqual(await fired(TumblingEventTimeWindows.of(10), [25, 15, 26]), ["10-20:15", "20-30:25,26"]);
    // 3 joins the session [0,9) that fired at watermark 12: it fires once more with 3 in it.
    assert.deepEqual(await fired(EventTimeSessionWindows.withGap(5), [0, 4, 12, 3, 50]), ["0-9:0,3,4", "0-9:0,4", "12-17:12", "50-55:50"]);
  });

  test("two late records of one window in one batch: each fires the window as it is at that record, not as the batch left it (tumbling and session)", async () => {
    const fired = async (assigner: ReturnType<typeof TumblingEventTimeWindows.of>, ts: number[]) => {
      // Batches of two records: the watermark of a batch's records comes after the batch.
      const e = env("latebatch", { parallelism: 1, batchSize: 2 });
      const out = new CollectSink<string>();
      keyedTimestamps(e, ts)
        .window(assigner)
        .allowedLateness(100)
        .process<string>((_k, win, els, ctx) => ctx.emit(`${win.start}-${win.end}:${[...els].sort((x, y) => x - y).join(",")}`), { uid: "w" })
        .sinkTo(out, { uid: "out" });
      const r = await (await e.execute()).done;
      assert.equal(r.status, "finished", String(r.error));
      return [...out.committed];
    };
    // [5, 20], then [7, 3] at watermark 20: 7 fires [0,10) with 5 and 7, then 3 with all three.
    assert.deepEqual(await fired(TumblingEventTimeWindows.of(10), [5, 20, 7, 3]), ["0-10:5", "0-10:5,7", "0-10:3,5,7", "20-30:20"]);
    // [100, 200], then [105, 92] at watermark 200: 105 grows the session [100,110) to [100,115)
    // and fires it; 92 merges it into [92,115) and fires that.
    assert.deepEqual(await fired(EventTimeSessionWindows.withGap(10), [100, 200, 105, 92]), ["100-110:100", "100-115:100,105", "92-115:92,100,105", "200-210:200"]);
  });

  test("bounded out-of-orderness: a record exactly `bound` behind the largest timestamp is not late (watermark = max - bound - 1)", async () => {
    const world = new VirtualWorld();
    const e = env("bound", { parallelism: 1, autoWatermarkInterval: 20, runtime: world.runtime() });
    const ts = [29, 19, 8];
    const lateTag = new OutputTag<number>("late");
    const out = new CollectSink<string>();
    const late = new CollectSink<number>();
    const w = e.fromSource(new SequenceSource(0, ts.length, { ratePerSecond: 10 }), { uid: "src" })
      .map((i) => ts[i], { uid: "m" })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness<number>(10).withTimestampAssigner((v) => v), { uid: "wm" })
      .keyBy(() => 0)
      .window(TumblingEventTimeWindows.of(10))
      .sideOutputLateData(lateTag)
      .process<string>((_k, win, els, ctx) => ctx.emit(`${win.start}:${els}`), { uid: "w" });
    w.sinkTo(out, { uid: "out" });
    w.getSideOutput(lateTag).sinkTo(late, { uid: "late" });
    const r = await world.untilDone(await e.execute());
    assert.equal(r.status, "finished", String(r.error));
    assert.deepEqual([...out.committed].sort(), ["10:19", "20:29"]);
    assert.deepEqual(late.committed, [8]);
  });
});
