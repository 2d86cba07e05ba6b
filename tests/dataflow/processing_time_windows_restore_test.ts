/**
 * Processing-time windows (tumbling and session) open at a stop-with-savepoint keep their
 * contents in it; when their end passed while the job was stopped, they fire right after
 * the restore, at any parallelism, once; later records make windows of their own.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, ProcessingTimeSessionWindows, StreamEnvironment, TumblingProcessingTimeWindows } from "../../mod.ts";
import type { WindowAssigner } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { memoryDirectories, VirtualWorld } from "../virtual_world.ts";

describe("processing-time windows are state: open at a savepoint, they fire after the restore", () => {
  for (const [name, assigner] of [["tumbling", TumblingProcessingTimeWindows.of(1000)], ["session", ProcessingTimeSessionWindows.withGap(300)]] as [string, WindowAssigner][]) {
    for (const [p1, p2] of [[2, 3], [2, 1]]) {
      test(`${name} windows due while the job was stopped fire right after the restore at another parallelism, once (${p1} -> ${p2})`, async () => {
        const world = new VirtualWorld();
        const dirs = memoryDirectories();
        try {
          const out = new CollectSink<string>();
          let seen = 0;
          const build = (p: number, src: GatedSequence, restoreFrom?: { storage: MemoryStorage; path: string }) => {
            const e = new StreamEnvironment({ jobName: `pt-${name}`, parallelism: p, storage: new MemoryStorage(), checkpoint: { interval: 10 }, restart: { strategy: "none" }, runtime: world.runtime(), restoreFrom });
            e.fromSource<number>(src, { uid: "src", parallelism: 1 })
              .map((n) => (seen++, n), { uid: "m", parallelism: 1 })
              .keyBy((n) => n % 2)
              .window(assigner)
              .process<string>((k, _w, els, ctx) => ctx.emit(`${k} ${[...els].sort((a, b) => a - b)}`), { uid: "w" })
              .sinkTo(out, { uid: "out", parallelism: 1 });
            return e;
          };
          const advance = async (ms: number) => {
            let woke = false;
            world.sleep(ms).then(() => (woke = true));
            await world.drive(() => woke, ms + 1000);
          };
          // Start just after a window start, so that the first records share a tumbling window.
          await advance(1000 - (world.clock.now() % 1000) + 10);
          const first = new GatedSequence(8);
          first.allowed = 4;
          const run1 = await build(p1, first).execute();
          await world.drive(() => seen >= 4, 60_000);
          let sp: string | undefined;
          run1.stop({ savepoint: "sp" }).then((p) => (sp = p));
          await world.drive(() => sp !== undefined, 60_000);
          assert.deepEqual(out.committed, [], "nothing fired before the stop");
          await advance(5000);
          const second = new GatedSequence(8);
          second.allowed = 4;
          const run2 = await build(p2, second, { storage: dirs.storage, path: sp!.replace(/^mem:sp\//, "") }).execute();
          await advance(50);
          const fired = [...out.committed];
          second.allowed = 8;
          await world.drive(() => seen >= 8, 60_000);
          const r = await world.untilDone(run2);
          assert.equal(r.status, "finished", String(r.error));
          assert.deepEqual(fired.sort(), ["0 0,2", "1 1,3"], "the windows due while stopped fired right after the restore");
          assert.deepEqual([...out.committed].sort(), ["0 0,2", "0 4,6", "1 1,3", "1 5,7"]);
        } finally {
          dirs.restore();
        }
      });
    }
  }
});
