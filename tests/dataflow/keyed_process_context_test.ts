import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, OutputTag, SequenceSource, StreamEnvironment, WatermarkStrategy, WeirError } from "../../mod.ts";
import type { JobResult } from "../../mod.ts";
import { VirtualWorld } from "../virtual_world.ts";

function envOn(world: VirtualWorld, name: string, extra: Record<string, unknown> = {}): StreamEnvironment {
  return new StreamEnvironment({
    jobName: name,
    parallelism: 2,
    storage: new MemoryStorage(),
    checkpoint: { interval: 10 },
    restart: { strategy: "none" },
    runtime: world.runtime(),
    ...extra,
  });
}

const byTs = WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 100);

describe("keyed process context (Flink's KeyedProcessFunction)", () => {
  test("keyBy().process(fn) as a plain function sees ctx.key, keyed state and the injected clock", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number, number, boolean]>();
    const e = envOn(world, "plain-process");
    e.fromSource(new SequenceSource(0, 40, { ratePerSecond: 1000 }), { uid: "src" })
      .keyBy((n) => n % 4)
      .process<[number, number, number, boolean]>((n, ctx) => {
        const count = ctx.valueState<number>("count");
        const c = (count.value() ?? 0) + 1;
        count.update(c);
        ctx.emit([ctx.key, n, c, ctx.timerService.currentProcessingTime() === world.clock.now()]);
      }, { uid: "p" })
      .sinkTo(sink, { uid: "out" });
    const result = await world.untilDone(await e.execute());
    assert.equal(result.status, "finished");
    assert.equal(sink.committed.length, 40);
    const counts = new Map<number, number[]>();
    for (const [key, n, c, clockOk] of sink.committed) {
      assert.equal(key, n % 4);
      counts.set(key, [...(counts.get(key) ?? []), c]);
      assert.ok(clockOk, "currentProcessingTime() is the job's injected clock");
    }
    for (const [key, cs] of counts) assert.deepEqual(cs.sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], `key ${key} counted each record once`);
  });

  test("onTimer's ctx has key, timeDomain, the timer's timestamp, the key's state, emit and output", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<string>();
    const side = new CollectSink<string>();
    const tag = new OutputTag<string>("timer-side");
    const e = envOn(world, "on-timer-ctx");
    const fired = e.fromSource(new SequenceSource(0, 40, { ratePerSecond: 1000 }), { uid: "src" })
      .assignTimestampsAndWatermarks(byTs, { uid: "ts" })
      .keyBy((n) => n % 4)
      .process<string>({
        processElement(n, ctx) {
          const sum = ctx.valueState<number>("sum");
          sum.update((sum.value() ?? 0) + n);
          if (n < 4) {
            ctx.timerService.registerEventTimeTimer(10_000);
            ctx.timerService.registerProcessingTimeTimer(ctx.timerService.currentProcessingTime() + 5);
          }
        },
        onTimer(ts, ctx) {
          const sum = ctx.valueState<number>("sum").value();
          ctx.emit(`${ctx.timeDomain} key=${ctx.key} ts=${ts} ctxts=${ctx.timeDomain === "event" ? ctx.timestamp : "-"}`);
          ctx.output(tag, `${ctx.timeDomain} key=${ctx.key} sum=${ctx.timeDomain === "event" ? sum : "?"}`);
        },
      }, { uid: "timers" });
    fired.sinkTo(sink, { uid: "out" });
    fired.getSideOutput(tag).sinkTo(side, { uid: "side" });
    const result = await world.untilDone(await e.execute());
    assert.equal(result.status, "finished");
    const event = sink.committed.filter((s) => s.startsWith("event")).sort();
    assert.deepEqual(event, [0, 1, 2, 3].map((k) => `event key=${k} ts=10000 ctxts=10000`));
    const processing = sink.committed.filter((s) => s.startsWith("processing"));
    assert.equal(processing.length, 4, `one processing-time timer per key fired: ${processing}`);
    assert.deepEqual(new Set(processing.map((s) => s.split(" ")[1])), new Set(["key=0", "key=1", "key=2", "key=3"]));
    const sums = side.committed.filter((s) => s.startsWith("event")).sort();
    // Key k holds k, k+4, …, k+36: the timer at 10 000 fires when event time reaches it (record 100 never comes; +∞ at end).
    assert.deepEqual(sums, [0, 1, 2, 3].map((k) => `event key=${k} sum=${10 * k + 180}`));
  });

  test("event-time timers of a key fire in timestamp order, a deleted one never, one registered in the past at the next watermark", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number]>();
    const e = envOn(world, "timer-order", { parallelism: 1 });
    e.fromSource(new SequenceSource(0, 30, { ratePerSecond: 1000 }), { uid: "src" })
      .assignTimestampsAndWatermarks(byTs, { uid: "ts" })
      .keyBy(() => "one")
      .process<[number, number]>({
        processElement(n, ctx) {
          if (n === 0) {
            for (const t of [2500, 500, 1500, 2000, 1000]) ctx.timerService.registerEventTimeTimer(t);
            ctx.timerService.deleteEventTimeTimer(2000);
          }
          // Behind the watermark already: fires with the next watermark, not never.
          if (n === 20) ctx.timerService.registerEventTimeTimer(100);
        },
        onTimer(ts, ctx) {
          ctx.emit([ts, ctx.timerService.currentWatermark()]);
        },
      }, { uid: "timers" })
      .sinkTo(sink, { uid: "out", parallelism: 1 });
    const result = await world.untilDone(await e.execute());
    assert.equal(result.status, "finished");
    const order = sink.committed.map(([ts]) => ts);
    assert.deepEqual(order.filter((t) => t !== 100), [500, 1000, 1500, 2500], "in timestamp order, 2000 deleted");
    assert.ok(order.includes(100), "a timer registered behind the watermark fires");
    for (const [ts, wm] of sink.committed) assert.ok(wm >= ts, `timer ${ts} fired at watermark ${wm}`);
  });

  test("deleteProcessingTimeTimer removes a pending processing-time timer; the others fire once", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[string, number]>();
    const e = envOn(world, "delete-processing", { parallelism: 1 });
    e.fromSource(new SequenceSource(0, 100, { ratePerSecond: 1000 }), { uid: "src" })
      .keyBy((n) => (n % 2 === 0 ? "even" : "odd"))
      .process<[string, number]>({
        processElement(n, ctx) {
          if (n < 2) {
            const now = ctx.timerService.currentProcessingTime();
            ctx.timerService.registerProcessingTimeTimer(now + 20);
            ctx.timerService.registerProcessingTimeTimer(now + 30);
            ctx.timerService.deleteProcessingTimeTimer(now + 20);
            ctx.valueState<number>("at").update(now + 30);
          }
        },
        onTimer(ts, ctx) {
          assert.equal(ts, ctx.valueState<number>("at").value());
          ctx.emit([ctx.key, ts]);
        },
      }, { uid: "timers" })
      .sinkTo(sink, { uid: "out", parallelism: 1 });
    const result = await world.untilDone(await e.execute());
    assert.equal(result.status, "finished");
    assert.deepEqual(sink.committed.map(([k]) => k).sort(), ["even", "odd"]);
  });

  test("a timer registered from a non-keyed process function is a WeirError naming the operator", async () => {
    const world = new VirtualWorld();
    const e = envOn(world, "unkeyed-timer", { parallelism: 1 });
    e.fromSource(new SequenceSource(0, 3), { uid: "src" })
      .process<number>((n, ctx) => {
        (ctx as unknown as { timerService: { registerEventTimeTimer(t: number): void } }).timerService.registerEventTimeTimer(n);
      }, { uid: "no-keys-here" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    let result: JobResult | undefined;
    try {
      result = await world.untilDone(await e.execute());
    } catch (err) {
      assert.ok(err instanceof WeirError, String(err));
      assert.match(err.message, /no-keys-here/);
      return;
    }
    assert.equal(result.status, "failed");
    const err = result.error as WeirError;
    const cause = (err as { cause?: unknown }).cause;
    assert.ok(cause instanceof WeirError, `the cause is a WeirError, not ${String(cause)}`);
    assert.match(`${err.message} ${cause.message}`, /no-keys-here/);
  });
});
