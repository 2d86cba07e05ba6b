import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { OperatorSnapshot, Sink, SinkWriter } from "../../mod.ts";
import { api, startJob, stopJob, until } from "./helpers.ts";

/** A sink that takes 3 ms per batch, so an unthrottled source spends most of its time waiting for credit. */
class SlowSink implements Sink<number> {
  createWriter(): SinkWriter {
    return {
      open: () => {},
      write: () => new Promise<void>((resolve) => setTimeout(resolve, 3)),
      snapshotState: (): OperatorSnapshot => ({}),
      notifyCheckpointComplete: () => {},
    };
  }
}

describe("REST API: backpressure", () => {
  test("GET /jobs/:jobid/backpressure has Flink's shape, with ratios that add up to one per subtask", async () => {
    const { job, url } = await startJob({ parallelism: 2 });
    try {
      const res = await api(url, `/jobs/${job.id}/backpressure`);
      assert.equal(res.status, 200);
      assert.equal(res.body.status, "ok");
      assert.ok(["ok", "low", "high"].includes(res.body["backpressure-level"]));
      assert.ok(res.body["window-ms"] > 0);
      assert.equal(res.body.vertices.length, 2);
      for (const v of res.body.vertices) {
        assert.equal(v.subtasks.length, 2);
        for (const s of v.subtasks) {
          assert.deepEqual(Object.keys(s).sort(), ["backpressure-level", "busyRatio", "idleRatio", "ratio", "subtask"]);
          for (const r of [s.ratio, s.busyRatio, s.idleRatio]) assert.ok(r >= 0 && r <= 1, `ratio ${r}`);
          assert.ok(Math.abs(s.ratio + s.busyRatio + s.idleRatio - 1) < 0.01);
        }
      }
      // A throttled source at 2000 records/s is mostly idle.
      assert.equal(res.body.vertices[0].subtasks[0]["backpressure-level"], "ok");
    } finally {
      await stopJob(job);
    }
  });

  test("a source in front of a slow sink reads as highly backpressured", async () => {
    const env = new StreamEnvironment({ jobName: "bp-http", storage: new MemoryStorage(), batchSize: 10, channelCapacity: 2, http: { port: 0 } });
    env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER), { uid: "numbers" })
      .rebalance()
      .sinkTo(new SlowSink(), { uid: "slow", disableChaining: true });
    const job = await env.execute();
    try {
      const level = await until(async () => {
        const body = (await api(job.url!, `/jobs/${job.id}/backpressure`)).body;
        const source = body.vertices[0].subtasks[0];
        return source["backpressure-level"] === "high" && body["backpressure-level"] === "high" ? source : undefined;
      }, "the source to read as backpressured");
      assert.ok(level.ratio > 0.5);
      assert.ok(level.idleRatio < 0.5);
    } finally {
      await stopJob(job);
    }
  });
});

describe("REST API: backpressure of a stuck pipeline", () => {
  test("a source blocked behind a sink that never returns reads as fully backpressured", async () => {
    const stuck: Sink<number> = {
      createWriter: (): SinkWriter => ({ open: () => {}, write: () => new Promise<void>(() => {}), snapshotState: (): OperatorSnapshot => ({}), notifyCheckpointComplete: () => {} }),
    };
    const env = new StreamEnvironment({ jobName: "bp-stuck", storage: new MemoryStorage(), batchSize: 10, channelCapacity: 2, http: { port: 0 } });
    env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER), { uid: "numbers" })
      .rebalance()
      .sinkTo(stuck, { uid: "stuck", disableChaining: true });
    const job = await env.execute();
    try {
      await until(() => job.vertices()[0].subtasks[0]?.outputBuffered > 0, "the source to fill its output");
      const source = await until(async () => {
        const s = (await api(job.url!, `/jobs/${job.id}/backpressure`)).body.vertices[0].subtasks[0];
        return s.ratio === 1 ? s : undefined;
      }, "the stuck source to read as backpressured");
      assert.equal(source["backpressure-level"], "high");
      assert.equal(source.idleRatio, 0);
    } finally {
      await stopJob(job);
    }
  });
});
