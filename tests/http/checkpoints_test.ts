import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { flinkCheckpoint } from "../../checkpoint/flink_view.ts";
import { flinkCheckpointConfig } from "../../http/routes/checkpoints.ts";
import { hexIdsOf } from "../../http/flink_ids.ts";
import { api, checkpointOverHttp, startJob, stopJob, until } from "./helpers.ts";
import { TriggerStore } from "../../http/triggers.ts";

describe("REST API: checkpoints", () => {
  test("POST /jobs/:jobid/checkpoints answers 202 with a request-id that polls from IN_PROGRESS to COMPLETED", async () => {
    const { job, url } = await startJob();
    try {
      const posted = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST" });
      assert.equal(posted.status, 202);
      assert.match(posted.body["request-id"], /^[0-9a-f]{32}$/);
      const seen = new Set<string>();
      const done = await until(async () => {
        const r = await api(url, `/jobs/${job.id}/checkpoints/${posted.body["request-id"]}`);
        assert.equal(r.status, 200);
        seen.add(r.body.status.id);
        return r.body.status.id === "COMPLETED" ? r.body : undefined;
      }, "the checkpoint to complete");
      assert.ok([...seen].every((s) => s === "IN_PROGRESS" || s === "COMPLETED"));
      assert.equal(typeof done.operation.checkpointId, "number");
      assert.equal(job.checkpointDetails(done.operation.checkpointId)?.status, "COMPLETED");
    } finally {
      await stopJob(job);
    }
  });

  test("a client-chosen triggerId is idempotent: the second POST starts nothing", async () => {
    const { job, url } = await startJob();
    try {
      const id = "0123456789abcdef0123456789abcdef";
      const a = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", json: { triggerId: id } });
      const b = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", json: { triggerId: id.toUpperCase() } });
      assert.equal(a.body["request-id"], id);
      assert.equal(b.body["request-id"], id);
      await until(async () => (await api(url, `/jobs/${job.id}/checkpoints/${id}`)).body.status.id === "COMPLETED", "completion");
      assert.equal(job.checkpointStats().counts.total, 1);
      const notFlink = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", json: { triggerId: "my-trigger-1" } });
      assert.equal(notFlink.status, 400);
      assert.match(notFlink.body.errors[0], /"triggerId" must be 32 hexadecimal digits/);
    } finally {
      await stopJob(job);
    }
  });

  test("GET /jobs/:jobid/checkpoints is job.checkpointStats() in Flink's shape: counts, summary, latest, history", async () => {
    const { job, url } = await startJob();
    try {
      await checkpointOverHttp(url, job.id);
      await checkpointOverHttp(url, job.id);
      const res = await api(url, `/jobs/${job.id}/checkpoints`);
      assert.equal(res.status, 200);
      // Compared through a copy: deepEqual's type assertion would otherwise narrow res.body.
      // One structure, two doors (DESIGN.md): the REST body is job.checkpointStats().
      assert.deepEqual({ ...res.body }, job.checkpointStats());
      const raw = job.rawCheckpointDetails(2)!;
      const { tasks: _tasks, ...weirFields } = raw;
      for (const [k, v] of Object.entries(weirFields)) assert.deepEqual(res.body.history[0][k], v, `weir's field ${k} is kept`);
      assert.equal(res.body.history[0].className, "completed");
      assert.deepEqual(res.body.counts, { restored: 0, total: 2, in_progress: 0, completed: 2, failed: 0 });
      assert.deepEqual(Object.keys(res.body.summary.end_to_end_duration).sort(), ["avg", "max", "min", "p50", "p90", "p95", "p99", "p999"]);
      assert.equal(res.body.latest.completed.id, 2);
      assert.deepEqual(res.body.history.map((h: { id: number }) => h.id), [2, 1]);
    } finally {
      await stopJob(job);
    }
  });

  test("GET …/checkpoints/details/:checkpointid returns the checkpoint with per-operator and per-subtask detail", async () => {
    const { job, url } = await startJob({ parallelism: 2 });
    try {
      const { checkpointId } = await checkpointOverHttp(url, job.id);
      const res = await api(url, `/jobs/${job.id}/checkpoints/details/${checkpointId}`);
      assert.equal(res.status, 200);
      // One structure, two doors (DESIGN.md): the REST body is job.checkpointDetails().
      assert.deepEqual({ ...res.body }, job.checkpointDetails(checkpointId as number));
      assert.deepEqual(job.checkpointDetails(checkpointId as number), JSON.parse(JSON.stringify(flinkCheckpoint(job.rawCheckpointDetails(checkpointId as number)!, hexIdsOf(job)))));
      const { tasks: _tasks, ...weirFields } = job.rawCheckpointDetails(checkpointId as number)!;
      for (const [k, v] of Object.entries(weirFields)) assert.deepEqual(res.body[k], v, `weir's field ${k} is kept`);
      assert.deepEqual(Object.keys(res.body.tasks), [...hexIdsOf(job).values()], "tasks by 32-hex vertex id");
      assert.equal(res.body.status, "COMPLETED");
      assert.equal(res.body.checkpoint_type, "CHECKPOINT");
      assert.equal(res.body.num_subtasks, 4);
      assert.equal(res.body.num_acknowledged_subtasks, 4);
      const task = Object.values(res.body.tasks)[0] as { id: number; subtasks: { className: string; alignment: unknown; checkpoint: { sync: number; async: number }; start_delay: number; unaligned_checkpoint: boolean }[] };
      assert.equal(task.id, checkpointId, "Flink's task id is the checkpoint's");
      assert.equal(task.subtasks.length, 2);
      assert.equal(task.subtasks[0].className, "completed");
      assert.equal(typeof task.subtasks[0].start_delay, "number");
      assert.equal(typeof task.subtasks[0].checkpoint.sync, "number");
      assert.equal(task.subtasks[0].unaligned_checkpoint, false);
    } finally {
      await stopJob(job);
    }
  });

  test("GET …/checkpoints/details/:checkpointid: an unknown id is a 404, a non-number a 400", async () => {
    const { job, url } = await startJob();
    try {
      const missing = await api(url, `/jobs/${job.id}/checkpoints/details/4242`);
      assert.equal(missing.status, 404);
      assert.match(missing.body.errors[0], /Checkpoint 4242/);
      const bad = await api(url, `/jobs/${job.id}/checkpoints/details/abc`);
      assert.equal(bad.status, 400);
      assert.match(bad.body.errors[0], /"abc"/);
      const trigger = await api(url, `/jobs/${job.id}/checkpoints/0123456789abcdef0123456789abcdef`);
      assert.equal(trigger.status, 404);
      assert.equal(trigger.body.code, "trigger_not_found");
    } finally {
      await stopJob(job);
    }
  });

  test("GET …/checkpoints/config shows the job's checkpoint configuration with Flink's names", async () => {
    const { job, url } = await startJob({ checkpoint: { interval: 60_000, unaligned: true, alignedTimeout: 50, timeout: 30_000, tolerableFailures: 3 } });
    try {
      const res = await api(url, `/jobs/${job.id}/checkpoints/config`);
      assert.equal(res.status, 200);
      assert.deepEqual({ ...res.body }, flinkCheckpointConfig(job));
      for (const [k, v] of Object.entries(job.checkpointConfig())) assert.deepEqual(res.body[k], v, `weir's field ${k} is kept`);
      assert.equal(res.body.mode, "exactly_once");
      assert.equal(res.body.interval, 60_000);
      assert.equal(res.body.unaligned_checkpoints, true);
      assert.equal(res.body.aligned_checkpoint_timeout, 50);
      assert.equal(res.body.timeout, 30_000);
      assert.equal(res.body.tolerable_failed_checkpoints, 3);
    } finally {
      await stopJob(job);
    }
  });

  test("POST /jobs/:jobid/checkpoints on a canceled job is a 409", async () => {
    const { job, url } = await startJob();
    await job.cancel();
    const res = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST" });
    assert.equal(res.status, 409);
    assert.equal(res.body.code, "job_not_running");
  });

  test("a failed checkpoint trigger names its cause as Flink's CheckpointInfo does (failureCause), beside failure-cause; a savepoint's as SavepointInfo (failure-cause)", async () => {
    const store = new TriggerStore();
    const job = "00000000000000000000000000000001";
    const checkpoint = store.start(job, "checkpoint", () => Promise.reject(new Error("disk full")));
    const savepoint = store.start(job, "savepoint", () => Promise.reject(new Error("disk full")));
    await new Promise((r) => setTimeout(r, 0));
    const c = store.state(job, "checkpoint", checkpoint) as { operation: Record<string, { message?: string } | undefined> };
    assert.match(c.operation.failureCause?.message ?? "", /disk full/);
    assert.deepEqual(c.operation["failure-cause"], c.operation.failureCause);
    const s = store.state(job, "savepoint", savepoint) as { operation: Record<string, unknown> };
    assert.deepEqual(Object.keys(s.operation), ["failure-cause"]);
  });

  test("refused triggers stay readable beside 1000 in progress; past 1000 settled outcomes one already read goes first", async () => {
    const store = new TriggerStore();
    const job = "00000000000000000000000000000002";
    for (let i = 0; i < 1000; i++) store.start(job, "checkpoint", () => new Promise(() => {}));
    // One after another, each settled before the next comes (as POSTs over HTTP are).
    const refused: string[] = [];
    for (let i = 0; i < 5; i++) {
      refused.push(store.start(job, "checkpoint", () => Promise.reject(new Error("too many"))));
      await new Promise((r) => setTimeout(r, 0));
    }
    for (const id of refused) assert.equal(store.state(job, "checkpoint", id).status.id, "COMPLETED", "a refused trigger reads back");
    // 996 more settle at once (1001 settled), then one more evicts two, a read one first.
    const more = Array.from({ length: 996 }, () => store.start(job, "savepoint", async () => ({ location: "x" })));
    await new Promise((r) => setTimeout(r, 0));
    store.start(job, "savepoint", async () => ({ location: "y" }));
    await new Promise((r) => setTimeout(r, 0));
    assert.throws(() => store.state(job, "checkpoint", refused[0]), /No checkpoint trigger/, "the oldest outcome already read went");
    assert.throws(() => store.state(job, "checkpoint", refused[1]), /No checkpoint trigger/, "and the oldest settled, back under the cap");
    for (const id of refused.slice(2)) store.state(job, "checkpoint", id);
    store.state(job, "savepoint", more[0]);
  });
});

