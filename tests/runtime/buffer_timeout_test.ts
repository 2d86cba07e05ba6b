/**
 * The buffer timeout in running jobs, on virtual time (steps cost nothing, so a record's
 * wait between two vertices is exactly what the timeout made it wait): a rate-limited
 * source's records wait at most the timeout and cross in fewer, fuller batches; barriers
 * flush what waits, so a failure restored aligned or unaligned loses and duplicates nothing.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, type JobHandle, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { assertExactlyOnce, countingJob, FailOnce } from "../helpers.ts";
import { VirtualWorld } from "../virtual_world.ts";

/**
 * SequenceSource(0, 300) at 1,000 records/s (one per ms of virtual time) → keyBy → a map at
 * parallelism 2 that notes how long each record took from the source's chain to it.
 */
function waitingJob(world: VirtualWorld, options: { env?: number; operator?: number }) {
  const emittedAt = new Map<number, number>();
  const waits: number[] = [];
  const arrivals = new Set<string>();
  const env = new StreamEnvironment({
    jobName: "buffer-timeout",
    parallelism: 1,
    storage: new MemoryStorage(),
    runtime: world.runtime(),
    ...(options.env === undefined ? {} : { bufferTimeout: options.env }),
  });
  const sink = new CollectSink<number>();
  let emitted = env.fromSource(new SequenceSource(0, 300, { ratePerSecond: 1000 }), { uid: "numbers" })
    .map((x) => {
      emittedAt.set(x, world.clock.now());
      return x;
    }, { uid: "stamp" });
  if (options.operator !== undefined) emitted = emitted.setBufferTimeout(options.operator);
  emitted
    .keyBy((x) => x % 3)
    .map((x) => {
      const now = world.clock.now();
      waits.push(now - emittedAt.get(x)!);
      arrivals.add(`${x % 3 === 1 ? 1 : 0}@${now}`);
      return x;
    }, { uid: "arrive", parallelism: 2 })
    .sinkTo(sink, { uid: "out", parallelism: 2 });
  return { env, sink, waits, arrivals };
}

async function run(options: { env?: number; operator?: number }) {
  const world = new VirtualWorld();
  const j = waitingJob(world, options);
  const result = await world.untilDone(await j.env.execute());
  assert.equal(result.status, "finished", String(result.error));
  assert.deepEqual(j.sink.committed.slice().sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i), "every record once");
  return { maxWait: Math.max(...j.waits), deliveries: j.arrivals.size };
}

describe("buffer timeout", () => {
  test("bufferTimeout 0 (the default) sends a record at the end of the step that emitted it", async () => {
    const { maxWait, deliveries } = await run({});
    assert.equal(maxWait, 0);
    assert.ok(deliveries >= 250, `${deliveries} deliveries for 300 records, one per ms`);
    assert.deepEqual(await run({ env: 0 }), { maxWait, deliveries });
  });

  test("bufferTimeout 20 holds records at most 20 ms of virtual time and sends far fewer batches", async () => {
    const { maxWait, deliveries } = await run({ env: 20 });
    assert.ok(maxWait <= 20 && maxWait >= 10, `a record waited ${maxWait} ms`);
    assert.ok(deliveries <= 40, `${deliveries} deliveries for 300 records over 300 ms`);
  });

  test("setBufferTimeout() on an operator overrides the environment's", async () => {
    const overridden = await run({ env: 0, operator: 20 });
    assert.ok(overridden.maxWait <= 20 && overridden.maxWait >= 10, `a record waited ${overridden.maxWait} ms`);
    assert.ok(overridden.deliveries <= 40);
    const back = await run({ env: 20, operator: 0 });
    assert.equal(back.maxWait, 0);
  });

  test("bufferTimeout -1 sends partly filled batches only before events: end of input still delivers every record", async () => {
    const { maxWait, deliveries } = await run({ env: -1 });
    assert.ok(maxWait > 20, `records waited up to ${maxWait} ms for a full batch or the end`);
    assert.ok(deliveries <= 10, `${deliveries} deliveries`);
  });
});

const modes = [
  { name: "aligned", checkpoint: { interval: 10 } },
  { name: "unaligned", checkpoint: { interval: 10, unaligned: true } },
  { name: "aligned with timeout", checkpoint: { interval: 10, unaligned: true, alignedTimeout: 1 } },
];

for (const mode of modes) {
  describe(`buffer timeout, exactly-once (${mode.name})`, () => {
    for (const where of ["map", "reduce"] as const) {
      test(`an error in ${where} once two checkpoints completed restarts the job and loses or duplicates nothing`, async () => {
        const world = new VirtualWorld();
        const running: { job?: JobHandle } = {};
        // Injected on a condition, not at a record count: once held records crossed barriers.
        const fail = new FailOnce(() => (running.job?.checkpointStats().counts.completed ?? 0) >= 2);
        const { env, sink, n } = countingJob({
          n: 3_000,
          checkpoint: mode.checkpoint,
          bufferTimeout: 25,
          batchSize: 64,
          channelCapacity: 2,
          ratePerSecond: 20_000,
          // The keyed operator takes one record per step (async): its input queues fill.
          slowReduceMs: mode.name === "unaligned" ? 0 : undefined,
          runtime: world.runtime(),
          ...(where === "map" ? { failInMap: fail } : { failInReduce: fail }),
        });
        const job = (running.job = await env.execute());
        const result = await world.untilDone(job);
        assert.ok(fail.fired, "the failure was injected");
        assert.equal(result.status, "finished", String(result.error));
        assert.equal(result.restarts, 1);
        const stats = job.checkpointStats();
        assert.equal(stats.counts.restored, 1);
        assert.ok((stats.latest.restored?.id ?? 0) >= 2, "restored from a completed checkpoint");
        if (mode.name === "unaligned") {
          assert.ok(stats.history.some((d) => d.status === "COMPLETED" && d.persisted_data > 0), "some checkpoint persisted in-flight data");
        }
        assertExactlyOnce(sink.committed, n);
      });
    }
  });
}

describe("buffer timeout options", () => {
  test("a bad bufferTimeout is refused with invalid_option naming where it was set", () => {
    for (const bad of [-2, 1.5, Number.NaN, "5", 3_600_001]) {
      assert.throws(() => new StreamEnvironment({ bufferTimeout: bad as number }), (e: Error & { code?: string }) => e.code === "invalid_option" && /bufferTimeout/.test(e.message));
      const env = new StreamEnvironment({ storage: new MemoryStorage() });
      const numbers = env.fromSource(new SequenceSource(0, 3), { uid: "numbers" });
      assert.throws(() => numbers.setBufferTimeout(bad as number), (e: Error & { code?: string }) => e.code === "invalid_option" && /bufferTimeout of numbers/.test(e.message));
      assert.throws(() => numbers.map((x) => x, { uid: "m", bufferTimeout: bad as number }), (e: Error & { code?: string }) => e.code === "invalid_option" && /bufferTimeout of m/.test(e.message));
    }
  });

  test("setBufferTimeout() on a union is refused: it has no operator of its own", () => {
    const env = new StreamEnvironment({ storage: new MemoryStorage() });
    const a = env.fromSource(new SequenceSource(0, 3), { uid: "a" });
    const b = env.fromSource(new SequenceSource(0, 3), { uid: "b" });
    assert.throws(() => a.union(b).setBufferTimeout(5), (e: Error & { code?: string }) => e.code === "invalid_job");
  });
});
