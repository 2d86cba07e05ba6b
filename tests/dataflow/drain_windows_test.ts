/**
 * stop with drain (Flink's `stop --drain`): event time jumps to +∞, so open event-time and
 * processing-time windows and event-time timers fire before the savepoint (processing-time
 * timers still in the future do not); a job restored from that savepoint fires the rest
 * of those windows again, with the records after the savepoint.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, OutputTag, StreamEnvironment, TumblingEventTimeWindows, TumblingProcessingTimeWindows, WatermarkStrategy } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { memoryDirectories, VirtualWorld } from "../virtual_world.ts";

type Kind = "event windows" | "processing windows" | "timers";

function build(world: VirtualWorld, kind: Kind, src: GatedSequence, out: CollectSink<string>, late: CollectSink<number>, count: () => void, restoreFrom?: { storage: MemoryStorage; path: string }) {
  const e = new StreamEnvironment({
    jobName: `drain-${kind.replace(" ", "-")}`, parallelism: 2, storage: new MemoryStorage(), checkpoint: { interval: 10 },
    restart: { strategy: "none" }, runtime: world.runtime(), restoreFrom,
  });
  const keyed = e.fromSource<number>(src, { uid: "src", parallelism: 1 })
    .map((n) => (count(), n), { uid: "count", parallelism: 1 })
    .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n), { uid: "ts", parallelism: 1 })
    .keyBy((n) => n % 2);
  if (kind === "timers") {
    keyed.process<string>({
      processElement(_n, ctx) {
        ctx.timerService.registerEventTimeTimer(1000);
        ctx.timerService.registerProcessingTimeTimer(ctx.timerService.currentProcessingTime() + 1_000_000);
      },
      onTimer(t, ctx) {
        ctx.emit(`${ctx.key} ${ctx.timeDomain} ${t}`);
      },
    }, { uid: "p" }).sinkTo(out, { uid: "out", parallelism: 1 });
    return e;
  }
  const tag = new OutputTag<number>("late");
  const w = keyed.window(kind === "event windows" ? TumblingEventTimeWindows.of(1000) : TumblingProcessingTimeWindows.of(1_000_000))
    .sideOutputLateData(tag)
    .process<string>((key, _w, els, ctx) => ctx.emit(`${key} ${[...els].sort((a, b) => a - b)}`), { uid: "w" });
  w.sinkTo(out, { uid: "out", parallelism: 1 });
  w.getSideOutput(tag).sinkTo(late, { uid: "late", parallelism: 1 });
  return e;
}

describe("stop with drain fires what is open, and a restore fires the rest", () => {
  for (const kind of ["event windows", "processing windows", "timers"] as const) {
    test(`${kind}`, async () => {
      const world = new VirtualWorld();
      const dirs = memoryDirectories();
      try {
        const out = new CollectSink<string>();
        const late = new CollectSink<number>();
        let seen = 0;
        const first = new GatedSequence(8);
        first.allowed = 4;
        const job = await build(world, kind, first, out, late, () => seen++).execute();
        await world.drive(() => seen >= 4, 60_000);
        let sp: string | undefined;
        job.stop({ savepoint: "sp", drain: true }).then((p) => (sp = p));
        await world.drive(() => sp !== undefined, 60_000);
        assert.equal((await job.done).status, "stopped");
        const drained = kind === "timers" ? ["0 event 1000", "1 event 1000"] : ["0 0,2", "1 1,3"];
        assert.deepEqual([...out.committed].sort(), drained, "what was open fired at the drain");
        const second = new GatedSequence(8);
        second.allowed = 8;
        const r = await world.untilDone(await build(world, kind, second, out, late, () => seen++, { storage: dirs.storage, path: sp!.replace(/^mem:sp\//, "") }).execute());
        assert.equal(r.status, "finished", String(r.error));
        const rest = kind === "timers" ? ["0 event 1000", "1 event 1000"] : ["0 4,6", "1 5,7"];
        assert.deepEqual([...out.committed].sort(), [...drained, ...rest].sort(), "the rest fired after the restore");
        assert.deepEqual(late.committed, []);
      } finally {
        dirs.restore();
      }
    });
  }
});
