import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment, WatermarkStrategy } from "../../mod.ts";
import { api, stopJob, until } from "./helpers.ts";

describe("REST API: watermarks", () => {
  test("GET …/watermarks and the currentInputWatermark metric give each subtask's event time", async () => {
    const env = new StreamEnvironment({ jobName: "wm-http", parallelism: 2, storage: new MemoryStorage(), checkpoint: { interval: 0 }, http: { port: 0, hostname: "127.0.0.1" } });
    // Event time is the record itself (ms); the other keyed subtask gets the same watermark from both sources' channels.
    env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER, { ratePerSecond: 2000 }), { uid: "numbers" })
      .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness<number>(0).withTimestampAssigner((n) => n), { uid: "wm" })
      .keyBy((n) => n % 10)
      .reduce((a, b) => a + b, { uid: "sum" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const job = await env.execute();
    try {
      const url = job.url!;
      const vertices = (await api(url, `/jobs/${job.id}`)).body.vertices as { id: string; name: string }[];
      const keyed = vertices.find((v) => v.name.includes("sum"))!;
      const read = async () => (await api(url, `/jobs/${job.id}/vertices/${keyed.id}/watermarks`)).body as { id: string; value: string }[];
      const first = await read();
      assert.deepEqual(first.map((w) => w.id), ["0.currentInputWatermark", "1.currentInputWatermark"]);
      for (const w of first) assert.match(w.value, /^-?\d+$/);
      // SequenceSource splits its range between the two source subtasks: the watermark is the smaller of theirs.
      const moved = await until(async () => {
        const w = await read();
        return w.every((x) => Number(x.value) > 0) ? w : undefined;
      }, "watermarks past 0") as { id: string; value: string }[];
      const metric = (await api(url, `/jobs/${job.id}/vertices/${keyed.id}/metrics?get=0.currentInputWatermark`)).body as { id: string; value: string }[];
      assert.equal(metric[0].id, "0.currentInputWatermark");
      assert.ok(BigInt(metric[0].value) >= BigInt(moved[0].value), "event time never goes back");
      const agg = (await api(url, `/jobs/${job.id}/vertices/${keyed.id}/subtasks/metrics?get=currentInputWatermark&agg=min`)).body as { min: number }[];
      assert.ok(Number.isFinite(agg[0].min) && agg[0].min > 0);
      const prometheus = ((await api(url, "/metrics")).body as string).split("\n").filter((l) => l.startsWith("weir_subtask_input_watermark_ms{") && l.includes(`job_id="${job.id}"`) && l.includes(`operator="${keyed.name}"`));
      assert.equal(prometheus.length, 2);
      for (const line of prometheus) assert.ok(Number(line.slice(line.lastIndexOf(" ") + 1)) > 0, line);
    } finally {
      await stopJob(job);
    }
  });
});
