import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectSink, EventTimeSessionWindows, MemoryStorage, OutputTag, ProcessingTimeSessionWindows, SequenceSource, SlidingEventTimeWindows, SlidingProcessingTimeWindows, StreamEnvironment,
  TumblingEventTimeWindows, TumblingProcessingTimeWindows, WatermarkStrategy, WeirError,
} from "../../mod.ts";
import { FailOnce } from "../helpers.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { memoryDirectories, VirtualWorld } from "../virtual_world.ts";
import { virtualEnv } from "./virtual_env.ts";

const N = 3000;
const KEYS = 5;
const sorted = <T extends number[]>(xs: T[]) => [...xs].sort((a, b) => { for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i]; return 0; });

const env = virtualEnv;

async function finished(world: VirtualWorld, e: StreamEnvironment) {
  return world.untilDone(await e.execute());
}

/** Record n happened at 10·n ms and belongs to key n % 5. */
const stamp = WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 10);

/** What a plain loop over the input computes: per key and window start, the records' sum and count. */
function oracle(windowsOf: (ts: number) => number[]): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (let n = 0; n < N; n++) {
    for (const start of windowsOf(n * 10)) {
      const id = `${n % KEYS}/${start}`;
      const [s, c] = m.get(id) ?? [0, 0];
      m.set(id, [s + n, c + 1]);
    }
  }
  return m;
}

describe("windows on keyed streams", () => {
  for (const unaligned of [false, true]) {
    test(`tumbling event-time windows with process fire once per key and window as the watermark passes, exactly-once through a failure (${unaligned ? "unaligned" : "aligned"})`, async () => {
      const world = new VirtualWorld();
      const fail = new FailOnce((n) => n === 1700);
      const sink = new CollectSink<[number, number, number, number]>();
      let early = 0;
      const e = env(world, `tumbling-${unaligned}`, { checkpoint: { interval: 10, unaligned } });
      e.fromSource(new SequenceSource(0, N, { ratePerSecond: 1000 }), { uid: "src" })
        .map((n) => (fail.check(n, "before window"), n), { uid: "fail" })
        .assignTimestampsAndWatermarks(stamp, { uid: "ts" })
        .keyBy((n) => n % KEYS)
        .window(TumblingEventTimeWindows.of(1000))
        .process<[number, number, number, number]>((key, w, elements, ctx) => {
          assert.equal(w.end - w.start, 1000);
          if (ctx.currentWatermark() < Infinity) early++;
          ctx.emit([key, w.start, elements.reduce((a, b) => a + b, 0), elements.length]);
        }, { uid: "win" })
        .sinkTo(sink, { uid: "out" });
      const result = await finished(world, e);
      assert.equal(result.status, "finished");
      assert.ok(fail.fired && result.restarts >= 1);
      const want = oracle((ts) => [Math.floor(ts / 1000) * 1000]);
      assert.deepEqual(sorted(sink.committed), sorted([...want].map(([id, [s, c]]) => [...id.split("/").map(Number), s, c] as [number, number, number, number])));
      assert.ok(early > 50, `windows fired as watermarks passed, not only at end of input (${early})`);
    });
  }

  // Incremental checkpoints restore the backend from its own files: timers must come back too.
  for (const [backend, incremental] of [["heap", false], ["sqlite", false], ["heap", true], ["sqlite", true]] as const) {
  test(`sliding event-time windows with aggregate: one accumulator per key and window, exactly-once through a failure (${backend} state${incremental ? ", incremental" : ""})`, async () => {
    const world = new VirtualWorld();
    const fail = new FailOnce((n) => n === 2100);
    const sink = new CollectSink<[number, number, number]>();
    const e = env(world, `sliding-${backend}${incremental ? "-incremental" : ""}`, { state: { backend, incremental } });
    e.fromSource(new SequenceSource(0, N, { ratePerSecond: 1000 }), { uid: "src" })
      .assignTimestampsAndWatermarks(stamp, { uid: "ts" })
      .keyBy((n) => n % KEYS)
      .window(SlidingEventTimeWindows.of(2000, 500))
      .aggregate({
        createAccumulator: (): [number, number, number] => [-1, 0, 0],
        add: (n: number, acc: [number, number, number]): [number, number, number] => {
          fail.check(n, "aggregate");
          return [n % KEYS, acc[1] + n, acc[2] + 1];
        },
        getResult: (acc) => acc,
        merge: (a, b): [number, number, number] => [a[0], a[1] + b[1], a[2] + b[2]],
      }, { uid: "win" })
      .sinkTo(sink, { uid: "out" });
    const result = await finished(world, e);
    assert.equal(result.status, "finished", `the job ended ${result.status}: ${result.error?.stack}`);
    assert.ok(fail.fired && result.restarts >= 1);
    const want = oracle((ts) => [0, 1, 2, 3].map((i) => Math.floor(ts / 500) * 500 - i * 500).filter((s) => s > ts - 2000));
    assert.deepEqual(sorted(sink.committed), sorted([...want].map(([id, [s, c]]) => [Number(id.split("/")[0]), s, c] as [number, number, number])));
  });
  }

  test("event-time session windows merge (records out of order bridge sessions), with reduce, exactly-once through a failure", async () => {
    const world = new VirtualWorld();
    const fail = new FailOnce((n) => n === 1500);
    const sink = new CollectSink<number>();
    // Blocks of 100 records, 3 s apart; inside a block a key's records are 50 ms apart in
    // event time but arrive shuffled, so sessions (gap 150 ms) form apart and then merge.
    const tsOf = (n: number) => Math.floor(n / 100) * 3000 + ((n % 100) * 37 % 100) * 10;
    const e = env(world, "sessions");
    e.fromSource(new SequenceSource(0, N, { ratePerSecond: 1000 }), { uid: "src" })
      .map((n) => (fail.check(n, "before sessions"), n), { uid: "fail" })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness<number>(1000).withTimestampAssigner(tsOf), { uid: "ts" })
      .keyBy((n) => n % KEYS)
      .window(EventTimeSessionWindows.withGap(150))
      .reduce((a, b) => a + b, { uid: "win" })
      .sinkTo(sink, { uid: "out" });
    const result = await finished(world, e);
    assert.equal(result.status, "finished");
    assert.ok(fail.fired && result.restarts >= 1);
    const want = new Map<string, number>();
    for (let n = 0; n < N; n++) want.set(`${n % KEYS}/${Math.floor(n / 100)}`, (want.get(`${n % KEYS}/${Math.floor(n / 100)}`) ?? 0) + n);
    assert.deepEqual([...sink.committed].sort((a, b) => a - b), [...want.values()].sort((a, b) => a - b), "one session per key and block");
  });

  test("allowedLateness fires a window again for a late record within it; later records go to the late side output", async () => {
    const world = new VirtualWorld();
    // Record i happens at times[i]; the watermark follows each record (punctuated).
    const times = [100, 1500, 200, 3000, 300, 3100];
    const gated = new GatedSequence(times.length);
    let seen = 0;
    const late = new OutputTag<number>("late");
    const fired = new CollectSink<[number, number, number[]]>();
    const lateSink = new CollectSink<number>();
    const e = env(world, "lateness", { parallelism: 1 });
    const windowed = e.fromSource<number>(gated, { uid: "src" })
      .assignTimestampsAndWatermarks(
        WatermarkStrategy.forGenerator<number>(() => ({ onEvent: (_v, ts, out) => out.emitWatermark(ts), onPeriodicEmit: () => {} }))
          .withTimestampAssigner((i) => (seen++, times[i])),
        { uid: "ts" },
      )
      .keyBy(() => "k")
      .window(TumblingEventTimeWindows.of(1000))
      .allowedLateness(1000)
      .sideOutputLateData(late)
      .process<[number, number, number[]]>((_k, w, elements, ctx) => ctx.emit([w.start, elements.length, elements.map((i) => times[i]).sort((a, b) => a - b)]), { uid: "win" });
    windowed.sinkTo(fired, { uid: "out" });
    windowed.getSideOutput(late).map((i) => times[i], { uid: "late-ts" }).sinkTo(lateSink, { uid: "late-out" });
    const job = await e.execute();
    let result: Awaited<typeof job.done> | undefined;
    job.done.then((r) => (result = r));
    for (let i = 1; i <= times.length; i++) {
      gated.allowed = i;
      await world.drive(() => seen >= i, 10_000);
    }
    await world.drive(() => result !== undefined, 60_000);
    assert.equal(result?.status, "finished");
    assert.deepEqual(fired.committed, [
      [0, 1, [100]], // watermark 1500 passed [0, 1000)
      [0, 2, [100, 200]], // 200 is late, within the lateness: fired again, full result
      [1000, 1, [1500]], // watermark 3000; [0, 1000) dropped at 1999
      [3000, 2, [3000, 3100]], // end of input
    ]);
    assert.deepEqual(lateSink.committed, [300], "300 came after [0, 1000) was dropped");
  });

  test("tumbling processing-time windows fire on the injected clock, each key and window once", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number, number]>();
    let early = 0;
    const e = env(world, "processing");
    e.fromSource(new SequenceSource(0, N, { ratePerSecond: 1000 }), { uid: "src" })
      .keyBy((n) => n % KEYS)
      .window(TumblingProcessingTimeWindows.of(100))
      .process<[number, number, number]>((key, w, elements, ctx) => {
        if (ctx.currentProcessingTime() >= w.end - 1) early++;
        ctx.emit([key, w.start, elements.length]);
      }, { uid: "win" })
      .sinkTo(sink, { uid: "out" });
    const result = await finished(world, e);
    assert.equal(result.status, "finished");
    const ids = sink.committed.map(([k, s]) => `${k}/${s}`);
    assert.equal(new Set(ids).size, ids.length, "each key and window fired once");
    assert.equal(sink.committed.reduce((a, [, , c]) => a + c, 0), N, "every record counted once");
    assert.ok(early > 100, `windows fired on the clock (${early})`);
  });

  test("an async window function and an async onTimer run in order, each result with its window's timestamp", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[string, number, number]>();
    const e = env(world, "async-window", { parallelism: 1 });
    const windowed = e.fromSource(new SequenceSource(0, 600, { ratePerSecond: 1000 }), { uid: "src" })
      .assignTimestampsAndWatermarks(stamp, { uid: "ts" })
      .keyBy((n) => n % 3)
      .window(TumblingEventTimeWindows.of(1000))
      .process<number>(async (_key, _w, elements, ctx) => {
        await world.sleep(1);
        ctx.emit(elements.length);
      }, { uid: "win" });
    // A keyed process downstream sees each result's timestamp (the window's end - 1) and sets a timer after it.
    windowed.keyBy(() => "all").process<[string, number, number]>({
      processElement: (count, ctx) => {
        ctx.timerService.registerEventTimeTimer(ctx.timestamp! + 1);
        ctx.listState<number>("counts").add(count);
      },
      onTimer: async (ts, ctx) => {
        await world.sleep(1);
        ctx.emit(["fired", ts, ctx.listState<number>("counts").get().reduce((a, b) => a + b, 0)]);
      },
    }, { uid: "after" }).sinkTo(sink, { uid: "out" });
    const result = await finished(world, e);
    assert.equal(result.status, "finished", String(result));
    // Windows [0,1000) … [5000,6000) of 3 keys: a timer at each window's end, in order, counting
    // at least the windows up to it (a watermark may pass several windows at once).
    assert.deepEqual(sink.committed.map(([, ts]) => ts), [1000, 2000, 3000, 4000, 5000, 6000]);
    sink.committed.forEach(([, , counted], i) => assert.ok(counted >= (i + 1) * 100 && counted <= 600, `timer ${i} counted ${counted}`));
    assert.equal(sink.committed.at(-1)![2], 600);
  });

  test("sliding processing-time windows: every record counted in size/slide windows of its arrival time, each key and window once", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<[number, number, number]>();
    const e = env(world, "processing-sliding");
    e.fromSource(new SequenceSource(0, N, { ratePerSecond: 1000 }), { uid: "src" })
      .keyBy((n) => n % KEYS)
      .window(SlidingProcessingTimeWindows.of(100, 25))
      .process<[number, number, number]>((key, w, elements, ctx) => ctx.emit([key, w.start, elements.length]), { uid: "win" })
      .sinkTo(sink, { uid: "out" });
    const result = await finished(world, e);
    assert.equal(result.status, "finished");
    const ids = sink.committed.map(([k, s]) => `${k}/${s}`);
    assert.equal(new Set(ids).size, ids.length, "each key and window fired once");
    assert.ok(sink.committed.every(([, s]) => s % 25 === 0), "windows start on slide boundaries");
    assert.equal(sink.committed.reduce((a, [, , c]) => a + c, 0), N * 4, "every record in 100/25 = 4 windows");
  });

  test("processing-time session windows close after a gap on the clock: one per key and burst", async () => {
    const world = new VirtualWorld();
    const gated = new GatedSequence(300);
    let seen = 0;
    const sink = new CollectSink<[number, number]>();
    const e = env(world, "processing-sessions", { parallelism: 1 });
    e.fromSource<number>(gated, { uid: "src" })
      .map((n) => (seen++, n), { uid: "seen" })
      .keyBy((n) => n % 3)
      .window(ProcessingTimeSessionWindows.withGap(50))
      // The last burst's sessions fire at end of input (the source ends after record 299).
      .process<[number, number]>((key, _w, elements, ctx) => ctx.emit([key, elements.length]), { uid: "sessions" })
      .sinkTo(sink, { uid: "out" });
    const job = await e.execute();
    let result: Awaited<typeof job.done> | undefined;
    job.done.then((r) => (result = r));
    for (const upTo of [100, 200, 300]) {
      gated.allowed = upTo;
      await world.drive(() => seen >= upTo, 10_000);
      await world.drive(() => false, 200); // a quiet stretch longer than the gap
    }
    await world.drive(() => result !== undefined, 60_000);
    assert.equal(result?.status, "finished", String(result?.error));
    const want = [0, 1, 2].flatMap((burst) => [0, 1, 2].map((k) => [k, Array.from({ length: 100 }, (_, i) => burst * 100 + i).filter((n) => n % 3 === k).length]));
    assert.deepEqual(sorted(sink.committed), sorted(want as [number, number][]), "three sessions per key, one per burst");
  });

  test("window contents and timers restore from a savepoint at another parallelism; each window fires once", async () => {
    const world = new VirtualWorld();
    const dirs = memoryDirectories();
    try {
      const sink = new CollectSink<[number, number]>();
      let seen = 0;
      const build = (parallelism: number, gated: GatedSequence, restoreFrom?: { storage: MemoryStorage; path: string }) => {
        const e = new StreamEnvironment({ jobName: "win-rescale", parallelism, storage: new MemoryStorage(), restart: { strategy: "none" }, runtime: world.runtime(), restoreFrom });
        e.fromSource<number>(gated, { uid: "src", parallelism: 1 })
          .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness<number>(0).withTimestampAssigner((n) => (seen++, n * 10)), { uid: "ts" })
          .keyBy((n) => n % 7)
          .window(TumblingEventTimeWindows.of(5000))
          .aggregate({ createAccumulator: () => [0, 0], add: (n: number, a: number[]) => [n % 7, a[1] + 1], getResult: (a) => a as [number, number], merge: (a, b) => [a[0], a[1] + b[1]] }, { uid: "win" })
          .sinkTo(sink, { uid: "out", parallelism: 1 });
        return e;
      };
      const first = new GatedSequence(2000);
      first.allowed = 1250; // up to 12.5 s: windows [10 s, 15 s) hold half their records
      const run1 = await build(2, first).execute();
      await world.drive(() => seen >= 1250, 60_000);
      // A periodic watermark passes the records read so far.
      await world.drive(() => false, 500);
      let savepoint: string | undefined;
      run1.stop({ savepoint: "sp" }).then((p) => (savepoint = p));
      await world.drive(() => savepoint !== undefined, 60_000);
      assert.ok(savepoint);
      const before = sink.committed.length;
      const second = new GatedSequence(2000);
      second.allowed = 2000;
      const result = await finished(world, build(3, second, { storage: dirs.storage, path: savepoint.replace(/^mem:sp\//, "") }));
      assert.equal(result.status, "finished");
      assert.ok(before > 0 && before < 28, `some windows fired before the savepoint (${before})`);
      const want: [number, number][] = [];
      for (let w = 0; w < 4; w++) for (let k = 0; k < 7; k++) want.push([k, Array.from({ length: 500 }, (_, i) => w * 500 + i).filter((n) => n % 7 === k).length]);
      assert.deepEqual(sorted(sink.committed), sorted(want));
    } finally {
      dirs.restore();
    }
  });

  test("bad windows are WeirErrors naming the operator and the value", async () => {
    assert.throws(() => TumblingEventTimeWindows.of(-1000), (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && /-1000/.test(e.message));
    assert.throws(() => SlidingEventTimeWindows.of(1000, 0), (e: unknown) => e instanceof WeirError && /slide/.test(e.message));
    assert.throws(() => EventTimeSessionWindows.withGap(Number.NaN), (e: unknown) => e instanceof WeirError && /gap/.test(e.message) && /got NaN/.test(e.message));
    // Flink refuses an offset of a whole period or more (abs(offset) < size, < slide).
    assert.throws(() => TumblingEventTimeWindows.of(1000, 5000), (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && /offset/.test(e.message) && /5000/.test(e.message));
    assert.throws(() => SlidingEventTimeWindows.of(1000, 500, 500), (e: unknown) => e instanceof WeirError && /offset/.test(e.message) && /slide/.test(e.message));
    assert.doesNotThrow(() => TumblingEventTimeWindows.of(1000, 999));
    const world = new VirtualWorld();
    const e = env(world, "bad-window", { restart: { strategy: "none" } });
    const s = e.fromSource(new SequenceSource(0, 10), { uid: "numbers" }).map((n) => n, { uid: "plain" });
    assert.throws(() => s.window(TumblingEventTimeWindows.of(1000)), (err: unknown) => err instanceof WeirError && err.code === "invalid_job" && /plain/.test(err.message) && /keyBy/.test(err.message));
    assert.throws(() => s.keyBy((n) => n).window(TumblingProcessingTimeWindows.of(10)).allowedLateness(5), (err: unknown) => err instanceof WeirError && err.code === "invalid_job");
    // Event-time windows on records that never got timestamps fail when the first one arrives.
    s.keyBy((n) => n % 2).window(TumblingEventTimeWindows.of(1000)).reduce((a, b) => a + b, { uid: "sum" }).sinkTo(new CollectSink<number>(), { uid: "out" });
    const result = await finished(world, e);
    assert.equal(result.status, "failed");
    const cause = (result.error as { cause?: unknown }).cause;
    assert.ok(cause instanceof WeirError && cause.code === "invalid_timestamp", String(result.error));
    assert.match(cause.message, /TumblingEventTimeWindows\(1000\)/);
    assert.match(cause.message, /assignTimestampsAndWatermarks/);
  });
});
