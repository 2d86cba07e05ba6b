/**
 * Regression (found in a review): Flink's checkpoint statistics report timestamps and durations as integer milliseconds
 * (Java longs); weir reports fractional ones (trigger_timestamp 1795219658129.5347,
 * end_to_end_duration 2.55859375, start_delay 0.699…), which strictly typed Flink clients
 * (e.g. Go int64, Jackson with float coercion off) cannot parse. GET /jobs/:jobid already rounds
 * its times; the checkpoint endpoints do not.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";

function nonIntegers(value: unknown, path: string, keys: RegExp, out: string[]): string[] {
  if (Array.isArray(value)) value.forEach((v, i) => nonIntegers(v, `${path}[${i}]`, keys, out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === "number" && keys.test(k) && !Number.isInteger(v)) out.push(`${path}.${k}=${v}`);
      else nonIntegers(v, `${path}.${k}`, keys, out);
    }
  }
  return out;
}

describe("checkpoint stats number types", () => {
  test("timestamps and durations in checkpoint details are integer milliseconds", { timeout: 20_000 }, async () => {
    const env = new StreamEnvironment({ jobName: "int-fields", parallelism: 2, storage: new MemoryStorage(), checkpoint: { interval: 0 } });
    env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER, { ratePerSecond: 1000 }), { uid: "n" })
      .keyBy((n) => n % 3).reduce((a, b) => a + b, { uid: "sum" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const job = await env.execute();
    try {
      const details = await job.triggerCheckpoint();
      assert.equal(details.status, "COMPLETED");
      const bad = nonIntegers(details, "details", /timestamp|duration|delay/, []);
      assert.deepEqual(bad.slice(0, 5), [], `fractional milliseconds: ${bad.slice(0, 5).join(", ")}`);
    } finally {
      await job.cancel();
    }
  });
});
