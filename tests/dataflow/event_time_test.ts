import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, SequenceSource, WatermarkStrategy, WeirError } from "../../mod.ts";
import type { StreamEnvironment } from "../../mod.ts";
import type { DataStream } from "../../mod.ts";
import { FailOnce } from "../helpers.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { virtualEnv } from "./virtual_env.ts";
import { VirtualWorld } from "../virtual_world.ts";

type Fired = [key: number, timestamp: number, watermark: number];
const N = 3000;

const env = virtualEnv;

async function run(world: VirtualWorld, e: StreamEnvironment) {
  return world.untilDone(await e.execute());
}

/** Record n happened at n ms; one event-time timer per record, 50 ms after it. */
function timersOn(stream: DataStream<number>, fail?: FailOnce, fired?: Fired[]): DataStream<Fired> {
  return stream
    .keyBy((n) => n % 5)
    .process<Fired>({
      processElement: (n, ctx) => {
        fail?.check(n, "timers");
        assert.equal(ctx.timestamp, n, "the record's timestamp travelled with it");
        ctx.timerService.registerEventTimeTimer(ctx.timestamp! + 50);
      },
      onTimer: (ts, ctx) => {
        assert.equal(ctx.timeDomain, "event");
        const f: Fired = [ctx.key, ts, ctx.timerService.currentWatermark()];
        fired?.push(f);
        ctx.emit(f);
      },
    }, { uid: "timers" });
}

describe("event time: timestamps, watermarks, event-time timers", () => {
  for (const unaligned of [false, true]) {
    test(`event-time timers fire once per key and timestamp as watermarks pass, exactly-once through a failure (${unaligned ? "unaligned" : "aligned"})`, async () => {
      const world = new VirtualWorld();
      const fail = new FailOnce((n) => n === 1700);
      const sink = new CollectSink<Fired>();
      const e = env(world, `timers-${unaligned}`, { checkpoint: { interval: 10, unaligned } });
      const stamped = e.fromSource(new SequenceSource(0, N, { ratePerSecond: 1000 }), { uid: "src" })
        .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n), { uid: "ts" })
        // A network hop before the timers: timestamps cross a channel with their records.
        .rebalance().map((n) => n, { uid: "hop" });
      timersOn(stamped, fail).sinkTo(sink, { uid: "out" });
      const result = await run(world, e);
      assert.equal(result.status, "finished");
      assert.ok(fail.fired && result.restarts >= 1, "the failure happened and the job restarted");
      const got = [...sink.committed].sort((a, b) => a[1] - b[1]);
      assert.deepEqual(got.map(([k, ts]) => [k, ts]), Array.from({ length: N }, (_, n) => [n % 5, n + 50]), "every timer fired exactly once");
      for (const [, ts, wm] of got) assert.ok(wm >= ts, `timer ${ts} fired at watermark ${wm}`);
      const early = got.filter(([, , wm]) => wm < Infinity).length;
      assert.ok(early > N / 2, `watermarks flowed through the channels before end of input (${early} of ${N} timers fired before it)`);
    });
  }

  test("an idle input does not hold back the watermark with withIdleness, and does without it", async () => {
    for (const idle of [true, false]) {
      const world = new VirtualWorld();
      const fired: Fired[] = [];
      const e = env(world, `idle-${idle}`, { parallelism: 1 });
      let strategy = WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n);
      if (idle) strategy = strategy.withIdleness(100);
      const busy = e.fromSource(new SequenceSource(0, 1000, { ratePerSecond: 1000 }), { uid: "busy" }).assignTimestampsAndWatermarks(strategy, { uid: "ts-busy" });
      const gated = new GatedSequence(1);
      const quiet = e.fromSource<number>(gated, { uid: "quiet" }).assignTimestampsAndWatermarks(strategy, { uid: "ts-quiet" });
      timersOn(busy.union(quiet), undefined, fired).sinkTo(new CollectSink<Fired>(), { uid: "out" });
      const job = await e.execute();
      await world.drive(() => fired.length > 500, 3000);
      if (idle) assert.ok(fired.length > 500 && fired.every(([, , wm]) => wm < Infinity), `timers fired while the quiet input was idle (${fired.length})`);
      else assert.equal(fired.length, 0, "the quiet input held the watermark back");
      await job.cancel();
      await world.drive(() => false, 100);
    }
  });

  test("end of bounded input advances event time to +Infinity: every timer fires", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<Fired>();
    const e = env(world, "eoi");
    // Out-of-orderness larger than the whole input: no watermark before the end.
    const stamped = e.fromSource(new SequenceSource(0, 200), { uid: "src" })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness<number>(1_000_000).withTimestampAssigner((n) => n));
    timersOn(stamped).sinkTo(sink, { uid: "out" });
    const result = await run(world, e);
    assert.equal(result.status, "finished");
    assert.equal(sink.committed.length, 200);
    assert.ok(sink.committed.every(([, , wm]) => wm === Infinity));
  });

  test("a timestamp assigner returning a non-number fails the job with a WeirError naming the operator and the value", async () => {
    const world = new VirtualWorld();
    const e = env(world, "bad-ts", { restart: { strategy: "none" } });
    e.fromSource(new SequenceSource(0, 10), { uid: "src" })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => (n === 7 ? "late" as unknown as number : n)), { uid: "stamp" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const result = await run(world, e);
    assert.equal(result.status, "failed");
    const cause = (result.error as WeirError & { cause?: WeirError }).cause;
    assert.ok(cause instanceof WeirError && cause.code === "invalid_timestamp", String(result.error));
    assert.match(String(result.error), /stamp/);
    assert.match(cause.message, /"late"/);
    assert.match(cause.message, /record 7/);
  });

  test("WatermarkStrategy refuses bad bounds and idleness with WeirErrors naming the value", () => {
    assert.throws(() => WatermarkStrategy.forBoundedOutOfOrderness(-5), (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && /-5/.test(e.message));
    assert.throws(() => WatermarkStrategy.forMonotonousTimestamps().withIdleness(0), (e: unknown) => e instanceof WeirError && /idleMs/.test(e.message));
    assert.throws(() => WatermarkStrategy.forMonotonousTimestamps().withTimestampAssigner("n" as unknown as () => number), (e: unknown) => e instanceof WeirError);
  });

  test("autoWatermarkInterval sets the period of a generator's onPeriodicEmit on the job's clock", async () => {
    const world = new VirtualWorld();
    const calls: number[] = [];
    const e = env(world, "period", { parallelism: 1, autoWatermarkInterval: 1000 });
    e.fromSource(new SequenceSource(0, 3000, { ratePerSecond: 1000 }), { uid: "src" })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forGenerator<number>(() => ({
        onEvent: () => {},
        onPeriodicEmit: () => void calls.push(world.clock.now()),
      })).withTimestampAssigner((n) => n), { uid: "ts" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const result = await run(world, e);
    assert.equal(result.status, "finished");
    assert.ok(calls.length >= 2, `periodic emits: ${calls.length}`);
    for (let i = 1; i < calls.length; i++) assert.equal(calls[i] - calls[i - 1], 1000, `emit ${i} came ${calls[i] - calls[i - 1]} ms after the one before`);
    assert.throws(() => env(world, "period-bad", { autoWatermarkInterval: 0 }), (err: unknown) => err instanceof WeirError && err.code === "invalid_option" && /autoWatermarkInterval/.test(err.message));
  });
});
