/**
 * Records are values (issue 8, faults 1 and 6): an operator never sees another operator's
 * or receiver's later mutation of a record, unless the job sets objectReuse; keys that
 * are Maps or Sets are keys by their content, and keys weir cannot compare are refused.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, registerType, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { EnvironmentOptions } from "../../mod.ts";

function env(name: string, o: EnvironmentOptions = {}): StreamEnvironment {
  return new StreamEnvironment({ jobName: name, storage: new MemoryStorage(), restart: { strategy: "none" }, ...o });
}

type Acc = { k: number; sum: number };

/** The job: a rolling reduce that changes its accumulator in place. */
async function mutatingReduce(o: EnvironmentOptions): Promise<Map<number, number[]>> {
  const e = env("mutating-reduce", o);
  const sink = new CollectSink<Acc>();
  e.fromSource(new SequenceSource(0, 9), { uid: "n" })
    .map((n): Acc => ({ k: n % 3, sum: 1 }), { uid: "pair" })
    .keyBy((r) => r.k)
    .reduce((a, b) => {
      a.sum += b.sum;
      return a;
    }, { uid: "sum" })
    .sinkTo(sink, { uid: "out" });
  const r = await (await e.execute()).done;
  assert.equal(r.status, "finished", String(r.error));
  const byKey = new Map<number, number[]>();
  for (const a of sink.committed) byKey.set(a.k, [...(byKey.get(a.k) ?? []), a.sum]);
  return byKey;
}

describe("records are values", () => {
  test("a rolling reduce that mutates its accumulator emits each running value (1, 2, 3 per key)", async () => {
    const byKey = await mutatingReduce({});
    assert.deepEqual([...byKey.entries()].sort(), [[0, [1, 2, 3]], [1, [1, 2, 3]], [2, [1, 2, 3]]]);
  });

  test("with objectReuse: true records pass by reference, as in Flink (the same reduce shows the last value)", async () => {
    const byKey = await mutatingReduce({ objectReuse: true });
    for (const sums of byKey.values()) assert.deepEqual(sums, [3, 3, 3]);
  });

  test("a map that refills one object per record hands every chained successor its own copy", async () => {
    const e = env("refill");
    const sink = new CollectSink<{ n: number }>();
    const shared = { n: -1 };
    e.fromSource(new SequenceSource(0, 10), { uid: "n" })
      .map((n) => {
        shared.n = n;
        return shared;
      }, { uid: "refill" })
      .sinkTo(sink, { uid: "out" });
    await (await e.execute()).done;
    assert.deepEqual(sink.committed.map((r) => r.n), [...Array(10).keys()]);
  });

  test("a broadcast receiver never sees another receiver's mutation", async () => {
    const e = env("broadcast", { parallelism: 1 });
    const sink = new CollectSink<number>();
    e.fromSource(new SequenceSource(0, 50), { uid: "n" })
      .map((n) => ({ n, visits: 0 }), { uid: "wrap" })
      .broadcast()
      .map((r) => ++r.visits, { uid: "visit", parallelism: 3 })
      .sinkTo(sink, { uid: "out", parallelism: 3 });
    await (await e.execute()).done;
    assert.equal(sink.committed.length, 150);
    assert.ok(sink.committed.every((v) => v === 1), `visits seen: ${[...new Set(sink.committed)]}`);
  });

  test("two operators reading one stream each get records of their own", async () => {
    const e = env("two-readers", { parallelism: 1 });
    const a = new CollectSink<number>();
    const b = new CollectSink<number>();
    const wrapped = e.fromSource(new SequenceSource(0, 50), { uid: "n" }).map((n) => ({ n }), { uid: "wrap" });
    wrapped.rebalance().map((r) => (r.n += 1000), { uid: "a", parallelism: 2 }).sinkTo(a, { uid: "out-a", parallelism: 2 });
    wrapped.rebalance().map((r) => (r.n += 1000), { uid: "b", parallelism: 2 }).sinkTo(b, { uid: "out-b", parallelism: 2 });
    await (await e.execute()).done;
    const expected = [...Array(50).keys()].map((n) => n + 1000);
    assert.deepEqual(a.committed.slice().sort((x, y) => x - y), expected);
    assert.deepEqual(b.committed.slice().sort((x, y) => x - y), expected);
  });

  test("a record weir cannot copy fails the job with an error naming its class", async () => {
    class Opaque {
      #secret = 1;
      get secret(): number {
        return this.#secret;
      }
    }
    const e = env("opaque");
    e.fromSource(new SequenceSource(0, 5), { uid: "n" })
      .map(() => new Opaque(), { uid: "wrap" })
      .sinkTo(new CollectSink(), { uid: "out" });
    const r = await (await e.execute()).done;
    assert.equal(r.status, "failed");
    assert.match(String(r.error), /class Opaque/);
    assert.match(String(r.error), /registerType/);
  });

  test("a registered class flows between operators as itself, private fields and all", async () => {
    class Temperature {
      #celsius: number;
      constructor(celsius: number) {
        this.#celsius = celsius;
      }
      get celsius(): number {
        return this.#celsius;
      }
    }
    registerType(Temperature, { tag: 41_200, encode: (t) => t.celsius, decode: (c) => new Temperature(c as number) });
    const e = env("registered", { parallelism: 2 });
    const sink = new CollectSink<number>();
    e.fromSource(new SequenceSource(0, 20), { uid: "n" })
      .map((n) => new Temperature(n), { uid: "wrap" })
      .keyBy((t) => t.celsius % 4)
      .process<number>((t, ctx) => {
        if (!(t instanceof Temperature)) throw new Error(`lost its class: ${JSON.stringify(t)}`);
        ctx.emit(t.celsius);
      }, { uid: "check" })
      .sinkTo(sink, { uid: "out" });
    const r = await (await e.execute()).done;
    assert.equal(r.status, "finished", String(r.error));
    assert.deepEqual(sink.committed.slice().sort((x, y) => x - y), [...Array(20).keys()]);
  });
});

describe("keys are values", () => {
  for (const [what, keyOf] of [
    ["Set", (n: number) => new Set([n % 3])],
    ["Map", (n: number) => new Map([["mod", n % 3]])],
    ["Date", (n: number) => new Date(n % 3)],
  ] as const) {
    test(`${what} keys count under one key per content, not one key for all`, async () => {
      const e = env(`key-${what}`, { parallelism: 2 });
      const sink = new CollectSink<[string, number]>();
      e.fromSource(new SequenceSource(1, 31), { uid: "n" })
        .keyBy(keyOf as (n: number) => unknown)
        .process<[string, number]>((n, ctx) => {
          const count = ctx.valueState<number>("count");
          count.update((count.value() ?? 0) + 1);
          ctx.emit([String(n % 3), count.value()!]);
        }, { uid: "count" })
        .sinkTo(sink, { uid: "out" });
      const r = await (await e.execute()).done;
      assert.equal(r.status, "finished", String(r.error));
      const max = new Map<string, number>();
      for (const [k, c] of sink.committed) max.set(k, Math.max(max.get(k) ?? 0, c));
      assert.deepEqual([...max.entries()].sort(), [["0", 10], ["1", 10], ["2", 10]]);
    });
  }

  test("a key that is an unregistered class instance fails the job naming the key's type", async () => {
    class Customer {
      #id: number;
      constructor(id: number) {
        this.#id = id;
      }
      get id(): number {
        return this.#id;
      }
    }
    const e = env("class-key", { parallelism: 2 });
    e.fromSource(new SequenceSource(0, 30), { uid: "n" })
      .keyBy((n) => new Customer(n % 3))
      .reduce((a, b) => a + b, { uid: "sum" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const r = await (await e.execute()).done;
    assert.equal(r.status, "failed");
    assert.match(String(r.error), /returned class Customer/);
    assert.equal((r.error as { cause?: { code?: string } })?.cause?.code ?? (r.error as { code?: string }).code, "invalid_key");
  });
});

describe("the objectReuse option", () => {
  test("a value other than true or false is an invalid_option naming it", () => {
    assert.throws(() => env("bad", { objectReuse: "yes" as never }), /objectReuse must be true or false, got "yes"/);
  });
});
