/**
 * State TTL (value, list and map) in a job that fails and restores its latest retained
 * checkpoint, full or incremental (the sqlite backend's own files): write times come back
 * with the entries, so each entry expires ttl ms after its own write, never later.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, StreamEnvironment } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { VirtualWorld } from "../virtual_world.ts";

describe("state TTL through a failure: restored from the latest checkpoint (full or incremental)", () => {
  for (const [backend, inc] of [["heap", false], ["heap", true], ["sqlite", false], ["sqlite", true]] as const) {
    test(`TTL entries restored from a retained checkpoint after a failure expire on time (${backend}, incremental ${inc})`, async () => {
      const world = new VirtualWorld();
      const sink = new CollectSink<string>();
      let seen = 0;
      let failed = false;
      const src = new GatedSequence(10);
      const e = new StreamEnvironment({
        jobName: "ttl3", parallelism: 2, storage: new MemoryStorage(), checkpoint: { interval: 10 }, restart: { strategy: "fixed-delay", attempts: 3, delay: 5 },
        runtime: world.runtime(), state: { backend, incremental: inc },
      });
      e.fromSource<number>(src, { uid: "src", parallelism: 1 })
        .keyBy((n) => n % 2)
        .process<string>((n, ctx) => {
          seen++;
          const m = ctx.mapState<string, number>("m", { ttl: 1000 });
          const l = ctx.listState<number>("l", { ttl: 1000 });
          const v = ctx.valueState<number>("v", { ttl: 1000 });
          if (n < 4) {
            m.put(`e${n}`, n);
            l.add(n);
            if (n < 2) v.update(n);
            return;
          }
          if (n === 6 && !failed) {
            failed = true;
            throw new Error("injected");
          }
          ctx.emit(`${n} k=${ctx.key} keys=${m.keys().sort()} list=${l.get()} v=${v.value()}`);
        }, { uid: "p" })
        .sinkTo(sink, { uid: "out", parallelism: 1 });
      const advance = async (ms: number) => {
        let woke = false;
        world.sleep(ms).then(() => (woke = true));
        await world.drive(() => woke, ms + 1000);
      };
      src.allowed = 2;
      const job = await e.execute();
      await world.drive(() => seen >= 2, 60_000);
      await advance(600);
      src.allowed = 6;
      await world.drive(() => seen >= 6, 60_000);
      await advance(100); // checkpoints (every 10 ms) hold 0..5
      await advance(400); // t0 + 1100: 0, 1 expired
      src.allowed = 8; // 6 fails once: the job restores its latest checkpoint and reads 6 again
      await world.drive(() => failed, 60_000);
      await advance(200);
      await advance(600); // everything expired
      src.allowed = 10;
      const r = await world.untilDone(job);
      assert.equal(r.status, "finished", String(r.error));
      assert.ok(r.restarts >= 1, "the job restarted from a checkpoint");
      const rows = [...new Set(sink.committed)].sort();
      assert.deepEqual(rows.filter((s) => /^[6-9] /.test(s)), [
        "6 k=0 keys=e2 list=2 v=undefined",
        "7 k=1 keys=e3 list=3 v=undefined",
        "8 k=0 keys= list= v=undefined",
        "9 k=1 keys= list= v=undefined",
      ]);
    });
  }
});
