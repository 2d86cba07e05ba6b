/**
 * Timers (deleted before and after a restore), a keyed connect's state and timers on both
 * sides, and session windows that merge across a restore: all keyed state, redistributed by
 * key group when a savepoint is restored at another parallelism; each timer and window fires once.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, EventTimeSessionWindows, MemoryStorage, StreamEnvironment, WatermarkStrategy } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { memoryDirectories, VirtualWorld } from "../virtual_world.ts";

type Restore = { storage: MemoryStorage; path: string } | undefined;

/**
 * Runs a job (built by `build` on a gated source of `total` records) at parallelism p1 until
 * `seen()` reaches firstUpTo, stops it with a savepoint, and runs it again from that savepoint
 * at p2 to the end of its input.
 */
async function twoRuns(
  world: VirtualWorld,
  name: string,
  build: (env: StreamEnvironment, src: GatedSequence) => void,
  firstUpTo: number,
  total: number,
  p1: number,
  p2: number,
  seen: () => number,
) {
  const dirs = memoryDirectories();
  try {
    const mk = (parallelism: number, restoreFrom: Restore) =>
      new StreamEnvironment({
        jobName: name, parallelism, storage: new MemoryStorage(), checkpoint: { interval: 10 },
        restart: { strategy: "none" }, runtime: world.runtime(), restoreFrom,
      });
    const first = new GatedSequence(total);
    first.allowed = firstUpTo;
    const e1 = mk(p1, undefined);
    build(e1, first);
    const run1 = await e1.execute();
    await world.drive(() => seen() >= firstUpTo, 60_000);
    let sp: string | undefined;
    run1.stop({ savepoint: "sp" }).then((p) => (sp = p));
    await world.drive(() => sp !== undefined, 60_000);
    assert.ok(sp);
    const second = new GatedSequence(total);
    second.allowed = total;
    const e2 = mk(p2, { storage: dirs.storage, path: sp.replace(/^mem:sp\//, "") });
    build(e2, second);
    const r = await world.untilDone(await e2.execute());
    assert.equal(r.status, "finished", String(r.error));
  } finally {
    dirs.restore();
  }
}

describe("timers and session windows are keyed state: restored from a savepoint at another parallelism", () => {
  for (const [p1, p2] of [[2, 3], [3, 1]]) {
    test(`timers deleted before and after a restore never fire; the others fire once (${p1} -> ${p2})`, async () => {
      const world = new VirtualWorld();
      const sink = new CollectSink<string>();
      let seen = 0;
      await twoRuns(world, "timers-del", (e, src) => {
        e.fromSource<number>(src, { uid: "src", parallelism: 1 })
          .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 10), { uid: "wm" })
          .keyBy((n) => n % 5)
          .process<string>({
            processElement(n, ctx) {
              seen++;
              if (n < 10) {
                ctx.timerService.registerEventTimeTimer(1000 + n);
                ctx.timerService.registerEventTimeTimer(2000 + n);
                if (n % 2 === 1) ctx.timerService.deleteEventTimeTimer(2000 + n);
              } else {
                ctx.timerService.deleteEventTimeTimer(1000 + n - 10);
              }
            },
            onTimer(t, ctx) {
              ctx.emit(`${ctx.key}@${t}`);
            },
          }, { uid: "p" })
          .sinkTo(sink, { uid: "out", parallelism: 1 });
      }, 10, 15, p1, p2, () => seen);
      const expected = [5, 6, 7, 8, 9].map((n) => `${n % 5}@${1000 + n}`).concat([0, 2, 4, 6, 8].map((n) => `${n % 5}@${2000 + n}`));
      assert.deepEqual([...sink.committed].sort(), expected.sort());
    });

    test(`session windows merge across a restore at another parallelism (${p1} -> ${p2})`, async () => {
      const world = new VirtualWorld();
      const sink = new CollectSink<string>();
      const events: [number, number][] = [[0, 0], [1, 0], [0, 1000], [1, 2000], [0, 500], [1, 5000], [0, 1550]];
      let seen = 0;
      await twoRuns(world, "sessions", (e, src) => {
        e.fromSource<number>(src, { uid: "src", parallelism: 1 })
          .map((i) => { seen++; return events[i]; }, { uid: "ev" })
          .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness<[number, number]>(100_000).withTimestampAssigner((ev) => ev[1]), { uid: "wm" })
          .keyBy((ev) => ev[0])
          .window(EventTimeSessionWindows.withGap(600))
          .aggregate({
            createAccumulator: () => [] as number[],
            add: (ev: [number, number], acc: number[]) => [...acc, ev[1]],
            getResult: (acc: number[]) => acc.sort((a, b) => a - b).join(","),
            merge: (a: number[], b: number[]) => [...a, ...b],
          }, { uid: "w" })
          .sinkTo(sink, { uid: "out", parallelism: 1 });
      }, 4, events.length, p1, p2, () => seen);
      assert.deepEqual([...sink.committed].sort(), ["0,500,1000,1550", "0", "2000", "5000"].sort());
    });

    test(`keyed connect: state and timers of both sides restore at another parallelism (${p1} -> ${p2})`, async () => {
      const world = new VirtualWorld();
      const sink = new CollectSink<string>();
      let seen = 0;
      await twoRuns(world, "kconnect", (e, src) => {
        const base = e.fromSource<number>(src, { uid: "src", parallelism: 1 })
          .map((n) => { seen++; return n; }, { uid: "count" })
          .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness<number>(100_000).withTimestampAssigner((n) => n), { uid: "wm" });
        const a = base.filter((n) => n % 2 === 0, { uid: "even" }).keyBy((n) => Math.floor(n / 2) % 4);
        const b = base.filter((n) => n % 2 === 1, { uid: "odd" }).map((n) => `o${n}`, { uid: "str" }).keyBy((s) => Math.floor(Number(s.slice(1)) / 2) % 4);
        a.connect(b).process<string>({
          processElement1(n, ctx) {
            ctx.listState<number>("a").add(n);
            ctx.timerService.registerEventTimeTimer(500);
          },
          processElement2(s, ctx) {
            ctx.mapState<string, number>("b").put(s, 1);
            ctx.timerService.registerEventTimeTimer(600);
            ctx.timerService.registerProcessingTimeTimer(ctx.timerService.currentProcessingTime() + 1);
          },
          onTimer(t, ctx) {
            if (ctx.timeDomain === "processing") return;
            ctx.emit(`${ctx.key}@${t}: a=${[...ctx.listState<number>("a").get()].sort((x, y) => x - y)} b=${[...ctx.mapState<string, number>("b").keys()].sort()}`);
          },
        }, { uid: "co" }).sinkTo(sink, { uid: "out", parallelism: 1 });
      }, 20, 40, p1, p2, () => seen);
      const expected: string[] = [];
      for (let k = 0; k < 4; k++) {
        const as: number[] = [];
        const bs: string[] = [];
        for (let n = 0; n < 40; n++) if (Math.floor(n / 2) % 4 === k) n % 2 === 0 ? as.push(n) : bs.push(`o${n}`);
        expected.push(`${k}@500: a=${as} b=${bs.sort()}`, `${k}@600: a=${as} b=${bs.sort()}`);
      }
      assert.deepEqual([...sink.committed].sort(), expected.sort());
    });
  }
});
