/**
 * A source that ended holds back no watermark downstream (Flink's MAX_WATERMARK from a
 * finished source): after a union or connect with an input that ended, event time follows
 * the inputs still running, long before the job's last source ends.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, type Source, type SourceReader, StreamEnvironment, WatermarkStrategy } from "../../mod.ts";

type Ev = { k: number; at: number };

/** Records at 0, 100, 200… that stop at `gate` until `release()` or `pollsMax` empty polls (so a test never hangs). */
class GatedSource implements Source<Ev> {
  released = false;
  releasedByTimeout = false;
  constructor(readonly count: number, readonly gate: number, readonly pollsMax = 3000) {}
  createReader(): SourceReader {
    let next = 0;
    let waited = 0;
    return {
      open: (_ctx, restored) => void (next = (restored?.[0] as number | undefined) ?? 0),
      poll: () => {
        if (next >= this.count) return null;
        if (next >= this.gate && !this.released) {
          if (++waited < this.pollsMax) return [];
          this.releasedByTimeout = true;
        }
        return [{ k: next % 2, at: 100 * next++ }];
      },
      waitMs: () => 1,
      snapshotState: () => [next],
    } as SourceReader;
  }
}

describe("an input that ended", () => {
  for (const how of ["union", "connect", "union, its assigner after an operator of its own"] as const) {
    test(`holds back no event time after a ${how}: a timer fires while the other input still runs`, async () => {
      const e = new StreamEnvironment({ jobName: `ended-${how.split(",")[0]}`, parallelism: 1, storage: new MemoryStorage() });
      const gated = new GatedSource(30, 15);
      const strategy = WatermarkStrategy.forBoundedOutOfOrderness<Ev>(0).withTimestampAssigner((x) => x.at);
      const a = e.fromSource<Ev>(gated, { uid: "a" }).assignTimestampsAndWatermarks(strategy, { uid: "aw" });
      // Ends at once: its one record, then nothing.
      // Unchained, the assigner runs in a subtask with channel inputs: it passes the end of event time on (Flink's MAX_WATERMARK).
      const b = e.fromSource(new SequenceSource(0, 1), { uid: "b" })
        .map((): Ev => ({ k: 0, at: 0 }), { uid: "bm", disableChaining: how.includes("assigner") })
        .assignTimestampsAndWatermarks(strategy, { uid: "bw" });
      const firedWhileGated: boolean[] = [];
      const onTimer = (ts: number, ctx: { emit(v: number): void }) => {
        firedWhileGated.push(!gated.released && !gated.releasedByTimeout);
        gated.released = true;
        ctx.emit(ts);
      };
      const register = (v: Ev, ctx: { timerService: { registerEventTimeTimer(t: number): void } }) => {
        if (v.at === 300) ctx.timerService.registerEventTimeTimer(1000);
      };
      const out = new CollectSink<number>();
      const keyed = how !== "connect"
        ? a.union(b).keyBy((x) => x.k).process<number>({ processElement: register, onTimer }, { uid: "p" })
        : a.keyBy((x) => x.k).connect(b.keyBy((x) => x.k)).process<number>({ processElement1: register, processElement2() {}, onTimer }, { uid: "p" });
      keyed.sinkTo(out, { uid: "out" });
      const r = await (await e.execute()).done;
      assert.equal(r.status, "finished", String(r.error));
      assert.deepEqual(out.committed, [1000]);
      // The watermark of input a alone (1400 once records up to 1400 came) fired it; b ended long before.
      assert.deepEqual(firedWhileGated, [true]);
    });
  }
});
