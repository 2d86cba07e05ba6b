import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";

const sorted = <T>(xs: T[]) => xs.map((x) => JSON.stringify(x)).sort();

async function run<T>(build: (env: StreamEnvironment, sink: CollectSink<T>) => void, parallelism: number): Promise<T[]> {
  const env = new StreamEnvironment({ jobName: "api", parallelism, storage: new MemoryStorage(), batchSize: 37, checkpoint: { interval: 5 } });
  const sink = new CollectSink<T>();
  build(env, sink);
  const result = await (await env.execute()).done;
  assert.equal(result.status, "finished", String(result.error));
  return sink.committed;
}

/** The same pipelines as plain loops, for comparison. */
function plainWordCount(n: number): [string, number][] {
  const counts = new Map<string, number>();
  const out: [string, number][] = [];
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) continue;
    for (const w of [`w${i % 11}`, `w${i % 5}`]) {
      const c = (counts.get(w) ?? 0) + 1;
      counts.set(w, c);
      out.push([w, c]);
    }
  }
  return out;
}

describe("dataflow API", () => {
  for (const p of [1, 2, 3, 4]) {
    test(`source → filter → flatMap → keyBy → reduce → sink at parallelism ${p} equals a plain loop`, async () => {
      const out = await run<[string, number]>((env, sink) => {
        env.fromSource(new SequenceSource(0, 3000))
          .filter((i) => i % 3 !== 0)
          .flatMap((i) => [`w${i % 11}`, `w${i % 5}`])
          .map((w): [string, number] => [w, 1])
          .keyBy((x) => x[0])
          .reduce((a, b) => [a[0], a[1] + b[1]])
          .sinkTo(sink);
      }, p);
      assert.deepEqual(sorted(out), sorted(plainWordCount(3000)));
    });
  }

  test("async map, filter and flatMap functions keep every record", async () => {
    const out = await run<number>((env, sink) => {
      env.fromSource(new SequenceSource(0, 500))
        .map(async (n) => {
          await Promise.resolve();
          return n * 2;
        })
        .filter(async (n) => n % 4 === 0)
        .flatMap(async (n) => [n, -n])
        .sinkTo(sink);
    }, 2);
    const expected: number[] = [];
    for (let n = 0; n < 500; n++) if ((n * 2) % 4 === 0) expected.push(n * 2, -n * 2);
    assert.deepEqual(out.slice().sort((a, b) => a - b), expected.sort((a, b) => a - b));
  });

  test("process() with ValueState, ListState and MapState per key", async () => {
    const out = await run<[number, number, number, number]>((env, sink) => {
      env.fromSource(new SequenceSource(0, 1000))
        .keyBy((n) => n % 4)
        .process<[number, number, number, number]>((n, ctx) => {
          const count = ctx.valueState<number>("count");
          count.update((count.value() ?? 0) + 1);
          const last = ctx.listState<number>("last3");
          last.add(n);
          if (last.get().length > 3) last.update(last.get().slice(-3));
          const byTens = ctx.mapState<number, number>("byTens");
          byTens.put(Math.floor(n / 100), (byTens.get(Math.floor(n / 100)) ?? 0) + 1);
          if (count.value() === 250) ctx.emit([ctx.key, count.value()!, last.get().length, byTens.keys().length]);
        }, { parallelism: 3 })
        .sinkTo(sink);
    }, 2);
    assert.deepEqual(sorted(out), sorted([[0, 250, 3, 10], [1, 250, 3, 10], [2, 250, 3, 10], [3, 250, 3, 10]]));
  });

  test("rebalance spreads records and broadcast copies them to every subtask", async () => {
    const out = await run<number>((env, sink) => {
      const s = env.fromSource(new SequenceSource(0, 100), { parallelism: 1 });
      s.rebalance().map((n) => n, { parallelism: 3 }).broadcast().map((n) => n, { parallelism: 2 }).sinkTo(sink, { parallelism: 2 });
    }, 1);
    assert.equal(out.length, 200);
    assert.deepEqual(sorted(out), sorted([...Array(100).keys(), ...Array(100).keys()]));
  });

  test("keys may be arrays or objects and are compared by value", async () => {
    const out = await run<[number[], number]>((env, sink) => {
      env.fromSource(new SequenceSource(0, 60))
        .map((n): [number[], number] => [[n % 2, n % 3], 1])
        .keyBy((x) => x[0])
        .reduce((a, b) => [a[0], a[1] + b[1]])
        .sinkTo(sink);
    }, 3);
    const finals = new Map<string, number>();
    for (const [k, c] of out) finals.set(JSON.stringify(k), Math.max(finals.get(JSON.stringify(k)) ?? 0, c));
    assert.equal(finals.size, 6);
    for (const c of finals.values()) assert.equal(c, 10);
  });
});
