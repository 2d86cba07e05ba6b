import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";
import { FailOnce } from "../helpers.ts";

describe("KeyedStream.connect (KeyedCoProcessFunction)", () => {
  test("a join of two keyed streams shares keyed state per key, exactly-once through a failure", async () => {
    const e = new StreamEnvironment({ jobName: "connect-join", parallelism: 2, storage: new MemoryStorage(), checkpoint: { interval: 10 }, restart: { strategy: "fixed-delay", attempts: 5, delay: 5 } });
    const fail = new FailOnce((n) => n === 700);
    const sink = new CollectSink<[number, string, number]>();
    // Orders: ids 0..999; payments: "p<id>" for the same ids, from another source.
    const orders = e.fromSource(new SequenceSource(0, 1000, { ratePerSecond: 20_000 }), { uid: "orders" }).keyBy((id) => id);
    const payments = e.fromSource(new SequenceSource(0, 1000, { ratePerSecond: 20_000 }), { uid: "payments", parallelism: 3 })
      .map((id) => `p${id}`, { uid: "to-payment" }).keyBy((p) => Number(p.slice(1)));
    orders.connect(payments).process<[number, string, number]>({
      processElement1(id, ctx) {
        fail.check(id, "join order");
        const p = ctx.valueState<string>("payment");
        if (p.value() !== undefined) ctx.emit([id, p.value()!, ctx.key]);
        else ctx.valueState<number>("order").update(id);
      },
      processElement2(pay, ctx) {
        const o = ctx.valueState<number>("order");
        if (o.value() !== undefined) ctx.emit([o.value()!, pay, ctx.key]);
        else ctx.valueState<string>("payment").update(pay);
      },
    }, { uid: "join", parallelism: 3 }).sinkTo(sink, { uid: "out" });
    const job = await e.execute();
    const result = await job.done;
    assert.equal(result.status, "finished");
    assert.ok(fail.fired && result.restarts >= 1);
    const got = [...sink.committed].sort((a, b) => a[0] - b[0]);
    assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => [i, `p${i}`, i]));
  });

  test("connect of a stream of another environment or a bad function is a WeirError naming it", () => {
    const e = new StreamEnvironment({ jobName: "connect-bad", storage: new MemoryStorage() });
    const other = new StreamEnvironment({ jobName: "connect-other", storage: new MemoryStorage() });
    const a = e.fromSource(new SequenceSource(0, 5), { uid: "a" }).keyBy((n) => n);
    const b = e.fromSource(new SequenceSource(0, 5), { uid: "b" }).map((n) => n, { name: "plain" });
    const foreign = other.fromSource(new SequenceSource(0, 5), { uid: "f" }).map((n) => n, { name: "foreign" });
    assert.throws(() => a.connect(foreign.keyBy((n) => n)), (err: unknown) => err instanceof WeirError && err.code === "invalid_job" && err.message.includes("foreign"));
    assert.throws(() => b.connect(foreign), (err: unknown) => err instanceof WeirError && err.code === "invalid_job" && err.message.includes("plain"));
    assert.throws(() => a.connect(b).process({} as never, { uid: "c" }), (err: unknown) => err instanceof WeirError && err.code === "invalid_option" && err.message.includes("c"));
    assert.throws(() => a.connect(b.keyBy((n) => n)).process({} as never, { uid: "j" }), (err: unknown) => err instanceof WeirError && err.code === "invalid_option" && err.message.includes("j"));
  });
});
