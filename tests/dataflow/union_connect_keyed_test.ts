import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, FileSource, MemoryStorage, SequenceSource, StreamEnvironment, WatermarkStrategy, WeirError } from "../../mod.ts";
import { FailOnce } from "../helpers.ts";
import { VirtualWorld } from "../virtual_world.ts";
import { virtualEnv } from "./virtual_env.ts";

describe("union and connect (Flink's DataStream.union and connect)", () => {
  test("union of three streams, then keyBy().map(): every record once, hash-partitioned, exactly-once through a failure", async () => {
    const world = new VirtualWorld();
    const fail = new FailOnce((n) => n === 2500);
    const sink = new CollectSink<[number, number]>();
    const e = virtualEnv(world, "union-three");
    const a = e.fromSource(new SequenceSource(0, 1000, { ratePerSecond: 1000 }), { uid: "a" });
    const b = e.fromSource(new SequenceSource(1000, 2000, { ratePerSecond: 1000 }), { uid: "b" }).map((n) => n, { uid: "b-map" });
    const c = e.fromSource(new SequenceSource(2000, 3000, { ratePerSecond: 1000 }), { uid: "c" }).filter(() => true, { uid: "c-filter" });
    a.union(b, c)
      .keyBy((n) => n % 10)
      .map((n) => (fail.check(n, "keyed map"), n), { uid: "keyed-map", parallelism: 3 })
      .keyBy((n) => n % 10)
      .process<[number, number]>((n, ctx) => {
        const seen = ctx.valueState<number>("seen");
        seen.update((seen.value() ?? 0) + 1);
        ctx.emit([n, seen.value()!]);
      }, { uid: "count" })
      .sinkTo(sink, { uid: "out" });
    const result = await world.untilDone(await e.execute());
    assert.equal(result.status, "finished");
    assert.ok(fail.fired && result.restarts >= 1);
    assert.deepEqual(sink.committed.map(([n]) => n).sort((x, y) => x - y), Array.from({ length: 3000 }, (_, i) => i));
    const perKey = new Map<number, number[]>();
    for (const [n, c] of sink.committed) perKey.set(n % 10, [...(perKey.get(n % 10) ?? []), c]);
    for (const [k, cs] of perKey) assert.deepEqual(cs.sort((x, y) => x - y), Array.from({ length: 300 }, (_, i) => i + 1), `key ${k}`);
  });

  test("keyed connect shares state per key and has timers (Flink's KeyedCoProcessFunction.onTimer)", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<string>();
    const e = virtualEnv(world, "keyed-connect-timers");
    const ts = WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 10);
    const orders = e.fromSource(new SequenceSource(0, 100, { ratePerSecond: 1000 }), { uid: "orders" }).assignTimestampsAndWatermarks(ts, { uid: "orders-ts" });
    const payments = e.fromSource(new SequenceSource(0, 100, { ratePerSecond: 1000 }), { uid: "payments" }).filter((n) => n % 3 !== 0, { uid: "paid" })
      .assignTimestampsAndWatermarks(ts, { uid: "payments-ts" });
    orders.keyBy((n) => n).connect(payments.keyBy((n) => n)).process<string>({
      processElement1(_n, ctx) {
        ctx.valueState<boolean>("ordered").update(true);
        ctx.timerService.registerEventTimeTimer(ctx.timestamp! + 5000);
      },
      processElement2(_n, ctx) {
        ctx.valueState<boolean>("paid").update(true);
      },
      onTimer(_t, ctx) {
        assert.equal(ctx.timeDomain, "event");
        if (!ctx.valueState<boolean>("paid").value()) ctx.emit(`unpaid ${ctx.key}`);
      },
    }, { uid: "join" }).sinkTo(sink, { uid: "out" });
    const result = await world.untilDone(await e.execute());
    assert.equal(result.status, "finished", String(result.error));
    assert.deepEqual(sink.committed.sort(), Array.from({ length: 34 }, (_, i) => `unpaid ${i * 3}`).sort());
  });

  test("connect of two plain streams (CoProcessFunction) sees both inputs, each in order", async () => {
    const world = new VirtualWorld();
    const sink = new CollectSink<string>();
    const e = virtualEnv(world, "plain-connect", { parallelism: 1 });
    const numbers = e.fromSource(new SequenceSource(0, 50), { uid: "numbers" });
    const words = e.fromSource(new SequenceSource(0, 50), { uid: "words" }).map((n) => `w${n}`, { uid: "words-map" });
    numbers.connect(words).process<string>({
      processElement1: (n, ctx) => ctx.emit(`n${n}`),
      processElement2: (w, ctx) => ctx.emit(w),
    }, { uid: "co" }).sinkTo(sink, { uid: "out" });
    const result = await world.untilDone(await e.execute());
    assert.equal(result.status, "finished");
    assert.deepEqual(sink.committed.filter((s) => s.startsWith("n")), Array.from({ length: 50 }, (_, i) => `n${i}`));
    assert.deepEqual(sink.committed.filter((s) => s.startsWith("w")), Array.from({ length: 50 }, (_, i) => `w${i}`));
  });

  test("connect keeps each input's partitioning: a broadcast side reaches every subtask, a keyed side the one of its key", async () => {
    const world = new VirtualWorld();
    const e = virtualEnv(world, "connect-partitioned", { parallelism: 1 });
    const seen: [side: string, value: number, subtask: number][] = [];
    const sink = { createWriter: (ctx: { subtaskIndex: number }) => ({ open() {}, write(vs: [string, number][]) { for (const [s, v] of vs) seen.push([s, v, ctx.subtaskIndex]); }, snapshotState: () => [], notifyCheckpointComplete() {} }) };
    const events = e.fromSource(new SequenceSource(0, 6), { uid: "events" });
    const rules = e.fromSource(new SequenceSource(0, 2), { uid: "rules" }).broadcast();
    const keyed = e.fromSource(new SequenceSource(0, 30), { uid: "keyed" }).keyBy((n) => n % 5);
    events.connect(rules).process<[string, number]>({ processElement1: () => {}, processElement2: (r, ctx) => ctx.emit(["rule", r]) }, { uid: "with-rules", parallelism: 3 })
      .union(events.connect(keyed).process<[string, number]>({ processElement1: () => {}, processElement2: (n, ctx) => ctx.emit(["key", n % 5]) }, { uid: "with-keys", parallelism: 3 }))
      .sinkTo(sink as never, { uid: "out", parallelism: 3, disableChaining: true } as never);
    const result = await world.untilDone(await e.execute());
    assert.equal(result.status, "finished", String(result.error));
    // Each rule once in each of the 3 subtasks of the co-process (the sink is forward-connected to it).
    const rulesAt = seen.filter(([s]) => s === "rule").map(([, r, i]) => `${r}@${i}`).sort();
    assert.deepEqual(rulesAt, ["0@0", "0@1", "0@2", "1@0", "1@1", "1@2"]);
    const subtasksOfKey = new Map<number, Set<number>>();
    for (const [s, k, i] of seen) if (s === "key") subtasksOfKey.set(k, (subtasksOfKey.get(k) ?? new Set()).add(i));
    assert.equal(subtasksOfKey.size, 5);
    for (const [k, at] of subtasksOfKey) assert.equal(at.size, 1, `key ${k} at subtasks ${[...at]}`);
  });

  test("union of streams whose producers declare different types is a WeirError naming both", () => {
    const e = new StreamEnvironment({ jobName: "union-types", storage: new MemoryStorage() });
    const a = e.fromSource(new SequenceSource(0, 3), { uid: "a" }).map((n) => n, { name: "numbers" }).returns("number");
    const b = e.fromSource(new SequenceSource(0, 3), { uid: "b" }).map((n) => String(n), { name: "strings" }).returns("string");
    assert.throws(() => a.union(b as never), (err: unknown) => err instanceof WeirError && /numbers/.test(err.message) && /strings/.test(err.message) && /number/.test(err.message) && /string/.test(err.message));
  });
});

describe("record types sources declare", () => {
  test("union of a SequenceSource (numbers) and a FileSource of lines (strings) is refused, naming both; same types pass", () => {
    const e = new StreamEnvironment({ jobName: "union-source-types", storage: new MemoryStorage() });
    const numbers = e.fromSource(new SequenceSource(0, 3), { uid: "numbers" });
    const lines = e.fromSource(new FileSource("./no-such-file.txt"), { uid: "lines" });
    const rows = e.fromSource(new FileSource("./no-such-file.csv", { format: "csv" }), { uid: "rows" });
    assert.throws(() => numbers.union(lines as never), (err: unknown) => err instanceof WeirError && err.code === "invalid_job" && /numbers/.test(err.message) && /lines/.test(err.message));
    assert.throws(() => lines.union(rows as never), (err: unknown) => err instanceof WeirError && /string\[\]/.test(err.message));
    numbers.union(e.fromSource(new SequenceSource(5, 9), { uid: "more-numbers" }));
    lines.union(e.fromSource(new FileSource("./other.txt"), { uid: "more-lines" }));
  });
});
