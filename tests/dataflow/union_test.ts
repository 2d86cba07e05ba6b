import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";
import { assertExactlyOnce, FailOnce, type Pair } from "../helpers.ts";

function env(name: string, extra: Record<string, unknown> = {}): StreamEnvironment {
  return new StreamEnvironment({
    jobName: name,
    parallelism: 2,
    storage: new MemoryStorage(),
    restart: { strategy: "fixed-delay", attempts: 5, delay: 5 },
    ...extra,
  });
}

describe("DataStream.union()", () => {
  test("union() merges streams: the next operator reads every record of every input once", async () => {
    const e = env("union-merge");
    const sink = new CollectSink<number>();
    const evens = e.fromSource(new SequenceSource(0, 500), { uid: "evens-src" }).map((n) => n * 2, { uid: "evens" });
    const odds = e.fromSource(new SequenceSource(0, 500), { uid: "odds-src", parallelism: 3 }).map((n) => n * 2 + 1, { uid: "odds" });
    const tens = e.fromSource(new SequenceSource(0, 10), { uid: "tens-src", parallelism: 1 }).map((n) => 10_000 + n, { uid: "tens" });
    evens.union(odds, tens).map((n) => n, { uid: "after" }).sinkTo(sink, { uid: "out" });
    const job = await e.execute();
    assert.equal((await job.done).status, "finished");
    const expected = [...Array.from({ length: 1000 }, (_, i) => i), ...Array.from({ length: 10 }, (_, i) => 10_000 + i)];
    assert.deepEqual([...sink.committed].sort((a, b) => a - b), expected);
    const after = job.vertices().find((v) => v.name.startsWith("after"))!;
    assert.equal(job.edges().filter((edge) => edge.target === after.id).length, 3, "one edge per unioned input");
  });

  test("a keyed count over a union is exactly-once through a failure and checkpoints", async () => {
    const e = env("union-keyed", { checkpoint: { interval: 10 } });
    const fail = new FailOnce((n) => n === 3000);
    const sink = new CollectSink<Pair>();
    const a = e.fromSource(new SequenceSource(0, 4000, { ratePerSecond: 40_000 }), { uid: "a" }).map((n): Pair => {
      fail.check(n, "map a");
      return [n % 7, 1];
    }, { uid: "pair-a" });
    const b = e.fromSource(new SequenceSource(4000, 8000, { ratePerSecond: 40_000 }), { uid: "b" }).map((n): Pair => [n % 7, 1], { uid: "pair-b" });
    a.union(b).keyBy((p) => p[0]).reduce((x, y) => [x[0], x[1] + y[1]], { uid: "sum", parallelism: 3 }).sinkTo(sink, { uid: "out", parallelism: 3 });
    const job = await e.execute();
    const result = await job.done;
    assert.equal(result.status, "finished");
    assert.ok(fail.fired && result.restarts >= 1, "the failure happened and the job restarted");
    assert.ok(job.edges().every((edge) => edge.partitioning === "hash" || !edge.target.includes("sum")));
    assertExactlyOnce(sink.committed, 8000);
  });

  test("a stream unioned with itself gives each record twice (Flink's union), exactly-once through a failure", async () => {
    const e = env("union-self", { checkpoint: { interval: 10 } });
    const fail = new FailOnce((n) => n === 1500);
    const sink = new CollectSink<number>();
    const s = e.fromSource(new SequenceSource(0, 2000, { ratePerSecond: 40_000 }), { uid: "src" }).map((n) => {
      fail.check(n, "map");
      return n;
    }, { uid: "twice" });
    s.union(s, s.keyBy((n) => n % 3)).map((n) => n, { uid: "after" }).sinkTo(sink, { uid: "out" });
    const result = await (await e.execute()).done;
    assert.equal(result.status, "finished", String(result.error));
    assert.ok(fail.fired && result.restarts >= 1, "the failure happened and the job restarted");
    const expected = Array.from({ length: 2000 }, (_, n) => [n, n]).flat();
    assert.deepEqual([...sink.committed].sort((a, b) => a - b), [...expected, ...Array.from({ length: 2000 }, (_, n) => n)].sort((a, b) => a - b));
  });

  test("union of streams whose producers declare different record types is refused, naming both streams and types", () => {
    const e = env("union-types");
    const numbers = e.fromSource(new SequenceSource(0, 5), { uid: "numbers" }).map((n) => n, { name: "counts" }).returns("number");
    const words = e.fromSource(new SequenceSource(0, 5), { uid: "words" }).map((n) => `w${n}`, { name: "labels" }).returns("string");
    assert.throws(() => numbers.union(words as never), (err: unknown) =>
      err instanceof WeirError && err.code === "invalid_job" && /"counts" declares number/.test(err.message) && /"labels" declares string/.test(err.message));
    // A source declares its type with recordType; undeclared streams join anything.
    const typed = Object.assign(new SequenceSource(0, 5), { recordType: "Click" });
    const clicks = e.fromSource<number>(typed, { uid: "clicks", name: "clicks" });
    assert.throws(() => clicks.union(numbers), (err: unknown) => err instanceof WeirError && /Click/.test(err.message) && /number/.test(err.message));
    const plain = e.fromSource(new SequenceSource(0, 5), { uid: "plain" });
    assert.doesNotThrow(() => plain.union(numbers).union(e.fromSource(new SequenceSource(0, 5), { uid: "more" }).returns("number")));
    assert.throws(() => numbers.returns(""), (err: unknown) => err instanceof WeirError && err.code === "invalid_option");
  });
});
