import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CollectSink, EventTimeSessionWindows, MemoryStorage, OutputTag, ProcessingTimeSessionWindows, SequenceSource, SlidingEventTimeWindows, StreamEnvironment, TumblingEventTimeWindows,
  TumblingProcessingTimeWindows, WatermarkStrategy,
} from "../../mod.ts";
import type { JobHandle, WindowAssigner } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { memoryDirectories, VirtualWorld } from "../virtual_world.ts";
import { virtualEnv } from "./virtual_env.ts";

const N = 2000;
const KEYS = 4;
/** Record n happens at 10·n ms, except every 7th, 150 ms earlier (out of order within the bound). */
const tsOf = (n: number) => n * 10 - (n % 7 === 0 ? 150 : 0);
const strategy = WatermarkStrategy.forBoundedOutOfOrderness<number>(200).withTimestampAssigner(tsOf);

type Row = [key: number, start: number, end: number, sum: number, count: number];

function oracle(windowsOf: (ts: number) => [number, number][]): Row[] {
  const m = new Map<string, Row>();
  for (let n = 0; n < N; n++) {
    for (const [s, e] of windowsOf(tsOf(n))) {
      const id = `${n % KEYS}/${s}`;
      const r = m.get(id) ?? [n % KEYS, s, e, 0, 0];
      r[3] += n;
      r[4]++;
      m.set(id, r);
    }
  }
  return [...m.values()];
}

/** Session windows of one key: sorted timestamps, a new session when the gap is reached. */
function sessions(gap: number): Row[] {
  const rows: Row[] = [];
  for (let k = 0; k < KEYS; k++) {
    const ns = Array.from({ length: N }, (_, n) => n).filter((n) => n % KEYS === k).sort((a, b) => tsOf(a) - tsOf(b));
    let cur: Row | undefined;
    for (const n of ns) {
      const t = tsOf(n);
      if (cur && t <= cur[2]) {
        cur[2] = Math.max(cur[2], t + gap);
        cur[3] += n;
        cur[4]++;
      } else {
        cur = [k, t, t + gap, n, 1];
        rows.push(cur);
      }
    }
  }
  return rows;
}

const sortRows = (rows: Row[]) => [...rows].sort((a, b) => a[0] - b[0] || a[1] - b[1]);

const cases: [string, WindowAssigner, () => Row[]][] = [
  ["tumbling", TumblingEventTimeWindows.of(500), () => oracle((t) => [[Math.floor(t / 500) * 500, Math.floor(t / 500) * 500 + 500]])],
  ["sliding", SlidingEventTimeWindows.of(600, 200), () => oracle((t) => [0, 1, 2].map((i) => Math.floor(t / 200) * 200 - i * 200).filter((s) => s > t - 600).map((s) => [s, s + 600]))],
  // Keys repeat every 40 ms of event time: a gap of 30 ms cuts sessions only where a 7th record is moved back.
  ["session", EventTimeSessionWindows.withGap(30), () => sessions(30)],
];

describe("each window fires exactly once per key through failures", () => {
  for (const [name, assigner, expected] of cases) {
    for (const unaligned of [false, true]) {
      test(`${name} windows with process, a failure after the first completed checkpoint (${unaligned ? "unaligned" : "aligned"})`, async () => {
        const world = new VirtualWorld();
        const sink = new CollectSink<Row>();
        const running: { job?: JobHandle } = {};
        let failed = false;
        const e = virtualEnv(world, `${name}-${unaligned}`, { checkpoint: { interval: 20, unaligned } });
        e.fromSource(new SequenceSource(0, N, { ratePerSecond: 2000 }), { uid: "src" })
          .assignTimestampsAndWatermarks(strategy, { uid: "ts" })
          .keyBy((n) => n % KEYS)
          .window(assigner)
          .process<Row>((key, w, els, ctx) => {
            if (!failed && running.job !== undefined && running.job.checkpointStats().counts.completed >= 2 && w.start > 5000) {
              failed = true;
              throw new Error("injected failure in a window function");
            }
            ctx.emit([key, w.start, w.end, els.reduce((a, b) => a + b, 0), els.length]);
          }, { uid: "w", parallelism: 3 })
          .sinkTo(sink, { uid: "out" });
        running.job = await e.execute();
        const result = await world.untilDone(running.job);
        assert.equal(result.status, "finished", String(result.error));
        assert.ok(failed && result.restarts >= 1, "the failure happened");
        assert.deepEqual(sortRows(sink.committed), sortRows(expected()));
      });
    }
  }

  for (const [name, assigner] of [["tumbling", TumblingProcessingTimeWindows.of(50)], ["session", ProcessingTimeSessionWindows.withGap(5)]] as const) {
    for (const unaligned of [false, true]) {
      test(`processing-time ${name} windows count every record once and fire each key and window once through a failure (${unaligned ? "unaligned" : "aligned"})`, async () => {
        const world = new VirtualWorld();
        const sink = new CollectSink<[number, number, number]>();
        const running: { job?: JobHandle } = {};
        let failed = false;
        const e = virtualEnv(world, `processing-${name}-${unaligned}`, { checkpoint: { interval: 20, unaligned } });
        e.fromSource(new SequenceSource(0, N, { ratePerSecond: 2000 }), { uid: "src" })
          .keyBy((n) => n % KEYS)
          .window(assigner)
          .aggregate({
            createAccumulator: (): [number, number] => [-1, 0],
            add: (n: number, acc: [number, number]): [number, number] => {
              if (!failed && n > N / 2 && (running.job?.checkpointStats().counts.completed ?? 0) >= 2) {
                failed = true;
                throw new Error("injected failure in add");
              }
              return [n % KEYS, acc[1] + 1];
            },
            getResult: (acc) => acc,
            merge: (a, b): [number, number] => [Math.max(a[0], b[0]), a[1] + b[1]],
          }, { uid: "w", parallelism: 3 })
          .process<[number, number, number]>(([key, c], ctx) => ctx.emit([ctx.timestamp!, key, c]), { uid: "stamp" })
          .sinkTo(sink, { uid: "out" });
        running.job = await e.execute();
        const result = await world.untilDone(running.job);
        assert.equal(result.status, "finished", String(result.error));
        assert.ok(failed && result.restarts >= 1, "the failure happened");
        assert.equal(sink.committed.reduce((a, [, , c]) => a + c, 0), N, "every record counted once");
        const fired = sink.committed.map(([end, key]) => `${key}@${end}`);
        assert.equal(new Set(fired).size, fired.length, "no key and window fired twice");
      });
    }
  }

  test("through stop-with-savepoint and a restore at another parallelism; the watermark does not go back after the restore", async () => {
    const world = new VirtualWorld();
    const dirs = memoryDirectories();
    try {
      const sink = new CollectSink<Row>();
      const late = new CollectSink<number>();
      const tag = new OutputTag<number>("late");
      let processed = 0;
      // The second run replays record 0's timestamp (it is first at its restored position): late there.
      const build = (parallelism: number, gated: GatedSequence, assign: (n: number) => number, restoreFrom?: { storage: MemoryStorage; path: string }) => {
        const env = new StreamEnvironment({
          jobName: "window-rescale",
          parallelism,
          storage: new MemoryStorage(),
          checkpoint: { interval: 10 },
          restart: { strategy: "none" },
          runtime: world.runtime(),
          restoreFrom,
        });
        const out = env.fromSource<number>(gated, { uid: "src", parallelism: 1 })
          .map((n) => (processed++, n), { uid: "count", parallelism: 1 })
          .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner(assign), { uid: "ts", parallelism: 1 })
          .keyBy((n) => n % KEYS)
          .window(TumblingEventTimeWindows.of(500))
          .sideOutputLateData(tag)
          .process<Row>((key, w, els, ctx) => ctx.emit([key, w.start, w.end, els.reduce((a, b) => a + b, 0), els.length]), { uid: "w" });
        out.sinkTo(sink, { uid: "out", parallelism: 1 });
        out.getSideOutput(tag).sinkTo(late, { uid: "late", parallelism: 1 });
        return env;
      };
      const first = new GatedSequence(N);
      first.allowed = N / 2;
      const run1 = await build(2, first, (n) => n * 10).execute();
      await world.drive(() => processed >= N / 2, 60_000);
      // Periodic watermarks (every 200 ms of the clock) fire the first half's windows before the stop.
      await world.drive(() => sink.committed.length > 0 && world.clock.now() > 1000, 60_000);
      const beforeStop = sink.committed.length;
      let savepoint: string | undefined;
      run1.stop({ savepoint: "sp" }).then((p) => (savepoint = p));
      await world.drive(() => savepoint !== undefined, 60_000);
      assert.ok(savepoint);
      assert.ok(beforeStop > 0 && sink.committed.length < (N / 50) * KEYS, `some windows fired before the stop (${sink.committed.length})`);
      const second = new GatedSequence(N);
      second.allowed = N;
      // After the restore, record N/2 claims timestamp 0: behind the restored watermark, it is late.
      const run2 = await build(3, second, (n) => (n === N / 2 ? 0 : n * 10), { storage: dirs.storage, path: savepoint.replace(/^mem:sp\//, "") }).execute();
      const result = await world.untilDone(run2);
      assert.equal(result.status, "finished", String(result.error));
      const plain = new Map<string, Row>();
      for (let n = 0; n < N; n++) {
        if (n === N / 2) continue;
        const s = Math.floor((n * 10) / 500) * 500;
        const r = plain.get(`${n % KEYS}/${s}`) ?? [n % KEYS, s, s + 500, 0, 0];
        r[3] += n;
        r[4]++;
        plain.set(`${n % KEYS}/${s}`, r);
      }
      assert.deepEqual(sortRows(sink.committed), sortRows([...plain.values()]), "each window once per key, across the restore");
      assert.deepEqual(late.committed, [N / 2], "the record behind the restored watermark is late");
    } finally {
      dirs.restore();
    }
  });
});
