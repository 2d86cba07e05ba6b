import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, StreamEnvironment, WatermarkStrategy } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { memoryDirectories, VirtualWorld } from "../virtual_world.ts";

describe("watermarks never go backwards, also not after a restore", () => {
  test("a non-keyed process's currentWatermark() after a restore starts where it was at the savepoint", async () => {
    const world = new VirtualWorld();
    const dirs = memoryDirectories();
    try {
      const seen: number[][] = [[], []];
      const build = (run: number, source: GatedSequence, restoreFrom?: { storage: MemoryStorage; path: string }) => {
        const e = new StreamEnvironment({ jobName: "wm-restore", parallelism: 1, storage: new MemoryStorage(), restart: { strategy: "none" }, runtime: world.runtime(), restoreFrom });
        e.fromSource<number>(source, { uid: "src" })
          .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 1000), { uid: "ts" })
          .process<number>((n, ctx) => {
            seen[run].push(ctx.timerService.currentWatermark());
            ctx.emit(n);
          }, { uid: "observe" })
          .sinkTo(new CollectSink<number>(), { uid: "out" });
        return e;
      };
      const first = new GatedSequence(100);
      const run1 = await build(0, first).execute();
      first.allowed = 25;
      await world.drive(() => false, 1000);
      first.allowed = 50; // records 25..49 see the watermark of 0..24
      await world.drive(() => false, 1000);
      let savepoint: string | undefined;
      run1.stop({ savepoint: "sp" }).then((p) => (savepoint = p));
      await world.drive(() => savepoint !== undefined, 60_000);
      assert.ok(savepoint);
      assert.equal(seen[0].at(-1), 23_999, "before the savepoint the process saw the watermark of records 0..24");
      const second = new GatedSequence(100);
      second.allowed = 100;
      const result = await world.untilDone(await build(1, second, { storage: dirs.storage, path: savepoint.replace(/^mem:sp\//, "") }).execute());
      assert.equal(result.status, "finished");
      assert.equal(seen[1].length, 50);
      // The watermark had passed 49 s (records 0..49) when the savepoint was taken.
      assert.ok(seen[1][0] >= 48_999, `the first record after the restore saw watermark ${seen[1][0]}`);
      for (let i = 1; i < seen[1].length; i++) assert.ok(seen[1][i] >= seen[1][i - 1], `watermark went back from ${seen[1][i - 1]} to ${seen[1][i]}`);
    } finally {
      dirs.restore();
    }
  });
});
