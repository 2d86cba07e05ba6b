import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment, WatermarkStrategy, WeirError } from "../../mod.ts";
import { FailOnce } from "../helpers.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { memoryDirectories, VirtualWorld } from "../virtual_world.ts";

type Fired = [key: number, timestamp: number];

function ended<R>(world: VirtualWorld, job: { done: Promise<R> }): Promise<R> {
  return world.untilDone(job);
}

describe("timers in keyed process (Flink's InternalTimerService)", () => {
  test("event-time timers are keyed state: pending at a savepoint, restored at another parallelism, each fires once", async () => {
    const world = new VirtualWorld();
    const dirs = memoryDirectories();
    try {
      const N = 2000;
      const sink = new CollectSink<Fired>();
      let processed = 0;
      const build = (parallelism: number, gated: GatedSequence, restoreFrom?: { storage: MemoryStorage; path: string }) => {
        const env = new StreamEnvironment({
          jobName: "timers-rescale",
          parallelism,
          storage: new MemoryStorage(),
          restart: { strategy: "none" },
          runtime: world.runtime(),
          restoreFrom,
        });
        env.fromSource<number>(gated, { uid: "src", parallelism: 1 })
          // No watermark before end of input: every timer is still pending at the savepoint.
          .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness<number>(1_000_000).withTimestampAssigner((n) => n), { uid: "ts" })
          .keyBy((n) => n % 7)
          .process<Fired>({
            processElement: (n, ctx) => {
              processed++;
              ctx.timerService.registerEventTimeTimer(n + 50);
              // Registered twice, deleted once: a timer is per key and timestamp.
              ctx.timerService.registerEventTimeTimer(n + 50);
              ctx.timerService.registerEventTimeTimer(n + 10_000_000);
              ctx.timerService.deleteEventTimeTimer(n + 10_000_000);
            },
            onTimer: (ts, ctx) => ctx.emit([ctx.key, ts]),
          }, { uid: "timers" })
          .sinkTo(sink, { uid: "out", parallelism: 1 });
        return env;
      };
      const first = new GatedSequence(N);
      first.allowed = N / 2;
      const run1 = await build(2, first).execute();
      await world.drive(() => processed >= N / 2, 60_000);
      let savepoint: string | undefined;
      run1.stop({ savepoint: "sp" }).then((p) => (savepoint = p));
      await world.drive(() => savepoint !== undefined, 60_000);
      assert.ok(savepoint, "the savepoint was taken");
      assert.equal(sink.committed.length, 0, "no timer fired before the savepoint");
      const second = new GatedSequence(N);
      second.allowed = N;
      // The savepoint directory lives in the in-memory storage behind "mem:sp".
      const run2 = await build(3, second, { storage: dirs.storage, path: savepoint.replace(/^mem:sp\//, "") }).execute();
      const result = await ended(world, run2);
      assert.equal(result.status, "finished");
      const got = [...sink.committed].sort((a, b) => a[1] - b[1]);
      assert.deepEqual(got, Array.from({ length: N }, (_, n): Fired => [n % 7, n + 50]), "every timer fired once, none of the deleted ones");
    } finally {
      dirs.restore();
    }
  });

  test("processing-time timers fire on the injected clock once per key and timestamp, exactly-once through a failure", async () => {
    const world = new VirtualWorld();
    const fail = new FailOnce((n) => n === 1200);
    const sink = new CollectSink<[number, number, number]>();
    const env = new StreamEnvironment({
      jobName: "timers-processing",
      parallelism: 2,
      storage: new MemoryStorage(),
      checkpoint: { interval: 10 },
      restart: { strategy: "fixed-delay", attempts: 5, delay: 5 },
      runtime: world.runtime(),
    });
    env.fromSource(new SequenceSource(0, 2000, { ratePerSecond: 1000 }), { uid: "src" })
      .keyBy((n) => n % 4)
      .process<[number, number, number]>({
        processElement: (n, ctx) => {
          fail.check(n, "processing timers");
          const now = ctx.timerService.currentProcessingTime();
          // One timer per key per 20 ms bucket.
          ctx.timerService.registerProcessingTimeTimer(Math.floor(now / 20) * 20 + 20);
        },
        onTimer: (ts, ctx) => {
          assert.equal(ctx.timeDomain, "processing");
          ctx.emit([ctx.key, ts, ctx.timerService.currentProcessingTime()]);
        },
      }, { uid: "timers" })
      .sinkTo(sink, { uid: "out" });
    const result = await ended(world, await env.execute());
    assert.equal(result.status, "finished");
    assert.ok(fail.fired && result.restarts >= 1);
    const seen = new Set<string>();
    for (const [key, ts, firedAt] of sink.committed) {
      assert.ok(firedAt >= ts, `timer ${ts} fired at ${firedAt}, not before`);
      const id = `${key}@${ts}`;
      assert.ok(!seen.has(id), `timer ${id} fired twice`);
      seen.add(id);
    }
    assert.ok(sink.committed.length > 200, `timers fired while the job ran (${sink.committed.length})`);
  });

  test("process with timers on a stream that is not keyed is a WeirError naming the stream", () => {
    const env = new StreamEnvironment({ jobName: "timers-unkeyed", storage: new MemoryStorage() });
    const s = env.fromSource(new SequenceSource(0, 3), { uid: "src" }).map((n) => n, { name: "plain" });
    assert.throws(
      () => s.process({ processElement: (_n: number, ctx: { timerService: { registerEventTimeTimer(t: number): void } }) => ctx.timerService.registerEventTimeTimer(1) } as never),
      (err: unknown) => err instanceof WeirError && err.code === "invalid_job" && /"plain"/.test(err.message) && /keyBy/.test(err.message),
    );
  });

  test("a timer fires once per key and timestamp; a bad timestamp is a WeirError naming the operator and the value", async () => {
    const world = new VirtualWorld();
    const env = new StreamEnvironment({ jobName: "timers-bad", parallelism: 1, storage: new MemoryStorage(), restart: { strategy: "none" }, runtime: world.runtime() });
    env.fromSource(new SequenceSource(0, 3), { uid: "src" })
      .keyBy((n) => n)
      .process<number>({
        processElement: (_n, ctx) => ctx.timerService.registerEventTimeTimer("soon" as unknown as number),
        onTimer: () => {},
      }, { uid: "bad-timer" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const job = await env.execute();
    let result: Awaited<typeof job.done> | undefined;
    job.done.then((r) => (result = r));
    await world.drive(() => result !== undefined, 10_000);
    assert.equal(result?.status, "failed");
    const cause = (result!.error as { cause?: unknown }).cause;
    assert.ok(cause instanceof WeirError && cause.code === "invalid_timestamp", String(result!.error));
    assert.match(cause.message, /bad-timer/);
    assert.match(cause.message, /"soon"/);
  });

  test("a timer that fires in a process function given without onTimer fails the job with invalid_job naming key and time", async () => {
    const env = new StreamEnvironment({ jobName: "timers-no-ontimer", parallelism: 1, storage: new MemoryStorage(), restart: { strategy: "none" } });
    env.fromSource(new SequenceSource(0, 3), WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n), "src")
      .keyBy((n) => n)
      .process<number>((n, ctx) => ctx.timerService.registerEventTimeTimer(n + 100), { uid: "no-on-timer" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "failed");
    const cause = (result.error as { cause?: unknown }).cause;
    assert.ok(cause instanceof WeirError && cause.code === "invalid_job", String(result.error));
    assert.match(result.error!.message, /no-on-timer/);
    assert.match(cause.message, /without onTimer \(key 0, event time 100\)/);
  });
});
