import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { CheckpointStatsSnapshot } from "../../mod.ts";
import { assertExactlyOnce, countingJob, FailOnce } from "../helpers.ts";

function assertRestoredFromCheckpoint(stats: CheckpointStatsSnapshot): void {
  assert.equal(stats.counts.restored, 1, "restored once");
  assert.ok((stats.latest.restored?.id ?? 0) >= 1, "restored from a completed checkpoint, not from scratch");
}

const modes = [
  { name: "aligned", checkpoint: { interval: 20 } },
  { name: "unaligned", checkpoint: { interval: 20, unaligned: true } },
  { name: "aligned with timeout", checkpoint: { interval: 20, unaligned: true, alignedTimeout: 2 } },
];

for (const mode of modes) {
  describe(`exactly-once (${mode.name})`, () => {
    test("a failure-free run commits every running count once", async () => {
      const { env, sink, n } = countingJob({ checkpoint: mode.checkpoint });
      const result = await (await env.execute()).done;
      assert.equal(result.status, "finished");
      assertExactlyOnce(sink.committed, n);
    });

    test("an error thrown once in map restarts the job and loses or duplicates nothing", async () => {
      const fail = new FailOnce((x) => x >= 12_345);
      const { env, sink, n } = countingJob({ checkpoint: mode.checkpoint, failInMap: fail, batchSize: 64, ratePerSecond: 50_000 });
      fail.after(() => sink.committed.length > 0);
      const job = await env.execute();
      const result = await job.done;
      assertRestoredFromCheckpoint(job.checkpointStats());
      assert.ok(fail.fired, "the failure was injected");
      assert.equal(result.status, "finished", String(result.error));
      assert.equal(result.restarts, 1);
      assertExactlyOnce(sink.committed, n);
    });

    test("an error thrown once in reduce restarts the job and loses or duplicates nothing", async () => {
      const fail = new FailOnce((count) => count >= 1500);
      const { env, sink, n } = countingJob({ checkpoint: mode.checkpoint, failInReduce: fail, batchSize: 64, ratePerSecond: 50_000 });
      fail.after(() => sink.committed.length > 0);
      const job = await env.execute();
      const result = await job.done;
      assertRestoredFromCheckpoint(job.checkpointStats());
      assert.ok(fail.fired);
      assert.equal(result.status, "finished", String(result.error));
      assert.equal(result.restarts, 1);
      assertExactlyOnce(sink.committed, n);
    });
  });
}

describe("exactly-once (unaligned, slow downstream)", () => {
  for (const where of ["map", "reduce"] as const) {
    test(`the foundation's job with full queues and an error in ${where} recovers from channel state exactly-once`, async () => {
      const fail = new FailOnce(where === "map" ? (x) => x >= 15_000 : (count) => count >= 2_400);
      const { env, sink, n } = countingJob({
        checkpoint: { interval: 20, unaligned: true },
        // The keyed operator takes one record per step (async), far slower than the batched source.
        slowReduceMs: 0,
        batchSize: 64,
        channelCapacity: 4,
        ...(where === "map" ? { failInMap: fail } : { failInReduce: fail }),
      });
      fail.after(() => sink.committed.length > 0);
      const job = await env.execute();
      const result = await job.done;
      assert.ok(fail.fired);
      assert.equal(result.status, "finished", String(result.error));
      const stats = job.checkpointStats();
      assertRestoredFromCheckpoint(stats);
      assert.ok(stats.history.some((d) => d.status === "COMPLETED" && d.persisted_data > 0), "some checkpoint persisted in-flight data");
      assertExactlyOnce(sink.committed, n);
    });
  }
});
