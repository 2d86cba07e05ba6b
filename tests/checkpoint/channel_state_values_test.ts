/**
 * Records replayed from channel state keep their class (issue 8, fault 7): an in-flight
 * record of a registered class comes back from an unaligned checkpoint as that class; one
 * of an unregistered class declines the checkpoint with a reason naming it.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, registerType, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { EnvironmentOptions, JobHandle } from "../../mod.ts";
import { FailOnce, sleep, until } from "../helpers.ts";

class Reading {
  #value: number;
  constructor(value: number) {
    this.#value = value;
  }
  get value(): number {
    return this.#value;
  }
}
registerType(Reading, { tag: 41_300, encode: (r) => r.value, decode: (v) => new Reading(v as number) });

class Unregistered {
  constructor(readonly value: number) {}
}

const N = 800;

/** Records of class `Type` wait in front of a slow keyed operator, so barriers overtake them. */
function slowJob<T extends { value: number }>(make: (n: number) => T, o: EnvironmentOptions, lost: string[], fail?: FailOnce) {
  const env = new StreamEnvironment({
    jobName: "classes-in-flight", parallelism: 2, storage: new MemoryStorage(), batchSize: 16, channelCapacity: 4,
    restart: { strategy: "fixed-delay", attempts: 3, delay: 1 },
    ...o,
    checkpoint: { unaligned: true, tolerableFailures: 100 },
  });
  const sink = new CollectSink<number>();
  env.fromSource(new SequenceSource(0, N), { uid: "numbers" })
    .map(make, { uid: "wrap" })
    .keyBy((r) => r.value % 5)
    .process<number>(async (r, ctx) => {
      await sleep(1);
      if (!(r instanceof Reading) && !(r instanceof Unregistered)) lost.push(JSON.stringify(r));
      const count = ctx.valueState<number>("count");
      const next = (count.value() ?? 0) + 1;
      fail?.check(next, "process");
      count.update(next);
      ctx.emit(r.value);
    }, { uid: "slow", parallelism: 2 })
    .sinkTo(sink, { uid: "out", parallelism: 2 });
  return { env, sink };
}

async function checkpointsUntil(job: JobHandle, stop: () => boolean): Promise<void> {
  while (!stop() && job.status !== "FINISHED") {
    await job.triggerCheckpoint();
    await sleep(15);
  }
}

describe("classes in channel state", () => {
  test("in-flight records of a registered class are replayed after a failure as that class", async () => {
    const lost: string[] = [];
    const fail = new FailOnce((c) => c === 120);
    const { env, sink } = slowJob((n) => new Reading(n), {}, lost, fail);
    const job = await env.execute();
    await checkpointsUntil(job, () => fail.fired);
    const result = await job.done;
    assert.equal(result.status, "finished", String(result.error));
    assert.equal(result.restarts, 1);
    const restored = job.checkpointStats().latest.restored!.id;
    assert.ok(job.checkpointDetails(restored)!.persisted_data > 0, "the restored checkpoint held in-flight records");
    assert.deepEqual(lost, [], "no record came back as a plain object");
    assert.deepEqual(sink.committed.slice().sort((a, b) => a - b), [...Array(N).keys()]);
  });

  test("in-flight records of an unregistered class decline the checkpoint with a reason naming the class", async () => {
    const lost: string[] = [];
    // Without object reuse such a record could not even be copied; with it, it flows.
    const { env, sink } = slowJob((n) => new Unregistered(n), { objectReuse: true }, lost);
    const job = await env.execute();
    // Records in flight for the barrier to overtake first, not a fixed 30 ms (a loaded machine may not have queued any yet).
    await until("batches queued in front of the slow operator", () => job.vertices().find((v) => v.name.startsWith("slow"))!.subtasks.some((s) => s.queuedBatches >= 2));
    const d = await job.triggerCheckpoint();
    assert.equal(d.status, "FAILED");
    assert.equal(d.failure_reason, "checkpoint_declined");
    assert.match(d.failure_message!, /class Unregistered/);
    const result = await job.done;
    assert.equal(result.status, "finished", String(result.error));
    assert.equal(sink.committed.length, N);
  });
});
