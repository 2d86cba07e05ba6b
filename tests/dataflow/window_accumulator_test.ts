import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, SequenceSource, TumblingEventTimeWindows, WatermarkStrategy } from "../../mod.ts";
import type { JobHandle } from "../../mod.ts";
import { VirtualWorld } from "../virtual_world.ts";
import { virtualEnv } from "./virtual_env.ts";

const N = 3000;
type Acc = { key: string; count: number; sum: number; seen: number[] };

describe("window accumulators as Flink users write them", () => {
  for (const [backend, incremental, unaligned] of [["heap", false, false], ["heap", true, true], ["sqlite", false, true], ["sqlite", true, false]] as const) {
    test(`an aggregate that changes its accumulator in place, with composite keys, is exactly-once through a failure (${backend}${incremental ? ", incremental" : ""}, ${unaligned ? "unaligned" : "aligned"})`, async () => {
      const world = new VirtualWorld();
      const sink = new CollectSink<[string, number, number, number, number]>();
      const running: { job?: JobHandle } = {};
      let failed = false;
      const e = virtualEnv(world, `mutable-acc-${backend}-${incremental}-${unaligned}`, { state: { backend, incremental }, checkpoint: { interval: 15, unaligned } });
      e.fromSource(new SequenceSource(0, N, { ratePerSecond: 1500 }), { uid: "src" })
        .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 10), { uid: "ts" })
        .keyBy((n): [string, number] => [n % 2 === 0 ? "even" : "odd", n % 3])
        .window(TumblingEventTimeWindows.of(2000))
        .aggregate({
          createAccumulator: (): Acc => ({ key: "", count: 0, sum: 0, seen: [] }),
          add: (n: number, acc: Acc) => {
            if (!failed && n > 2000 && (running.job?.checkpointStats().counts.completed ?? 0) >= 3) {
              failed = true;
              throw new Error("injected failure in add");
            }
            acc.key = `${n % 2 === 0 ? "even" : "odd"}/${n % 3}`;
            acc.count++;
            acc.sum += n;
            acc.seen.push(n);
            return acc;
          },
          getResult: (acc) => [acc.key, Math.floor(acc.seen[0] * 10 / 2000) * 2000, acc.count, acc.sum, acc.seen.length] as [string, number, number, number, number],
          merge: (a, b) => ({ key: a.key, count: a.count + b.count, sum: a.sum + b.sum, seen: [...a.seen, ...b.seen] }),
        }, { uid: "agg" })
        .sinkTo(sink, { uid: "out" });
      running.job = await e.execute();
      const result = await world.untilDone(running.job);
      assert.equal(result.status, "finished", String(result.error));
      assert.ok(failed && result.restarts >= 1, "the failure happened");
      const want = new Map<string, [string, number, number, number, number]>();
      for (let n = 0; n < N; n++) {
        const key = `${n % 2 === 0 ? "even" : "odd"}/${n % 3}`;
        const start = Math.floor(n * 10 / 2000) * 2000;
        const r = want.get(`${key}@${start}`) ?? [key, start, 0, 0, 0];
        r[2]++;
        r[3] += n;
        r[4]++;
        want.set(`${key}@${start}`, r);
      }
      const order = (a: [string, number, ...number[]], b: [string, number, ...number[]]) => a[0].localeCompare(b[0]) || a[1] - b[1];
      assert.deepEqual([...sink.committed].sort(order), [...want.values()].sort(order));
    });
  }
});

describe("records stay values around windows", () => {
  test("a reduce that changes its first argument in place leaves other consumers of the same records unchanged", async () => {
    const world = new VirtualWorld();
    type Rec = { k: number; v: number };
    const sums = new CollectSink<number>();
    const maxes = new CollectSink<number>();
    const raw = new CollectSink<number>();
    const e = virtualEnv(world, "reduce-in-place", { parallelism: 1 });
    const records = e.fromSource(new SequenceSource(0, 100), { uid: "src" })
      .map((n): Rec => ({ k: n % 2, v: n }), { uid: "rec" })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<Rec>().withTimestampAssigner((r) => r.v * 10), { uid: "ts" });
    const keyed = records.keyBy((r) => r.k);
    keyed.window(TumblingEventTimeWindows.of(500)).reduce((a, b) => {
      a.v += b.v;
      return a;
    }, { uid: "sum" }).map((r) => r.v, { uid: "sum-v" }).sinkTo(sums, { uid: "sums" });
    keyed.window(TumblingEventTimeWindows.of(500)).reduce((a, b) => {
      a.v = Math.max(a.v, b.v);
      return a;
    }, { uid: "max" }).map((r) => r.v, { uid: "max-v" }).sinkTo(maxes, { uid: "maxes" });
    records.map((r) => r.v, { uid: "raw-v" }).sinkTo(raw, { uid: "raw" });
    const result = await world.untilDone(await e.execute());
    assert.equal(result.status, "finished", String(result.error));
    const wantSums: number[] = [];
    const wantMaxes: number[] = [];
    for (let s = 0; s < 100; s += 50) {
      for (const k of [0, 1]) {
        const vs = Array.from({ length: 50 }, (_, i) => s + i).filter((n) => n % 2 === k);
        wantSums.push(vs.reduce((a, b) => a + b, 0));
        wantMaxes.push(Math.max(...vs));
      }
    }
    assert.deepEqual([...sums.committed].sort((a, b) => a - b), wantSums.sort((a, b) => a - b));
    assert.deepEqual([...maxes.committed].sort((a, b) => a - b), wantMaxes.sort((a, b) => a - b));
    assert.deepEqual([...raw.committed].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  });
});
