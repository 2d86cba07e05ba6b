import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, StreamEnvironment } from "../../mod.ts";
import type { JobHandle } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { VirtualWorld } from "../virtual_world.ts";

/**
 * Flink's cleanup in full snapshot, seen from a job: expired TTL state stops counting in
 * state_size, at once in a full checkpoint, in an incremental one from its next base.
 */
describe("expired TTL state leaves the checkpoints of a job", () => {
  const cases = [["heap", false], ["sqlite", false], ["heap", true], ["sqlite", true]] as const;
  for (const [backend, incremental] of cases) {
    for (const kind of ["value", "list", "map"] as const) {
      test(`${kind} state, ${backend} backend${incremental ? ", incremental (at its next base)" : ""}: state_size falls once the entries expired, none read again`, async () => {
        const world = new VirtualWorld();
        const src = new GatedSequence(2000);
        src.allowed = 1000;
        let seen = 0;
        const e = new StreamEnvironment({
          jobName: `ttl-snapshot-${backend}-${incremental}-${kind}`, parallelism: 2, storage: new MemoryStorage(),
          restart: { strategy: "none" }, runtime: world.runtime(), state: { backend, incremental },
        });
        e.fromSource<number>(src, { uid: "src", parallelism: 1 })
          .keyBy((n) => n)
          .process<number>((n, ctx) => {
            seen++;
            const v = "x".repeat(500);
            if (kind === "value") ctx.valueState<string>("v", { ttl: 100 }).update(v);
            else if (kind === "list") ctx.listState<string>("l", { ttl: 100 }).add(v);
            else ctx.mapState<number, string>("m", { ttl: 100 }).put(n, v);
          }, { uid: "p" })
          .sinkTo(new CollectSink(), { uid: "out" });
        const job = await e.execute();
        await world.drive(() => seen >= 1000, 60_000);
        const checkpoint = async (j: JobHandle) => {
          const d = (await world.settle(j.triggerCheckpoint(), 60_000))?.value;
          assert.equal(d!.status, "COMPLETED");
          return d!.state_size;
        };
        const live = await checkpoint(job);
        assert.ok(live > 500_000, `1000 live entries of 500 bytes: ${live}`);
        let woke = false;
        world.sleep(200).then(() => (woke = true));
        await world.drive(() => woke, 1000);
        const sizes = [];
        // A full snapshot drops them at once; an incremental one from its next base, which
        // both backends materialize between checkpoints once the chain holds 8 changelogs
        // (and the checkpoint after it lands extends). The turns of a materialization run
        // between checkpoints: 20 virtual ms of them before each checkpoint, where the
        // checkpoints would otherwise follow each other at once.
        for (let i = 0; i < (incremental ? 12 : 1); i++) {
          if (incremental) await world.drive(() => false, 20);
          sizes.push(await checkpoint(job));
        }
        assert.ok(Math.min(...sizes) < live / 10, `state_size ${live} with live entries, then ${sizes.join(", ")}`);
        src.allowed = 2000;
        const r = await world.untilDone(job);
        assert.equal(r.status, "finished", String(r.error));
      });
    }
  }
});
