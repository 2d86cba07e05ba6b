import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, OutputTag, SequenceSource, StreamEnvironment, WatermarkStrategy, WeirError } from "../../mod.ts";
import { FailOnce } from "../helpers.ts";

describe("DataStream.process (ProcessFunction) and connect of streams that are not keyed", () => {
  test("process() emits any number of records per record, side outputs and timestamps, exactly-once through a failure", async () => {
    const e = new StreamEnvironment({ jobName: "process-plain", parallelism: 2, storage: new MemoryStorage(), checkpoint: { interval: 10 }, restart: { strategy: "fixed-delay", attempts: 5, delay: 5 } });
    const fail = new FailOnce((n) => n === 1500);
    const odd = new OutputTag<[number, number | undefined]>("odd");
    const main = new CollectSink<[number, number | undefined, number | undefined]>();
    const side = new CollectSink<[number, number | undefined]>();
    const split = e.fromSource(new SequenceSource(0, 2000, { ratePerSecond: 40_000 }), { uid: "numbers" })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 10), { uid: "ts" })
      .process<[number, number | undefined]>((n, ctx) => {
        fail.check(n, "process");
        if (n % 2 === 1) ctx.output(odd, [n, ctx.timestamp]);
        else {
          ctx.emit([n, ctx.timestamp]);
          ctx.emit([-n - 1, ctx.timestamp]);
        }
      }, { uid: "split" });
    // What process() emits carries the timestamp of the record it came from.
    split.process<[number, number | undefined, number | undefined]>(([n, ts], ctx) => ctx.emit([n, ts, ctx.timestamp]), { uid: "read-ts" })
      .sinkTo(main, { uid: "main" });
    split.getSideOutput(odd).sinkTo(side, { uid: "side" });
    const result = await (await e.execute()).done;
    assert.equal(result.status, "finished");
    assert.ok(fail.fired && result.restarts >= 1);
    const evens = Array.from({ length: 1000 }, (_, i) => 2 * i);
    const expectedMain = evens.flatMap((n) => [[n, n * 10, n * 10], [-n - 1, n * 10, n * 10]]).sort((a, b) => a[0] - b[0]);
    assert.deepEqual([...main.committed].sort((a, b) => a[0] - b[0]), expectedMain);
    assert.deepEqual([...side.committed].sort((a, b) => a[0] - b[0]), evens.map((n) => [n + 1, (n + 1) * 10]));
  });

  test("connect() of two plain streams runs each input's method, in each input's order, exactly-once through a failure", async () => {
    const e = new StreamEnvironment({ jobName: "connect-plain", parallelism: 1, storage: new MemoryStorage(), checkpoint: { interval: 10 }, restart: { strategy: "fixed-delay", attempts: 5, delay: 5 } });
    const fail = new FailOnce((n) => n === 600);
    const sink = new CollectSink<string>();
    const numbers = e.fromSource(new SequenceSource(0, 1000, { ratePerSecond: 20_000 }), { uid: "numbers" });
    const words = e.fromSource(new SequenceSource(0, 500, { ratePerSecond: 20_000 }), { uid: "words" }).map((n) => `w${n}`, { uid: "to-word" });
    numbers.connect(words).process<string>({
      processElement1(n, ctx) {
        fail.check(n, "number");
        ctx.emit(`n${n}`);
      },
      processElement2: (w, ctx) => ctx.emit(w),
    }, { uid: "co" }).sinkTo(sink, { uid: "out" });
    const result = await (await e.execute()).done;
    assert.equal(result.status, "finished");
    assert.ok(fail.fired && result.restarts >= 1);
    const got = [...sink.committed];
    const ns = got.filter((s) => s.startsWith("n")).map((s) => Number(s.slice(1)));
    const ws = got.filter((s) => s.startsWith("w")).map((s) => Number(s.slice(1)));
    // Each input keeps its own order at parallelism 1; both arrive exactly once.
    assert.deepEqual(ns, Array.from({ length: 1000 }, (_, i) => i));
    assert.deepEqual(ws, Array.from({ length: 500 }, (_, i) => i));
  });

  test("a keyed stream connected with a plain one connects as plain streams", async () => {
    const e = new StreamEnvironment({ jobName: "connect-mixed", parallelism: 2, storage: new MemoryStorage() });
    const sink = new CollectSink<number>();
    const keyed = e.fromSource(new SequenceSource(0, 100), { uid: "a" }).keyBy((n) => n % 3);
    const plain = e.fromSource(new SequenceSource(100, 150), { uid: "b" });
    keyed.connect(plain).process<number>({ processElement1: (n, ctx) => ctx.emit(n), processElement2: (n, ctx) => ctx.emit(n) }, { uid: "mixed" })
      .sinkTo(sink, { uid: "out" });
    assert.equal((await (await e.execute()).done).status, "finished");
    assert.deepEqual([...sink.committed].sort((x, y) => x - y), Array.from({ length: 150 }, (_, i) => i));
  });

  test("process() with something that is not a function, or with timers, is a WeirError naming the stream", () => {
    const e = new StreamEnvironment({ jobName: "process-bad", storage: new MemoryStorage() });
    const s = e.fromSource(new SequenceSource(0, 3), { uid: "src" }).map((n) => n, { name: "plain" });
    assert.throws(() => s.process(42 as never), (err: unknown) => err instanceof WeirError && err.code === "invalid_option" && /"plain"/.test(err.message) && /42/.test(err.message));
    assert.throws(() => s.process({ processElement() {} } as never), (err: unknown) => err instanceof WeirError && err.code === "invalid_job" && /keyBy/.test(err.message));
  });
});
