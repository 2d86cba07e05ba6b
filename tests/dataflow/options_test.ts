import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment, TumblingEventTimeWindows, WeirError } from "../../mod.ts";
import type { EnvironmentOptions } from "../../mod.ts";

function rejects(fn: () => unknown, ...mentions: string[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WeirError, `expected a WeirError, got ${e}`);
    for (const m of mentions) assert.ok(e.message.includes(m), `message "${e.message}" should mention ${m}`);
    return true;
  });
}

const env = (o: EnvironmentOptions) => new StreamEnvironment({ storage: new MemoryStorage(), ...o });

describe("invalid options", () => {
  test("a negative checkpoint interval names the option and the value", () => {
    rejects(() => env({ checkpoint: { interval: -1 } }), "checkpoint.interval", "-1");
  });
  test("an unknown checkpoint mode", () => {
    rejects(() => env({ checkpoint: { mode: "twice" as "exactly-once" } }), "checkpoint.mode", "twice");
  });
  test("an unknown checkpoint option", () => {
    rejects(() => env({ checkpoint: { intervall: 5 } as never }), "checkpoint.intervall");
  });
  test("unaligned with at-least-once", () => {
    rejects(() => env({ checkpoint: { unaligned: true, mode: "at-least-once" } }), "checkpoint.unaligned");
  });
  test("an unknown restart strategy", () => {
    rejects(() => env({ restart: { strategy: "sometimes" } as never }), "restart.strategy", "sometimes");
  });
  test("parallelism above maxParallelism", () => {
    rejects(() => env({ parallelism: 9, maxParallelism: 8 }), "parallelism", "9");
  });
  test("an operator's parallelism above maxParallelism", () => {
    const e = env({ maxParallelism: 4 });
    rejects(() => e.fromSource(new SequenceSource(0, 1)).map((n) => n, { parallelism: 5 }), "parallelism", "5");
  });
  test("two operators with one uid, before anything runs", async () => {
    const e = env({});
    e.fromSource(new SequenceSource(0, 1), { uid: "same" }).map((n) => n, { uid: "same" }).sinkTo(new CollectSink());
    await assert.rejects(e.execute(), (err: unknown) => err instanceof WeirError && err.message.includes("uid") && err.message.includes('"same"'));
  });
  test("a non-function where a function goes", () => {
    const s = env({}).fromSource(new SequenceSource(0, 1));
    rejects(() => s.map(42 as never), "map function", "42");
    rejects(() => s.keyBy("k" as never), "key selector", '"k"');
    rejects(() => s.keyBy((n) => n).reduce(null as never), "reduce function", "null");
  });
  test("an async reduce function: its Promise would be the state (it failed at every record, restart after restart)", () => {
    const keyed = env({}).fromSource(new SequenceSource(0, 1)).keyBy((n) => n % 2);
    const slow = async (a: number, b: number) => a + b;
    for (const build of [() => keyed.reduce(slow as never), () => keyed.window(TumblingEventTimeWindows.of(10)).reduce(slow as never)]) {
      assert.throws(build, (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && /must be synchronous/.test(e.message) && /process\(\) with valueState/.test(e.message));
    }
    keyed.reduce((a, b) => a + b);
  });
  test("an unknown environment option", () => {
    rejects(() => env({ paralelism: 2 } as never), "paralelism");
  });
  test("a forward edge between different parallelisms", async () => {
    const e = env({});
    e.fromSource(new SequenceSource(0, 1), { parallelism: 2 }).forward().map((n) => n, { parallelism: 3 }).sinkTo(new CollectSink());
    await assert.rejects(e.execute(), (err: unknown) => err instanceof WeirError && /forward/.test(err.message));
  });
  test("a bad SequenceSource range", () => {
    rejects(() => new SequenceSource(10, 5), "to", "5");
  });
});

describe("user function errors", () => {
  test("a throwing function fails the job with the operator's name and uid when restarts are off", async () => {
    const e = env({ restart: { strategy: "none" } });
    e.fromSource(new SequenceSource(0, 100)).map((n) => {
      if (n === 50) throw new Error("boom");
      return n;
    }, { uid: "explode", name: "Exploder" }).sinkTo(new CollectSink());
    const result = await (await e.execute()).done;
    assert.equal(result.status, "failed");
    assert.match(result.error!.message, /Exploder/);
    assert.match(result.error!.message, /explode/);
    assert.match(result.error!.message, /boom/);
  });

  test("a throwing key selector fails the job naming the keyed operator it feeds", async () => {
    const e = env({ restart: { strategy: "none" }, parallelism: 2 });
    e.fromSource(new SequenceSource(0, 100))
      .keyBy((n) => {
        if (n === 70) throw new Error("bad key");
        return n % 3;
      })
      .reduce((a, b) => a + b, { uid: "summer", name: "Summer" })
      .sinkTo(new CollectSink());
    const result = await (await e.execute()).done;
    assert.equal(result.status, "failed");
    assert.match(result.error!.message, /keyBy key selector of Summer/);
    assert.match(result.error!.message, /summer/);
    assert.match(result.error!.message, /bad key/);
  });

  test("the restart strategy decides: fixed-delay gives up after its attempts", async () => {
    const e = env({ restart: { strategy: "fixed-delay", attempts: 2, delay: 1 } });
    e.fromSource(new SequenceSource(0, 100)).map((n) => {
      if (n === 50) throw new Error("always");
      return n;
    }, { uid: "always" }).sinkTo(new CollectSink());
    const result = await (await e.execute()).done;
    assert.equal(result.status, "failed");
    assert.equal(result.restarts, 2);
  });
});
