/**
 * Watermarks survive checkpoints and never go backwards, also not after a restore: a window
 * that fired before a stop-with-savepoint does not fire again for a record that was already
 * late then, whatever the parallelism after the restore (the record arrives before any new
 * watermark does). Watermarks per record (a generator's onEvent) and periodic ones.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, OutputTag, StreamEnvironment, TumblingEventTimeWindows, WatermarkStrategy } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { memoryDirectories, VirtualWorld } from "../virtual_world.ts";

describe("the watermark a window operator reached survives a restore at any parallelism", () => {
  for (const [p1, p2] of [[2, 2], [2, 3], [3, 1]]) {
    for (const gen of ["onEvent", "bounded"] as const) {
    test(`a record late for a window that fired before the savepoint goes to the late side output after the restore, the window does not fire again (${p1} -> ${p2}, ${gen})`, async () => {
      const world = new VirtualWorld();
      const dirs = memoryDirectories();
      try {
        const out = new CollectSink<string>();
        const lateSink = new CollectSink<[number, number]>();
        const events: [number, number][] = [[0, 5], [1, 5], [2, 5], [0, 100], [1, 100], [2, 100], [0, 6], [1, 7], [2, 8]];
        let seen = 0;
        const build = (p: number, src: GatedSequence, restoreFrom?: { storage: MemoryStorage; path: string }) => {
          const e = new StreamEnvironment({
            jobName: "late-restore", parallelism: p, storage: new MemoryStorage(), checkpoint: { interval: 10 }, restart: { strategy: "none" },
            runtime: world.runtime(), restoreFrom, autoWatermarkInterval: 5,
          });
          const tag = new OutputTag<[number, number]>("late");
          const strategy = gen === "onEvent"
            ? WatermarkStrategy.forGenerator<[number, number]>(() => ({ onEvent: (_v, t, o) => o.emitWatermark(t), onPeriodicEmit() {} }))
            : WatermarkStrategy.forBoundedOutOfOrderness<[number, number]>(0);
          const w = e.fromSource<number>(src, { uid: "src", parallelism: 1 })
            .map((i) => { seen++; return events[i]; }, { uid: "ev", parallelism: 1 })
            .assignTimestampsAndWatermarks(strategy.withTimestampAssigner((ev) => ev[1]), { uid: "wm", parallelism: 1 })
            .keyBy((ev) => ev[0])
            .window(TumblingEventTimeWindows.of(10))
            .sideOutputLateData(tag)
            .process<string>((k, win, els, ctx) => ctx.emit(`${k} ${win.start} ${els.length}`), { uid: "w" });
          w.sinkTo(out, { uid: "out", parallelism: 1 });
          w.getSideOutput(tag).sinkTo(lateSink, { uid: "late", parallelism: 1 });
          return e;
        };
        const first = new GatedSequence(events.length);
        first.allowed = 6;
        const run1 = await build(p1, first).execute();
        await world.drive(() => seen >= 6, 60_000);
        let woke = false;
        world.sleep(100).then(() => (woke = true));
        await world.drive(() => woke, 1000);
        assert.deepEqual([...out.committed].sort(), ["0 0 1", "1 0 1", "2 0 1"], "the first windows fired before the stop");
        let sp: string | undefined;
        run1.stop({ savepoint: "sp" }).then((p) => (sp = p));
        await world.drive(() => sp !== undefined, 60_000);
        const second = new GatedSequence(events.length);
        second.allowed = events.length;
        const r = await world.untilDone(await build(p2, second, { storage: dirs.storage, path: sp!.replace(/^mem:sp\//, "") }).execute());
        assert.equal(r.status, "finished", String(r.error));
        assert.deepEqual([...out.committed].sort(), ["0 0 1", "0 100 1", "1 0 1", "1 100 1", "2 0 1", "2 100 1"]);
        assert.deepEqual([...lateSink.committed].sort((a, b) => a[0] - b[0]), [[0, 6], [1, 7], [2, 8]], "late before the stop, late after the restore");
      } finally {
        dirs.restore();
      }
    });
    }
  }
});
