import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileStorage, MemoryStorage, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";
import { FailOnce, until } from "../helpers.ts";

/** Polls until cond holds (a hang guard, not a speed check). */
type Out = [n: number, rules: number];

/** Events keyed by n % 50 (keys on every subtask) see how many rules their subtask's broadcast state holds. */
function build(env: StreamEnvironment, rules: SequenceSource, events: SequenceSource, sink: CollectSink<Out>, fail?: FailOnce) {
  const ruleStream = env.fromSource(rules, { uid: "rules" }).broadcast();
  env.fromSource(events, { uid: "events" })
    .keyBy((n) => n % 50)
    .connect(ruleStream)
    .process<Out>({
      processBroadcastElement(rule, ctx) {
        ctx.broadcastState<number, string>("rules").put(rule, `rule-${rule}`);
      },
      processElement(n, ctx) {
        fail?.check(n, "processElement");
        const seen = ctx.valueState<number>("seen");
        seen.update((seen.value() ?? 0) + 1);
        ctx.emit([n, ctx.broadcastState<number, string>("rules").keys().length]);
      },
    }, { uid: "apply-rules" })
    .sinkTo(sink, { uid: "out" });
}

describe("broadcast state pattern (keyed.connect(stream.broadcast()))", () => {
  test("every subtask sees every broadcast record; exactly-once through a failure", async () => {
    const env = new StreamEnvironment({ jobName: "bcast", parallelism: 3, storage: new MemoryStorage(), checkpoint: { interval: 10 }, restart: { strategy: "fixed-delay", attempts: 5, delay: 5 } });
    const sink = new CollectSink<Out>();
    const fail = new FailOnce((n) => n === 2500);
    build(env, new SequenceSource(0, 4), new SequenceSource(0, 3000, { ratePerSecond: 6000 }), sink, fail);
    const result = await (await env.execute()).done;
    assert.equal(result.status, "finished");
    assert.ok(fail.fired && result.restarts >= 1);
    const got = [...sink.committed].sort((a, b) => a[0] - b[0]);
    assert.deepEqual(got.map(([n]) => n), Array.from({ length: 3000 }, (_, i) => i), "every event exactly once");
    // Every key (so every subtask) ends up seeing all four rules.
    for (let k = 0; k < 50; k++) assert.equal(got.filter(([n]) => n % 50 === k).at(-1)![1], 4, `key ${k}`);
  });

  test("broadcast state is in savepoints and every subtask gets it back at another parallelism", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-bcast-"));
    try {
      const first = new CollectSink<Out>();
      const env1 = new StreamEnvironment({ jobName: "bcast-sp", parallelism: 2, storage: new FileStorage(join(dir, "store")), checkpoint: { interval: 20 } });
      build(env1, new SequenceSource(0, 4), new SequenceSource(0, 4000, { ratePerSecond: 2000 }), first);
      const job1 = await env1.execute();
      // All four rules have reached both subtasks once events of every key report them.
      await until("every number seen with the fourth rule set", () => new Set(first.committed.filter(([, r]) => r === 4).map(([n]) => n % 50)).size === 50);
      const savepoint = await job1.stop({ savepoint: join(dir, "sp") });

      // The rules source is exhausted in the savepoint: only the restored broadcast state knows them.
      const second = new CollectSink<Out>();
      const env2 = new StreamEnvironment({ jobName: "bcast-sp2", parallelism: 3, storage: new FileStorage(join(dir, "store2")), restoreFrom: savepoint });
      build(env2, new SequenceSource(0, 4), new SequenceSource(0, 4000), second);
      const result = await (await env2.execute()).done;
      assert.equal(result.status, "finished");
      assert.ok(second.committed.length > 0, "the restored job processed events");
      assert.deepEqual(second.committed.filter(([, r]) => r !== 4), [], "every subtask of the new parallelism holds all four rules");
      const all = [...first.committed, ...second.committed].map(([n]) => n).sort((a, b) => a - b);
      assert.deepEqual(all, Array.from({ length: 4000 }, (_, i) => i), "every event exactly once across the two runs");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("writing broadcast state from processElement is a WeirError; a bad function is refused", async () => {
    const env = new StreamEnvironment({ jobName: "bcast-bad", parallelism: 1, storage: new MemoryStorage(), restart: { strategy: "none" } });
    const rules = env.fromSource(new SequenceSource(0, 1), { uid: "rules" }).broadcast();
    const keyed = env.fromSource(new SequenceSource(0, 10), { uid: "events" }).keyBy((n) => n % 2);
    assert.throws(() => keyed.connect(rules).process({ processElement() {} } as never, { uid: "x" }), (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && e.message.includes("processBroadcastElement"));
    keyed.connect(rules).process<number>({
      processBroadcastElement() {},
      processElement: (n, ctx) => ctx.broadcastState<number, number>("rules").put(n, n),
    }, { uid: "writer" }).sinkTo(new CollectSink<number>(), { uid: "out" });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "failed");
    let cause: unknown = result.error;
    while (cause instanceof Error && !(cause instanceof WeirError && cause.code === "invalid_state_access")) cause = cause.cause;
    assert.ok(cause instanceof WeirError && /read-only/.test(cause.message), String(result.error));
  });
});
