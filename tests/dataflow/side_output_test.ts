import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, OutputTag, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";
import { FailOnce } from "../helpers.ts";

function env(name: string, extra: Record<string, unknown> = {}): StreamEnvironment {
  return new StreamEnvironment({
    jobName: name,
    parallelism: 2,
    storage: new MemoryStorage(),
    restart: { strategy: "fixed-delay", attempts: 5, delay: 5 },
    ...extra,
  });
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("side outputs (OutputTag, ctx.output, getSideOutput)", () => {
  for (const disableChaining of [false, true]) {
    test(`main and side outputs are exactly-once through a failure (process ${disableChaining ? "not " : ""}chained)`, async () => {
      const e = env(`side-${disableChaining}`, { checkpoint: { interval: 10 } });
      const fail = new FailOnce((n) => n === 2500);
      const odd = new OutputTag<string>("odd");
      const big = new OutputTag<number>("big");
      const unread = new OutputTag<number>("unread");
      const main = new CollectSink<number>();
      const odds = new CollectSink<string>();
      const bigs = new CollectSink<[number, number]>();
      const evens = e.fromSource(new SequenceSource(0, 4000, { ratePerSecond: 40_000 }), { uid: "src" })
        .keyBy((n) => n % 5)
        .process<number>((n, ctx) => {
          fail.check(n, "side process");
          const seen = ctx.valueState<number>("seen");
          seen.update((seen.value() ?? 0) + 1);
          if (n % 2 === 0) ctx.emit(n);
          else ctx.output(odd, `o${n}`);
          if (n >= 3990) ctx.output(big, n);
          ctx.output(unread, n);
        }, { uid: "split", disableChaining });
      evens.keyBy((n) => n % 3).map((n) => n, { uid: "after-main" }).sinkTo(main, { uid: "main-out" });
      evens.getSideOutput(odd).sinkTo(odds, { uid: "odd-out" });
      evens.getSideOutput(big).keyBy((n) => n % 2).map((n): [number, number] => [n, n % 2], { uid: "big-keyed" }).sinkTo(bigs, { uid: "big-out" });
      const job = await e.execute();
      const result = await job.done;
      assert.equal(result.status, "finished");
      assert.ok(fail.fired && result.restarts >= 1, "the failure happened and the job restarted");
      assert.deepEqual([...main.committed].sort((a, b) => a - b), range(0, 4000).filter((n) => n % 2 === 0));
      assert.deepEqual([...odds.committed].sort(), range(0, 4000).filter((n) => n % 2 === 1).map((n) => `o${n}`).sort());
      assert.deepEqual([...bigs.committed].sort((a, b) => a[0] - b[0]), range(3990, 4000).map((n) => [n, n % 2]));
    });
  }

  test("a side output read alone runs chained into the emitting operator's subtask", async () => {
    const e = env("side-chained", { checkpoint: { interval: 10 } });
    const fail = new FailOnce((n) => n === 1500);
    const odd = new OutputTag<number>("odd");
    const odds = new CollectSink<number>();
    e.fromSource(new SequenceSource(0, 2000, { ratePerSecond: 40_000 }), { uid: "src" })
      .keyBy((n) => n % 4)
      .process<number>((n, ctx) => {
        fail.check(n, "side process");
        if (n % 2 === 1) ctx.output(odd, n);
        else ctx.emit(n);
      }, { uid: "split" })
      .getSideOutput(odd).sinkTo(odds, { uid: "odd-out" });
    const job = await e.execute();
    const result = await job.done;
    assert.equal(result.status, "finished");
    assert.ok(fail.fired && result.restarts >= 1);
    assert.ok(job.vertices().some((v) => v.name.includes("split") && v.name.includes("sideOutput")), `chained: ${job.vertices().map((v) => v.name).join(", ")}`);
    assert.deepEqual([...odds.committed].sort((a, b) => a - b), range(0, 2000).filter((n) => n % 2 === 1));
  });

  test("bad tags are WeirErrors naming the value", () => {
    assert.throws(() => new OutputTag(""), (err: unknown) => err instanceof WeirError && err.code === "invalid_option" && err.message.includes('""'));
    assert.throws(() => new OutputTag(undefined as unknown as string), (err: unknown) => err instanceof WeirError && err.code === "invalid_option");
    const e = env("side-bad");
    const s = e.fromSource(new SequenceSource(0, 5), { uid: "s" });
    assert.throws(() => s.map((n) => n).getSideOutput("late" as unknown as OutputTag<number>), (err: unknown) => err instanceof WeirError && err.message.includes("late"));
    assert.throws(() => s.getSideOutput(new OutputTag<number>("x")), (err: unknown) => err instanceof WeirError && err.code === "invalid_job");
  });

  test("ctx.output with something that is not a tag fails the job naming the operator", async () => {
    const e = env("side-badctx", { restart: { strategy: "none" } });
    e.fromSource(new SequenceSource(0, 5), { uid: "s" }).keyBy((n) => n).process<number>((n, ctx) => {
      ctx.output("late" as unknown as OutputTag<number>, n);
    }, { uid: "p" }).sinkTo(new CollectSink<number>(), { uid: "o" });
    const job = await e.execute();
    const result = await job.done;
    assert.equal(result.status, "failed");
    assert.match(String(result.error?.message ?? result.error), /ctx\.output in "process" needs an OutputTag, got late/);
  });
});
