import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { sleep } from "../helpers.ts";

const N = 3000;
type Out = [key: string, count: number, lastThree: number[], buckets: [number, number][]];

/** A keyed process with ValueState, ListState and MapState; object keys on purpose. */
function job(parallelism: number, sink: CollectSink<Out>, restoreFrom?: string) {
  const env = new StreamEnvironment({ jobName: "rescale-state", storage: new MemoryStorage(), parallelism, batchSize: 16, restoreFrom });
  // One source subtask keeps each key's order the same in every run; the keyed operator rescales.
  env.fromSource(new SequenceSource(0, N, { ratePerSecond: 20_000 }), { uid: "n", parallelism: 1 })
    .keyBy((n) => ({ mod: n % 5 }))
    .process<Out>((n, ctx) => {
      const count = ctx.valueState<number>("count");
      count.update((count.value() ?? 0) + 1);
      const last = ctx.listState<number>("last");
      last.add(n);
      if (last.get().length > 3) last.update(last.get().slice(-3));
      const buckets = ctx.mapState<[number], number>("buckets");
      const b: [number] = [Math.floor(n / 1000)];
      buckets.put(b, (buckets.get(b) ?? 0) + 1);
      if (count.value()! % 100 === 0) {
        ctx.emit([JSON.stringify(ctx.key), count.value()!, last.get(), buckets.entries().map(([k, v]) => [k[0], v] as [number, number]).sort()]);
      }
    }, { uid: "stateful" })
    .sinkTo(sink, { uid: "out", parallelism: 1 });
  return env;
}

describe("rescaling keyed state", () => {
  test("Value-, List- and MapState with object keys survive a savepoint restored at another parallelism", async () => {
    const reference = new CollectSink<Out>();
    await (await job(1, reference).execute()).done;

    const sink = new CollectSink<Out>();
    const first = await job(3, sink).execute();
    await sleep(60);
    const savepoint = await first.stop({ savepoint: mkdtempSync(join(tmpdir(), "weir-rs-")) });
    assert.ok(sink.committed.length < reference.committed.length, "stopped midway");
    const second = await job(2, sink, savepoint).execute();
    assert.equal((await second.done).status, "finished");

    const norm = (xs: Out[]) => xs.map((x) => JSON.stringify(x)).sort();
    assert.deepEqual(norm(sink.committed), norm(reference.committed));
  });
});
