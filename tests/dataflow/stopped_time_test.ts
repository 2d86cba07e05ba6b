import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, StreamEnvironment } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { memoryDirectories, VirtualWorld } from "../virtual_world.ts";

/** Time that passes while no job runs: TTL is absolute, timers due meanwhile fire after the restore. */
describe("processing time across stop-with-savepoint and restore", () => {
  for (const [backend1, backend2] of [["heap", "heap"], ["sqlite", "sqlite"], ["heap", "sqlite"]] as const) {
  test(`state TTL is absolute across restores and not refreshed by reads (value, list, map); processing-time timers due while stopped fire after the restore (${backend1} to ${backend2})`, async () => {
    const world = new VirtualWorld();
    const dirs = memoryDirectories();
    try {
      const sink = new CollectSink<string>();
      let processed = 0;
      const build = (parallelism: number, gated: GatedSequence, restoreFrom?: { storage: MemoryStorage; path: string }) => {
        const env = new StreamEnvironment({
          jobName: "stopped-time",
          parallelism,
          storage: new MemoryStorage(),
          checkpoint: { interval: 10 },
          restart: { strategy: "none" },
          runtime: world.runtime(),
          restoreFrom,
          state: { backend: restoreFrom ? backend2 : backend1 },
        });
        env.fromSource<number>(gated, { uid: "src", parallelism: 1 })
          .keyBy((n) => n % 5)
          .process<string>({
            processElement(n, ctx) {
              processed++;
              const value = ctx.valueState<number>("v", { ttl: 1000 });
              const list = ctx.listState<number>("l", { ttl: 1000 });
              const map = ctx.mapState<string, number>("m", { ttl: 1000 });
              const longLived = ctx.valueState<number>("long", { ttl: 1_000_000 });
              if (n < 5) {
                value.update(n);
                list.add(n);
                map.put("x", n);
                longLived.update(n);
                ctx.timerService.registerProcessingTimeTimer(ctx.timerService.currentProcessingTime() + 1000);
                return;
              }
              const l = [...list.get()];
              ctx.emit(`read ${n} v=${value.value() ?? "-"} l=${l.length} m=${map.get("x") ?? "-"} long=${longLived.value() ?? "-"}`);
            },
            onTimer(ts, ctx) {
              ctx.emit(`timer key=${ctx.key} late=${ctx.timerService.currentProcessingTime() - ts >= 0}`);
            },
          }, { uid: "p" })
          .sinkTo(sink, { uid: "out", parallelism: 1 });
        return env;
      };
      const advance = async (ms: number) => {
        let woke = false;
        world.sleep(ms).then(() => (woke = true));
        await world.drive(() => woke, ms + 1000);
      };
      const first = new GatedSequence(15);
      first.allowed = 5;
      const run1 = await build(2, first).execute();
      await world.drive(() => processed >= 5, 60_000);
      await advance(600);
      first.allowed = 10;
      await world.drive(() => processed >= 10, 60_000);
      let savepoint: string | undefined;
      run1.stop({ savepoint: "sp" }).then((p) => (savepoint = p));
      await world.drive(() => savepoint !== undefined, 60_000);
      assert.ok(savepoint);
      const beforeStop = [...sink.committed].sort();
      assert.deepEqual(beforeStop, [5, 6, 7, 8, 9].map((n) => `read ${n} v=${n - 5} l=1 m=${n - 5} long=${n - 5}`), "all alive 600 ms after the write");
      // 600 ms more while stopped: 1200 ms after the writes, 600 ms after the reads.
      await advance(600);
      const second = new GatedSequence(15);
      second.allowed = 10;
      const run2 = await build(3, second, { storage: dirs.storage, path: savepoint.replace(/^mem:sp\//, "") }).execute();
      await advance(200);
      second.allowed = 15;
      const result = await world.untilDone(run2);
      assert.equal(result.status, "finished", String(result.error));
      const after = sink.committed.slice(beforeStop.length);
      assert.deepEqual(after.filter((s) => s.startsWith("read")).sort(), [10, 11, 12, 13, 14].map((n) => `read ${n} v=- l=0 m=- long=${n - 10}`));
      assert.deepEqual(after.filter((s) => s.startsWith("timer")).sort(), [0, 1, 2, 3, 4].map((k) => `timer key=${k} late=true`), "each timer due while stopped fired once after the restore");
    } finally {
      dirs.restore();
    }
  });
  }
});
