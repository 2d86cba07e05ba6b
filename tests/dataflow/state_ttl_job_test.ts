import { test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { FailOnce } from "../helpers.ts";
import { VirtualWorld } from "../virtual_world.ts";

type Out = [n: number, present: boolean, ageMs: number];
const TTL = 15;
const N = 3000;

test("keyed process with a TTL value state: an expired value is never returned, exactly-once through a failure", async () => {
  const world = new VirtualWorld();
  const fail = new FailOnce((n) => n === 1700);
  const sink = new CollectSink<Out>();
  const env = new StreamEnvironment({
    jobName: "ttl-job",
    parallelism: 2,
    storage: new MemoryStorage(),
    checkpoint: { interval: 10 },
    restart: { strategy: "fixed-delay", attempts: 5, delay: 5 },
    runtime: world.runtime(),
  });
  // Even records cycle over 4 keys (a key comes back every ~8 ms: mostly alive), odd ones
  // over 50 keys (every ~100 ms: always expired).
  env.fromSource(new SequenceSource(0, N, { ratePerSecond: 1000 }), { uid: "src" })
    .keyBy((n) => (n % 2 === 0 ? n % 8 : 100 + (n % 100)))
    .process<Out>((n, ctx) => {
      fail.check(n, "ttl process");
      const now = world.clock.now();
      // The write time kept without TTL is the oracle for what the TTL state must return.
      const written = ctx.valueState<number>("writtenAt");
      const last = ctx.valueState<number>("last", { ttl: TTL });
      const at = written.value();
      const present = last.value() !== undefined;
      ctx.emit([n, present, at === undefined ? -1 : now - at]);
      last.update(n);
      written.update(now);
    }, { uid: "ttl" })
    .sinkTo(sink, { uid: "out" });
  const job = await env.execute();
  let result: Awaited<typeof job.done> | undefined;
  job.done.then((r) => (result = r));
  await world.drive(() => result !== undefined, 600_000);
  assert.ok(result);
  assert.equal(result.status, "finished");
  assert.ok(fail.fired && result.restarts >= 1, "the failure happened and the job restarted");
  const ns = sink.committed.map((o) => o[0]).sort((a, b) => a - b);
  assert.deepEqual(ns, Array.from({ length: N }, (_, i) => i), "every record exactly once");
  let live = 0;
  let expired = 0;
  for (const [n, present, age] of sink.committed) {
    const expected = age >= 0 && age < TTL;
    assert.equal(present, expected, `record ${n}: value ${present ? "returned" : "missing"} ${age} ms after its write (ttl ${TTL})`);
    if (present) live++;
    else if (age >= 0) expired++;
  }
  assert.ok(live > 100 && expired > 100, `both cases happened (alive ${live}, expired ${expired})`);
});
