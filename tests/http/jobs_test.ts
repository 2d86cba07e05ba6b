import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { api, startFanOutJob, startJob, stopJob, until } from "./helpers.ts";
import { serializedThrowable } from "../../http/routes/jobs.ts";
import { jobMetricValues } from "../../http/job_metrics.ts";
import type { JobHandle } from "../../mod.ts";

describe("REST API: jobs", () => {
  test("GET /jobs lists the jobs of the process with their status, across servers", async () => {
    const a = await startJob({ jobName: "list-a" });
    const b = await startJob({ jobName: "list-b" });
    try {
      const res = await api(b.url, "/jobs");
      assert.equal(res.status, 200);
      const rows = res.body.jobs as { id: string; name: string; status: string }[];
      assert.deepEqual(rows.find((j) => j.id === a.job.id)?.status, "RUNNING");
      assert.equal(rows.find((j) => j.id === b.job.id)?.name, "list-b");
    } finally {
      await stopJob(a.job);
      await stopJob(b.job);
    }
  });

  test("GET /jobs/:jobid shows the status and vertices with parallelism and growing per-subtask figures", async () => {
    const { job, url } = await startJob({ parallelism: 2 });
    try {
      const first = await api(url, `/jobs/${job.id}`);
      assert.equal(first.status, 200);
      assert.equal(first.body.jid, job.id);
      // A job id in upper case is the same id (Flink reads it as hex).
      assert.equal((await api(url, `/jobs/${job.id.toUpperCase()}`)).body.jid, job.id);
      assert.equal(first.body.state, "RUNNING");
      assert.equal(first.body.vertices.length, 2);
      for (const v of first.body.vertices) {
        assert.equal(v.parallelism, 2);
        assert.equal(v.subtasks.length, 2);
        assert.deepEqual(Object.keys(v.subtasks[0]).sort(), ["backpressured-ms", "barrier-state", "busy-ms", "output-buffered", "queued-batches", "read-records", "subtask", "write-records"]);
      }
      assert.deepEqual(first.body.vertices[0].uids, ["numbers", "double"]);
      const [v0, v1] = first.body.vertices as { id: string; name: string }[];
      assert.deepEqual(first.body.plan, {
        jid: job.id,
        name: "http-test",
        type: "STREAMING",
        nodes: [
          { id: v0.id, parallelism: 2, operator: "", operator_strategy: "", description: v0.name, optimizer_properties: {} },
          { id: v1.id, parallelism: 2, operator: "", operator_strategy: "", description: v1.name, optimizer_properties: {}, inputs: [{ num: 0, id: v0.id, ship_strategy: "HASH", exchange: "pipelined_bounded" }] },
        ],
      } as unknown);
      const readBefore = first.body.vertices[1].metrics["read-records"];
      await until(async () => (await api(url, `/jobs/${job.id}`)).body.vertices[1].metrics["read-records"] > readBefore, "records to flow");
    } finally {
      await stopJob(job);
    }
  });

  test("GET /jobs/:jobid has the job graph as plan.nodes[].inputs[], fan-out and partitioning included", async () => {
    const { job, url } = await startFanOutJob();
    try {
      const res = await api(url, `/jobs/${job.id}`);
      assert.equal(res.status, 200);
      const nodes = res.body.plan.nodes as { id: string; parallelism: number; inputs?: { num: number; id: string; ship_strategy: string }[] }[];
      assert.deepEqual(nodes.map((n) => n.id), res.body.vertices.map((v: { id: string }) => v.id), "one node per vertex, in vertex order");
      // Nodes are named by 32-hex vertex ids; weir's own ids are beside them on the vertices.
      const weirId = new Map<string, string>(res.body.vertices.map((v: { id: string; "weir-id": string }) => [v.id, v["weir-id"]]));
      assert.ok(nodes.every((n) => /^[0-9a-f]{32}$/.test(n.id)));
      const edges = nodes.flatMap((n) => (n.inputs ?? []).map((i) => `${weirId.get(i.id)}->${weirId.get(n.id)}:${i.ship_strategy}#${i.num}`));
      assert.deepEqual(edges, ["v0->v1:HASH#0", "v0->v2:REBALANCE#0", "v1->v3:REBALANCE#0"]);
      assert.equal(nodes[0].inputs, undefined, "a source has no inputs, as in Flink");
      assert.deepEqual(nodes.map((n) => n.parallelism), [2, 2, 2, 1]);
    } finally {
      await stopJob(job);
    }
  });

  test("PATCH /jobs/:jobid?mode=cancel answers 202 and cancels the job; a second cancel is a 409", async () => {
    const { job, url } = await startJob();
    const res = await api(url, `/jobs/${job.id}?mode=cancel`, { method: "PATCH" });
    assert.equal(res.status, 202);
    assert.equal((await job.done).status, "canceled");
    // The server lingers briefly after its job ended, so the final state is visible.
    assert.equal((await api(url, `/jobs/${job.id}`)).body.state, "CANCELED");
    const again = await api(url, `/jobs/${job.id}?mode=cancel`, { method: "PATCH" });
    assert.equal(again.status, 409);
    assert.match(again.body.errors[0], /CANCELED/);
    await stopJob(job);
  });

  test("GET /jobs/:jobid/exceptions names the failure a restart recovered from", async () => {
    let failed = false;
    const env = new StreamEnvironment({
      jobName: "exceptions",
      storage: new MemoryStorage(),
      restart: { strategy: "fixed-delay", attempts: 2, delay: 10 },
      http: { port: 0 },
    });
    env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER, { ratePerSecond: 2000 }), { uid: "numbers" })
      .map((n) => {
        if (n === 20 && !failed) {
          failed = true;
          throw new Error("poison record 20");
        }
        return n;
      }, { uid: "poison" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const job = await env.execute();
    try {
      await until(() => job.restarts === 1 && job.status === "RUNNING", "the restart");
      const res = await api(job.url!, `/jobs/${job.id}/exceptions`);
      assert.equal(res.status, 200);
      assert.match(res.body["root-exception"], /poison record 20/);
      assert.equal(res.body.exceptionHistory.entries[0].kind, "restart");
      assert.equal((await api(job.url!, `/jobs/${job.id}`)).body.restarts, 1);
    } finally {
      await stopJob(job);
    }
  });
});

test("an exception's serialized-throwable carries a message of 1 200 000 characters (base64 a slice at a time: one spread of its bytes overflowed the stack)", () => {
  const message = "é".repeat(600_000) + "x".repeat(600_000);
  const t = serializedThrowable("Error", message);
  const bytes = Uint8Array.from(atob(t["serialized-throwable"]), (c) => c.charCodeAt(0));
  assert.equal(new TextDecoder().decode(bytes), `Error: ${message}`);
});

test("job metrics: uptime counts from entering RUNNING, and uptime and downtime are -1 once the job ended (Flink's NO_LONGER_RUNNING)", () => {
  const stats = { counts: { restored: 0, total: 2, in_progress: 0, completed: 2, failed: 0 }, latest: { completed: { end_to_end_duration: 7, checkpointed_size: 10, state_size: 40 }, restored: null } };
  const job = (status: string) => ({ status, restarts: 1, now: () => 5_000, checkpointStats: () => stats }) as unknown as JobHandle;
  const running = jobMetricValues(job("RUNNING"), 4_000);
  assert.deepEqual([running.uptime, running.downtime, running.lastCheckpointDuration, running.lastCheckpointSize, running.lastCheckpointFullSize], [1_000, 0, 7, 10, 40]);
  assert.equal(jobMetricValues(job("RESTARTING"), 4_500).downtime, 500);
  const ended = jobMetricValues(job("CANCELED"), 4_000);
  assert.deepEqual([ended.uptime, ended.downtime, ended.numRestarts], [-1, -1, 1]);
});
