import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { sleep } from "../helpers.ts";

const N = 6000;
type Out = [key: string, count: number, lastThree: number[], buckets: [number, number][]];

/** A keyed process with ValueState, ListState and MapState on object keys, on the given backend. */
function job(backend: "heap" | "sqlite", parallelism: number, sink: CollectSink<Out>, seen: { n: number }, restoreFrom?: string) {
  const env = new StreamEnvironment({ jobName: "sqlite-savepoint", storage: new MemoryStorage(), parallelism, batchSize: 16, restoreFrom, state: { backend } });
  env.fromSource(new SequenceSource(0, N, { ratePerSecond: 20_000 }), { uid: "n", parallelism: 1 })
    .keyBy((n) => ({ mod: n % 7 }))
    .process<Out>((n, ctx) => {
      seen.n++;
      const count = ctx.valueState<number>("count");
      count.update((count.value() ?? 0) + 1);
      const last = ctx.listState<number>("last");
      last.add(n);
      if (last.get().length > 3) last.update(last.get().slice(-3));
      const buckets = ctx.mapState<[number], number>("buckets");
      const b: [number] = [Math.floor(n / 1000)];
      buckets.put(b, (buckets.get(b) ?? 0) + 1);
      if (count.value()! % 50 === 0) {
        ctx.emit([JSON.stringify(ctx.key), count.value()!, last.get(), buckets.entries().map(([k, v]) => [k[0], v] as [number, number]).sort()]);
      }
    }, { uid: "stateful" })
    .sinkTo(sink, { uid: "out", parallelism: 1 });
  return env;
}

/** Runs until the keyed operator has seen `atLeast` records in this run, then stops with a savepoint. */
async function runUntil(env: StreamEnvironment, seen: { n: number }, atLeast: number): Promise<string> {
  const running = await env.execute();
  while (seen.n < atLeast) await sleep(5);
  return await running.stop({ savepoint: mkdtempSync(join(tmpdir(), "weir-sqlite-sp-")) });
}

describe("savepoints between the heap and sqlite backends", () => {
  test("heap (p=3) → sqlite (p=2) → heap (p=1): every count, list and map carries over exactly", async () => {
    const reference = new CollectSink<Out>();
    await (await job("heap", 1, reference, { n: 0 }).execute()).done;

    const sink = new CollectSink<Out>();
    const heapRun = { n: 0 };
    const fromHeap = await runUntil(job("heap", 3, sink, heapRun), heapRun, 1000);
    const sqliteRun = { n: 0 };
    const fromSqlite = await runUntil(job("sqlite", 2, sink, sqliteRun, fromHeap), sqliteRun, 1000);
    assert.ok(heapRun.n + sqliteRun.n < N, "both runs stopped before the end");
    const last = await job("heap", 1, sink, { n: 0 }, fromSqlite).execute();
    assert.equal((await last.done).status, "finished");

    const norm = (xs: Out[]) => xs.map((x) => JSON.stringify(x)).sort();
    assert.deepEqual(norm(sink.committed), norm(reference.committed));
  });

  test("sqlite (p=2) → heap (p=3) → sqlite (p=1)", async () => {
    const reference = new CollectSink<Out>();
    await (await job("heap", 1, reference, { n: 0 }).execute()).done;

    const sink = new CollectSink<Out>();
    const a = { n: 0 };
    const fromSqlite = await runUntil(job("sqlite", 2, sink, a), a, 1500);
    const b = { n: 0 };
    const fromHeap = await runUntil(job("heap", 3, sink, b, fromSqlite), b, 1500);
    const last = await job("sqlite", 1, sink, { n: 0 }, fromHeap).execute();
    assert.equal((await last.done).status, "finished");
    const norm = (xs: Out[]) => xs.map((x) => JSON.stringify(x)).sort();
    assert.deepEqual(norm(sink.committed), norm(reference.committed));
  });
});
