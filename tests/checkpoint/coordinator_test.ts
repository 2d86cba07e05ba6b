import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { EnvironmentOptions, OperatorSnapshot, Sink, SinkWriter } from "../../mod.ts";
import { sleep, until } from "../helpers.ts";
import { MAX_QUEUED_REQUESTS } from "../../checkpoint/request_decider.ts";

/** A running job: a slow endless source, a keyed sum and a collect sink. */
async function runningJob(o: EnvironmentOptions = {}, sink: Sink<unknown> = new CollectSink()) {
  const storage = (o.storage as MemoryStorage | undefined) ?? new MemoryStorage();
  const env = new StreamEnvironment({ jobName: "coord", parallelism: 2, storage, ...o });
  env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 20_000 }), { uid: "src" })
    .keyBy((n) => n % 5)
    .reduce((a, b) => a + b, { uid: "sum" })
    .sinkTo(sink as Sink<number>, { uid: "out" });
  return { job: await env.execute(), storage };
}

/** A sink whose writes never finish until released: barriers behind its data cannot pass. */
class StuckSink implements Sink<number> {
  release!: () => void;
  #gate = new Promise<void>((r) => (this.release = r));
  stuck = false;
  /** A write is held at the gate: the sink is stuck now, not only armed. */
  blocked = false;
  createWriter(): SinkWriter {
    return {
      open: () => {},
      write: () => (this.stuck ? (this.blocked = true, this.#gate) : undefined),
      snapshotState: (): OperatorSnapshot => ({}),
      notifyCheckpointComplete: () => {},
    };
  }
}

describe("checkpoint coordinator", () => {
  test("triggerCheckpoint() resolves to the same object as checkpointDetails(), in Flink's shape", async () => {
    const { job } = await runningJob();
    await sleep(20);
    const d = await job.triggerCheckpoint();
    assert.equal(d.status, "COMPLETED");
    assert.equal(d.checkpoint_type, "CHECKPOINT");
    assert.equal(d.num_subtasks, 4);
    assert.equal(d.num_acknowledged_subtasks, 4);
    assert.ok(d.state_size > 0 && d.end_to_end_duration >= 0 && d.trigger_timestamp > 0);
    assert.deepEqual(job.checkpointDetails(d.id), d);
    const [v0, v1] = Object.values(d.tasks);
    assert.equal(v0.num_subtasks, 2);
    assert.equal(v1.subtasks.length, 2);
    assert.equal(v1.subtasks[0].status, "completed");
    assert.equal(typeof v1.subtasks[0].alignment.duration, "number");
    const stats = job.checkpointStats();
    assert.deepEqual(stats.counts, { restored: 0, total: 1, in_progress: 0, completed: 1, failed: 0 });
    assert.equal(stats.latest.completed?.id, d.id);
    assert.equal(stats.history[0].id, d.id);
    for (const k of ["checkpointed_size", "state_size", "end_to_end_duration", "persisted_data"] as const) {
      assert.deepEqual(Object.keys(stats.summary[k]).sort(), ["avg", "max", "min", "p50", "p90", "p95", "p99", "p999"]);
    }
    assert.equal(stats.summary.state_size.max, d.state_size);
    await job.cancel();
  });

  test("periodic checkpoints run; only `retained` completed checkpoints stay in storage", async () => {
    const { job, storage } = await runningJob({ checkpoint: { interval: 5, retained: 2 } });
    while (job.checkpointStats().counts.completed < 6) await sleep(5);
    await job.cancel();
    await sleep(10);
    const dirs = new Set((await storage.list("coord/")).filter((k) => k.endsWith("_metadata")).map((k) => k.split("/")[2]));
    assert.equal(dirs.size, 2, `kept ${[...dirs]}`);
  });

  test("a checkpoint that cannot complete expires with a reason; within tolerableFailures the job keeps running", async () => {
    const sink = new StuckSink();
    const { job } = await runningJob({ checkpoint: { timeout: 30, tolerableFailures: 5 } }, sink);
    await sleep(10);
    sink.stuck = true;
    // A write must be held before the trigger, or the barrier passes (10 ms may not bring one on a loaded machine).
    await until("a write held by the stuck sink", () => sink.blocked);
    const d = await job.triggerCheckpoint();
    assert.equal(d.status, "FAILED");
    assert.equal(d.failure_reason, "checkpoint_expired");
    assert.match(d.failure_message!, /expired/);
    assert.equal(job.checkpointStats().latest.failed?.id, d.id);
    assert.equal(job.status, "RUNNING");
    assert.equal(job.restarts, 0);
    sink.release();
    await job.cancel();
  });

  test("more failed checkpoints than tolerableFailures fail the job over", async () => {
    const sink = new StuckSink();
    const { job } = await runningJob({ checkpoint: { timeout: 20, tolerableFailures: 0 }, restart: { strategy: "fixed-delay", attempts: 1, delay: 1 } }, sink);
    await sleep(10);
    sink.stuck = true;
    await until("a write held by the stuck sink", () => sink.blocked);
    const d = await job.triggerCheckpoint();
    assert.equal(d.status, "FAILED");
    // The failover after the failed checkpoint is asynchronous: wait for it, not a fixed 20 ms.
    await until("the job restarted", () => job.restarts >= 1);
    assert.equal(job.restarts, 1, "the job restarted");
    sink.release();
    await job.cancel();
  });

  test("maxConcurrent 1 runs triggered checkpoints one after another", async () => {
    const { job } = await runningJob({ checkpoint: { maxConcurrent: 1 } });
    await sleep(10);
    const all = await Promise.all([job.triggerCheckpoint(), job.triggerCheckpoint(), job.triggerCheckpoint()]);
    assert.deepEqual(all.map((d) => d.status), ["COMPLETED", "COMPLETED", "COMPLETED"]);
    for (let i = 1; i < all.length; i++) {
      const prevEnd = all[i - 1].trigger_timestamp + all[i - 1].end_to_end_duration;
      assert.ok(all[i].trigger_timestamp >= prevEnd, `checkpoint ${all[i].id} started before ${all[i - 1].id} ended`);
    }
    await job.cancel();
  });

  test("trigger requests beyond the 1000 queued fail at once with too_many_checkpoint_requests (Flink's limit); the queued ones run", async () => {
    const sink = new StuckSink();
    const { job } = await runningJob({ checkpoint: { maxConcurrent: 1, timeout: 60_000 } }, sink);
    await sleep(10);
    sink.stuck = true;
    await until("a write held by the stuck sink", () => sink.blocked);
    // The first runs (and waits for the stuck sink), the next 1000 queue behind it.
    const queued = Array.from({ length: 1 + MAX_QUEUED_REQUESTS }, () => job.triggerCheckpoint());
    const refused = await job.triggerCheckpoint();
    assert.equal(refused.status, "FAILED");
    assert.equal(refused.failure_reason, "too_many_checkpoint_requests");
    assert.match(refused.failure_message!, /1000 requests are queued/);
    sink.release();
    const all = await Promise.all(queued);
    assert.equal(all.filter((d) => d.status === "COMPLETED").length, all.length);
    await job.cancel();
  });

  test("minPause keeps a gap between the end of one periodic checkpoint and the start of the next", async () => {
    const { job } = await runningJob({ checkpoint: { interval: 1, minPause: 25 } });
    while (job.checkpointStats().counts.completed < 4) await sleep(5);
    await job.cancel();
    const h = job.checkpointStats().history.filter((d) => d.status === "COMPLETED").reverse();
    for (let i = 1; i < h.length; i++) {
      const gap = h[i].trigger_timestamp - (h[i - 1].trigger_timestamp + h[i - 1].end_to_end_duration);
      assert.ok(gap >= 24, `gap ${gap} ms between checkpoints ${h[i - 1].id} and ${h[i].id}`);
    }
  });

  test("a failing storage write declines the checkpoint with storage_failed", async () => {
    class FailingStorage extends MemoryStorage {
      failing = false;
      override put(key: string, bytes: Uint8Array): Promise<void> {
        if (this.failing && key.includes("chk-")) return Promise.reject(new Error("disk full"));
        return super.put(key, bytes);
      }
    }
    const storage = new FailingStorage();
    const { job } = await runningJob({ storage, checkpoint: { tolerableFailures: 3 } });
    await sleep(10);
    storage.failing = true;
    const d = await job.triggerCheckpoint();
    assert.equal(d.status, "FAILED");
    assert.equal(d.failure_reason, "storage_failed");
    assert.match(d.failure_message!, /disk full/);
    storage.failing = false;
    assert.equal((await job.triggerCheckpoint()).status, "COMPLETED");
    await job.cancel();
  });

  describe("a checkpoint that failed while its metadata write was in flight", () => {
    /** Holds the put of one checkpoint's `_metadata` until released. */
    class HeldMetadataStorage extends MemoryStorage {
      readonly #held: string;
      waiting = false;
      release!: () => void;
      readonly #gate = new Promise<void>((r) => (this.release = r));
      constructor(checkpointId: number) {
        super();
        this.#held = `/chk-${checkpointId}/_metadata`;
      }
      override async put(key: string, bytes: Uint8Array): Promise<void> {
        if (key.endsWith(this.#held)) {
          this.waiting = true;
          await this.#gate;
        }
        return super.put(key, bytes);
      }
      async filesOf(checkpointId: number): Promise<string[]> {
        return (await this.list("coord/")).filter((k) => k.includes(`/chk-${checkpointId}/`));
      }
    }

    test("is deleted once its metadata lands, when a newer checkpoint subsumed it meanwhile", async () => {
      const storage = new HeldMetadataStorage(1);
      const { job } = await runningJob({ storage, state: { incremental: true }, checkpoint: { maxConcurrent: 2, retained: 2 } });
      await sleep(10);
      const first = job.triggerCheckpoint();
      await until("checkpoint 1's metadata write held", () => storage.waiting);
      assert.equal((await job.triggerCheckpoint()).status, "COMPLETED");
      const failed = await first;
      assert.equal(failed.failure_reason, "checkpoint_subsumed");
      storage.release();
      await until("checkpoint 1's files deleted after its metadata landed", async () => (await storage.filesOf(1)).length === 0);
      await job.cancel();
      assert.ok((await storage.list("coord/")).some((k) => k.endsWith("/chk-2/_metadata")), "the checkpoint that completed stays");
    });

    test("is deleted once its metadata lands, when the job ended meanwhile", async () => {
      const storage = new HeldMetadataStorage(2);
      const { job } = await runningJob({ storage, checkpoint: { retained: 1 } });
      await sleep(10);
      assert.equal((await job.triggerCheckpoint()).status, "COMPLETED");
      const second = job.triggerCheckpoint();
      await until("checkpoint 2's metadata write held", () => storage.waiting);
      const canceled = job.cancel();
      assert.equal((await second).failure_reason, "job_canceled");
      storage.release();
      await canceled;
      assert.deepEqual(await storage.filesOf(2), []);
      assert.ok((await storage.filesOf(1)).some((k) => k.endsWith("/_metadata")), "the last completed checkpoint stays for restoreFrom");
    });

    test("holds the job's end up for a checkpoint timeout at most, when its metadata write hangs", async () => {
      const storage = new HeldMetadataStorage(1);
      const { job } = await runningJob({ storage, checkpoint: { timeout: 200 } });
      await sleep(10);
      const first = job.triggerCheckpoint();
      await until("checkpoint 1's metadata write held", () => storage.waiting);
      const result = await job.cancel();
      assert.equal(result.status, "canceled");
      assert.equal((await first).failure_reason, "job_canceled");
      storage.release();
    });

    test("is the job's again when a failover restores it: it stays with the checkpoints retained after it", async () => {
      const storage = new HeldMetadataStorage(2);
      const failing = { now: false };
      const env = new StreamEnvironment({
        jobName: "coord", parallelism: 2, storage, checkpoint: { retained: 2 }, restart: { strategy: "fixed-delay", attempts: 3, delay: 1 },
      });
      env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 20_000 }), { uid: "src" })
        .map((n) => {
          if (failing.now) throw (failing.now = false, new Error("injected"));
          return n;
        }, { uid: "fail" })
        .keyBy((n) => n % 5)
        .reduce((a, b) => a + b, { uid: "sum" })
        .sinkTo(new CollectSink(), { uid: "out" });
      const job = await env.execute();
      await sleep(10);
      assert.equal((await job.triggerCheckpoint()).status, "COMPLETED");
      const second = job.triggerCheckpoint();
      await until("checkpoint 2's metadata write held", () => storage.waiting);
      failing.now = true;
      assert.equal((await second).failure_reason, "job_failover");
      storage.release();
      await until("the job restored checkpoint 2, whose metadata landed after it failed", () => job.checkpointStats().latest.restored?.id === 2);
      assert.equal((await job.triggerCheckpoint()).status, "COMPLETED");
      await job.cancel();
      const kept = new Set((await storage.list("coord/")).filter((k) => k.endsWith("_metadata")).map((k) => k.split("/")[2]));
      assert.deepEqual([...kept].sort(), ["chk-2", "chk-3"]);
    });

    test("stays restorable until a newer checkpoint completes, when it expired", async () => {
      const storage = new HeldMetadataStorage(1);
      const { job } = await runningJob({ storage, checkpoint: { timeout: 40, tolerableFailures: 5 } });
      await sleep(10);
      const first = job.triggerCheckpoint();
      await until("checkpoint 1's metadata write held", () => storage.waiting);
      assert.equal((await first).failure_reason, "checkpoint_expired");
      storage.release();
      await until("checkpoint 1's metadata landed", async () => (await storage.filesOf(1)).some((k) => k.endsWith("/_metadata")));
      // Recovery would pick it now (the latest in storage): it stays until one newer completed.
      await sleep(20);
      assert.ok((await storage.filesOf(1)).length > 0);
      assert.equal((await job.triggerCheckpoint()).status, "COMPLETED");
      await until("checkpoint 1's files deleted once checkpoint 2 completed", async () => (await storage.filesOf(1)).length === 0);
      await job.cancel();
    });
  });
});
