import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, OutputTag, SequenceSource, TumblingEventTimeWindows, WatermarkStrategy, WeirError } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { VirtualWorld } from "../virtual_world.ts";
import { virtualEnv } from "./virtual_env.ts";

const stamp = WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 10);

describe("event time through the graph", () => {
  test("timestamps travel through map, keyed flatMap, filter, process, side outputs, union and connect into a window", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number]>();
    const e = virtualEnv(world, "timestamps-travel");
    const odd = new OutputTag<number>("odd");
    const base = e.fromSource(new SequenceSource(0, 1000, { ratePerSecond: 1000 }), { uid: "src" })
      .assignTimestampsAndWatermarks(stamp, { uid: "ts" })
      .map((n) => n, { uid: "m" })
      .keyBy((n) => n % 3)
      .flatMap((n) => [n], { uid: "fm" })
      .filter(() => true, { uid: "f" });
    const evens = base.keyBy((n) => n % 5).process<number>((n, ctx) => (n % 2 === 0 ? ctx.emit(n) : ctx.output(odd, n)), { uid: "split" });
    const odds = evens.getSideOutput(odd);
    const rejoined = evens.union(odds.map((n) => n, { uid: "odd-map" }));
    const other = e.fromSource(new SequenceSource(0, 1000, { ratePerSecond: 1000 }), { uid: "src2" }).assignTimestampsAndWatermarks(stamp, { uid: "ts2" });
    rejoined.connect(other).process<number>({
      processElement1: (n, ctx) => ctx.emit(n),
      processElement2: (n, ctx) => ctx.emit(-1 - n),
    }, { uid: "co" })
      .keyBy((n) => (n >= 0 ? "a" : "b"))
      .window(TumblingEventTimeWindows.of(1000))
      .aggregate({ createAccumulator: () => 0, add: (_n: number, c: number) => c + 1, getResult: (c) => c, merge: (a, b) => a + b }, { uid: "w" })
      .process<[number, number]>((c, ctx) => ctx.emit([ctx.timestamp!, c]), { uid: "stamp-of-result" })
      .sinkTo(sink, { uid: "out" });
    const result = await world.untilDone(await e.execute());
    assert.equal(result.status, "finished", String(result.error));
    const want: [number, number][] = [];
    for (let s = 0; s < 10_000; s += 1000) want.push([s + 999, 100], [s + 999, 100]);
    assert.deepEqual(sink.committed.sort((a, b) => a[0] - b[0]), want);
  });

  test("a window after a union waits for the slower input's watermark (the minimum over inputs)", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number]>();
    const e = virtualEnv(world, "union-min-watermark", { parallelism: 1 });
    const slow = new GatedSequence(100);
    slow.allowed = 10;
    const fast = e.fromSource(new SequenceSource(0, 100), { uid: "fast" }).assignTimestampsAndWatermarks(stamp, { uid: "fast-ts" });
    const lagging = e.fromSource<number>(slow, { uid: "slow" }).assignTimestampsAndWatermarks(stamp, { uid: "slow-ts" });
    fast.union(lagging)
      .keyBy(() => 0)
      .window(TumblingEventTimeWindows.of(200))
      .process<[number, number]>((_k, w, els, ctx) => ctx.emit([w.start, els.length]), { uid: "w" })
      .sinkTo(sink, { uid: "out" });
    const job = await e.execute();
    let fired = false;
    let done = false;
    job.done.then(() => (done = true));
    // The slow input's records reach ts 90: only window [0, 200) may fire, though the fast one is at 990.
    const start = world.clock.now();
    await world.drive(() => world.clock.now() - start > 1500, 5_000);
    fired = sink.committed.length > 0 || fired;
    assert.ok(!done);
    const windowsSoFar = new Set(sink.committed.map(([s]) => s));
    assert.ok(!windowsSoFar.has(200), `window [200, 400) waited for the slow input (fired: ${[...windowsSoFar]})`);
    slow.allowed = 100;
    const result = await world.untilDone(job);
    assert.equal(result.status, "finished");
    assert.deepEqual(sink.committed.sort((a, b) => a[0] - b[0]), [0, 200, 400, 600, 800].map((s) => [s, 40]));
  });

  test("a timestamp assigner returning a non-number fails the job with a WeirError naming the operator and the value", async () => {
    for (const bad of ["soon", NaN, new Date(5), undefined]) {
      const world = new VirtualWorld();
      const e = virtualEnv(world, "bad-timestamp", { parallelism: 1, restart: { strategy: "none" } });
      e.fromSource(new SequenceSource(0, 3), { uid: "src" })
        .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner(() => bad as unknown as number), { uid: "stamper" })
        .sinkTo(new CollectSink<number>(), { uid: "out" });
      const result = await world.untilDone(await e.execute());
      assert.equal(result.status, "failed");
      const err = result.error as WeirError;
      const cause = (err as { cause?: unknown }).cause;
      assert.ok(err instanceof WeirError && cause instanceof WeirError, String(err));
      assert.match(cause.message, /stamper/);
      const shown = bad instanceof Date ? /Date|1970/ : new RegExp(String(bad));
      assert.match(cause.message, shown, `names the value ${String(bad)}: ${cause.message}`);
    }
  });
});
