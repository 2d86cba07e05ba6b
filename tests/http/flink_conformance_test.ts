/**
 * Flink REST conformance (issue 13, item 3): every endpoint that Flink's web UI, its CLI and
 * the Kubernetes operator call to watch jobs and checkpoints answers with a body that
 * validates against Flink 1.19's OpenAPI description (made strict: see flink_schema.ts), on
 * a job that went through a restart, completed, failed and restored checkpoints, a
 * savepoint and a stop; request bodies as Flink's client sends them are accepted, and the
 * zod schemas of the request bodies have the fields and enums of Flink's.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { JobHandle } from "../../mod.ts";
import { REQUEST_BODY_SCHEMAS } from "../../http/schemas.ts";
import { FlinkSpec, flinkSpecPath } from "./flink_schema.ts";
import { api, checkpointOverHttp, until } from "./helpers.ts";
import { TASK_MANAGER_ID_PATTERN } from "../../http/routes/taskmanagers.ts";

const SPEC = flinkSpecPath();
const HEX = "0123456789abcdef0123456789abcdef";

/** A storage whose checkpoint writes fail while `failing` is set: a failed checkpoint on demand. */
class FlakyStorage extends MemoryStorage {
  failing = false;
  override put(key: string, bytes: Uint8Array): Promise<void> {
    if (this.failing && /chk-\d+\//.test(key)) return Promise.reject(new Error(`injected write failure of ${key}`));
    return super.put(key, bytes);
  }
}

function environment(name: string, storage: MemoryStorage, restoreFrom?: string) {
  let failed = false;
  const env = new StreamEnvironment({
    jobName: name,
    parallelism: 2,
    storage,
    restoreFrom,
    checkpoint: { interval: 0, tolerableFailures: 10 },
    restart: { strategy: "fixed-delay", attempts: 3, delay: 10 },
    http: { port: 0 },
  });
  env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER, { ratePerSecond: 2000 }), { uid: "numbers" })
    .map((n) => {
      if (n === 30 && !failed && !restoreFrom) {
        failed = true;
        throw new Error("poison record 30");
      }
      return n;
    }, { uid: "poison" })
    .keyBy((n) => n % 5)
    .reduce((a, b) => a + b, { uid: "sum" })
    .sinkTo(new CollectSink<number>(), { uid: "out" });
  return env;
}

describe("Flink REST conformance (1.19 OpenAPI)", { skip: SPEC ? false : "the Flink 1.19 spec (../shared/flink-rest/) is not on this machine" }, () => {
  let spec: FlinkSpec;
  let first: JobHandle;
  let second: JobHandle;
  let url: string;
  let savepointDir: string;
  let savepointLocation: string;
  const failures: string[] = [];

  /** Fetches `path`, checks the status, validates the body against the component of `template`. */
  // deno-lint-ignore no-explicit-any -- a JSON body, read field by field by the assertions
  async function check(template: string, path: string, init: { method?: string; json?: unknown; status?: number } = {}): Promise<any> {
    const method = init.method ?? "GET";
    const status = init.status ?? 200;
    const res = await api(url, path, { method, json: init.json });
    assert.equal(res.status, status, `${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`);
    const name = spec.responseSchemaName(template, method, status);
    for (const e of spec.errors(name, res.body)) failures.push(`${method} ${path} (${name}): ${e}`);
    return res.body;
  }

  before(async () => {
    spec = new FlinkSpec(SPEC!);
    savepointDir = mkdtempSync(join(tmpdir(), "weir-conformance-"));
    const storage = new FlakyStorage();
    first = await environment("conformance", storage).execute();
    url = first.url!;
    await until(() => first.restarts === 1 && first.status === "RUNNING", "the restart after the poison record", 20_000);
    await checkpointOverHttp(url, first.id);
    await checkpointOverHttp(url, first.id);
    storage.failing = true;
    assert.equal((await first.triggerCheckpoint()).status, "FAILED");
    storage.failing = false;
    savepointLocation = (await first.triggerSavepoint(savepointDir)).external_path!;
    second = await environment("conformance-restored", new MemoryStorage(), savepointLocation).execute();
    await until(() => second.status === "RUNNING", "the restored job", 20_000);
    await checkpointOverHttp(second.url!, second.id);
  });

  after(async () => {
    for (const job of [first, second]) if (job && job.status === "RUNNING") await job.cancel();
    rmSync(savepointDir, { recursive: true, force: true });
  });

  test("cluster, job list and job endpoints validate: /config, /overview, /jobs, /jobs/overview, /jobs/:id and its status, config, plan, exceptions, accumulators", async () => {
    const config = await check("/config", "/config");
    assert.match(config["flink-version"], /^1\.19/);
    assert.equal(typeof config["weir-version"], "string");
    await check("/overview", "/overview");
    const jobs = await check("/jobs", "/jobs");
    assert.ok(jobs.jobs.some((j: { id: string }) => j.id === first.id));
    await check("/jobs/overview", "/jobs/overview");
    const details = await check("/jobs/{jobid}", `/jobs/${first.id}`);
    assert.ok(details.vertices.every((v: { id: string }) => /^[0-9a-f]{32}$/.test(v.id)), "32-hex vertex ids");
    assert.equal(details.maxParallelism, 128);
    await check("/jobs/{jobid}/status", `/jobs/${first.id}/status`);
    await check("/jobs/{jobid}/config", `/jobs/${first.id}/config`);
    const plan = await check("/jobs/{jobid}/plan", `/jobs/${first.id}/plan`);
    assert.deepEqual(plan.plan.nodes.map((n: { id: string }) => n.id), details.vertices.map((v: { id: string }) => v.id));
    const exceptions = await check("/jobs/{jobid}/exceptions", `/jobs/${first.id}/exceptions`);
    assert.match(exceptions["root-exception"], /poison record 30/);
    assert.equal(exceptions["all-exceptions"].length, 1);
    const limited = await check("/jobs/{jobid}/exceptions", `/jobs/${first.id}/exceptions?maxExceptions=0`);
    assert.equal(limited.exceptionHistory.truncated, true);
    await check("/jobs/{jobid}/exceptions", `/jobs/${second.id}/exceptions`);
    await check("/jobs/{jobid}/accumulators", `/jobs/${first.id}/accumulators`);
    await check("/jobs/{jobid}/execution-result", `/jobs/${first.id}/execution-result`);
    assert.deepEqual(failures, []);
  });

  test("checkpoint endpoints validate: statistics with completed, failed and restored checkpoints, details, per-subtask details, config, triggers", async () => {
    const stats = await check("/jobs/{jobid}/checkpoints", `/jobs/${first.id}/checkpoints`);
    assert.deepEqual(stats.history.map((h: { className: string }) => h.className).sort(), ["completed", "completed", "completed", "failed"]);
    assert.equal(stats.latest.savepoint.savepointFormat, "CANONICAL");
    assert.equal(stats.latest.failed.className, "failed");
    const restored = await check("/jobs/{jobid}/checkpoints", `/jobs/${second.id}/checkpoints`);
    assert.equal(restored.latest.restored.external_path, savepointLocation);
    for (const h of stats.history) {
      const d = await check("/jobs/{jobid}/checkpoints/details/{checkpointid}", `/jobs/${first.id}/checkpoints/details/${h.id}`);
      for (const vertexId of Object.keys(d.tasks)) {
        const t = await check("/jobs/{jobid}/checkpoints/details/{checkpointid}/subtasks/{vertexid}", `/jobs/${first.id}/checkpoints/details/${h.id}/subtasks/${vertexId}`);
        assert.equal(t.subtasks.length, 2);
        assert.ok(t.subtasks.every((s: { className: string }) => s.className === (h.className === "completed" ? "completed" : s.className)));
      }
    }
    await check("/jobs/{jobid}/checkpoints/config", `/jobs/${first.id}/checkpoints/config`);

    // Request bodies exactly as Flink's RestClusterClient sends them.
    const posted = await check("/jobs/{jobid}/checkpoints", `/jobs/${first.id}/checkpoints`, { method: "POST", json: { checkpointType: "FULL", triggerId: HEX }, status: 202 });
    assert.equal(posted["request-id"], HEX);
    const done = await until(async () => {
      const r = await api(url, `/jobs/${first.id}/checkpoints/${HEX}`);
      return r.body.status.id === "COMPLETED" ? r.body : undefined;
    }, "the triggered checkpoint");
    for (const e of spec.errors(spec.responseSchemaName("/jobs/{jobid}/checkpoints/{triggerid}", "GET", 200), done)) failures.push(`checkpoint trigger: ${e}`);
    assert.deepEqual(spec.errors("CheckpointInfo", done.operation).concat(typeof done.operation.checkpointId === "number" ? [] : ["no checkpointId"]), []);
    assert.deepEqual(failures, []);
  });

  test("task manager endpoints validate: the one task manager /overview counts, named by every subtask attempt, a slot per running subtask; another id is a 404", async () => {
    const overview = await check("/overview", "/overview");
    const list = await check("/taskmanagers", "/taskmanagers");
    assert.equal(list.taskmanagers.length, overview.taskmanagers);
    const [tm] = list.taskmanagers;
    assert.match(tm.id, TASK_MANAGER_ID_PATTERN);
    // Other test files' jobs may run in this process too (bun test): this file's are counted by id.
    const running = [first, second].filter((j) => j.status === "RUNNING");
    const slotsOf = (j: JobHandle) => j.vertices().reduce((m, v) => m + v.parallelism, 0);
    assert.ok(running.length > 0);
    // Separate requests may see other files' jobs start or end between them: each is checked on its own.
    const ours = running.reduce((n, j) => n + slotsOf(j), 0);
    assert.ok(tm.slotsNumber >= ours, `${tm.slotsNumber} slots, this file's jobs alone have ${ours}`);
    assert.ok(overview["slots-total"] >= ours, `${overview["slots-total"]} slots in /overview, this file's jobs alone have ${ours}`);
    const details = (await api(url, `/jobs/${first.id}`)).body;
    const attempt = (await api(url, `/jobs/${first.id}/vertices/${details.vertices[0].id}/subtasks/0`)).body;
    assert.equal(attempt["taskmanager-id"], tm.id);
    const byTm = await check("/jobs/{jobid}/vertices/{vertexid}/taskmanagers", `/jobs/${first.id}/vertices/${details.vertices[0].id}/taskmanagers`);
    assert.deepEqual(byTm.taskmanagers.map((t: { "taskmanager-id": string }) => t["taskmanager-id"]), [tm.id]);
    const counts = byTm.taskmanagers[0]["status-counts"];
    assert.equal(counts.RUNNING, 2);
    assert.equal(Object.values(counts).reduce((a: number, b) => a + (b as number), 0), 2);
    const one = await check("/taskmanagers/{taskmanagerid}", `/taskmanagers/${tm.id}`);
    assert.equal(one.id, tm.id);
    assert.equal(one.allocatedSlots.length, one.slotsNumber);
    for (const j of running) assert.equal(one.allocatedSlots.filter((s: { jobId: string }) => s.jobId === j.id).length, slotsOf(j), j.id);
    assert.ok(one.metrics.heapUsed > 0 && one.metrics.heapUsed <= one.metrics.heapCommitted, JSON.stringify(one.metrics));
    const missing = await api(url, `/taskmanagers/${HEX}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, "taskmanager_not_found");
    assert.match(missing.body.errors[0], new RegExp(`${HEX}.*${tm.id}`));
    assert.deepEqual(failures, []);
  });

  test("vertex endpoints validate: details, subtask, backpressure, watermarks, metrics (Flink's query form), subtask times, accumulators", async () => {
    const details = (await api(url, `/jobs/${first.id}`)).body;
    // The job's own metrics, by Flink's names.
    const names = (await check("/jobs/{jobid}/metrics", `/jobs/${first.id}/metrics`)).map((m: { id: string }) => m.id);
    for (const n of ["numRestarts", "uptime", "numberOfCompletedCheckpoints", "lastCheckpointDuration"]) assert.ok(names.includes(n), n);
    const jobValues = await check("/jobs/{jobid}/metrics", `/jobs/${first.id}/metrics?get=numRestarts,totalNumberOfCheckpoints,nope,constructor`);
    assert.deepEqual(jobValues.map((m: { id: string }) => m.id), ["numRestarts", "totalNumberOfCheckpoints"]);
    assert.equal(jobValues[0].value, String(first.restarts));
    assert.equal(Number(jobValues[1].value), first.checkpointStats().counts.total);
    for (const v of details.vertices as { id: string }[]) {
      const base = `/jobs/${first.id}/vertices/${v.id}`;
      const vertex = await check("/jobs/{jobid}/vertices/{vertexid}", base);
      assert.equal(vertex.subtasks.length, 2);
      await check("/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}", `${base}/subtasks/1`);
      const bp = await check("/jobs/{jobid}/vertices/{vertexid}/backpressure", `${base}/backpressure`);
      assert.equal(bp.subtasks.length, 2);
      // A job without event time: no watermark yet (Long.MIN_VALUE), or its input ended (Long.MAX_VALUE).
      const watermarks = await check("/jobs/{jobid}/vertices/{vertexid}/watermarks", `${base}/watermarks`);
      assert.deepEqual(watermarks.map((w: { id: string }) => w.id), ["0.currentInputWatermark", "1.currentInputWatermark"]);
      for (const w of watermarks) assert.ok(["-9223372036854775808", "9223372036854775807"].includes(w.value), w.value);
      const names = await check("/jobs/{jobid}/vertices/{vertexid}/metrics", `${base}/metrics`);
      assert.ok(names.some((m: { id: string }) => m.id === "0.numRecordsInPerSecond"));
      // Names of Object.prototype's members are no metrics either.
      const values = await check("/jobs/{jobid}/vertices/{vertexid}/metrics", `${base}/metrics?get=0.numRecordsIn,1.numRecordsOut,0.nope,0.constructor,0.__proto__,0.toString`);
      assert.deepEqual(values.map((m: { id: string }) => m.id), ["0.numRecordsIn", "1.numRecordsOut"]);
      assert.match(values[0].value, /^\d+$/);
      const agg = await check("/jobs/{jobid}/vertices/{vertexid}/subtasks/metrics", `${base}/subtasks/metrics?get=numRecordsOut&agg=sum,max`);
      assert.deepEqual(Object.keys(agg[0]).sort(), ["id", "max", "sum"]);
      assert.deepEqual(await check("/jobs/{jobid}/vertices/{vertexid}/subtasks/metrics", `${base}/subtasks/metrics?get=constructor,hasOwnProperty`), []);
      const one = await check("/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/metrics", `${base}/subtasks/1/metrics?get=numRecordsOut,nope,constructor`);
      assert.deepEqual(one.map((m: { id: string }) => m.id), ["numRecordsOut"]);
      assert.match(one[0].value, /^\d+$/);
      assert.ok((await check("/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/metrics", `${base}/subtasks/0/metrics`)).some((m: { id: string }) => m.id === "numRecordsIn"));
      await check("/jobs/{jobid}/vertices/{vertexid}/subtasktimes", `${base}/subtasktimes`);
      await check("/jobs/{jobid}/vertices/{vertexid}/accumulators", `${base}/accumulators`);
    }
    assert.deepEqual(failures, []);
  });

  test("savepoint, stop and disposal validate, with Flink's request bodies; a stopped job reads FINISHED with weir's STOPPED beside it", async () => {
    const savepointTrigger = HEX.replace(/0/g, "a");
    const sp = await check("/jobs/{jobid}/savepoints", `/jobs/${second.id}/savepoints`, { method: "POST", json: { "target-directory": savepointDir, "cancel-job": false, formatType: "CANONICAL", triggerId: savepointTrigger }, status: 202 });
    const spDone = await until(async () => {
      const r = await api(url, `/jobs/${second.id}/savepoints/${sp["request-id"]}`);
      return r.body.status.id === "COMPLETED" ? r.body : undefined;
    }, "the savepoint");
    for (const e of spec.errors(spec.responseSchemaName("/jobs/{jobid}/savepoints/{triggerid}", "GET", 200), spDone)) failures.push(`savepoint trigger: ${e}`);
    assert.deepEqual(spec.errors("SavepointInfo", spDone.operation), []);
    assert.ok(existsSync(spDone.operation.location));

    const disposal = await check("/savepoint-disposal", "/savepoint-disposal", { method: "POST", json: { "savepoint-path": spDone.operation.location } });
    const disposed = await until(async () => {
      const r = await api(url, `/savepoint-disposal/${disposal["request-id"]}`);
      return r.body.status.id === "COMPLETED" ? r.body : undefined;
    }, "the disposal");
    for (const e of spec.errors(spec.responseSchemaName("/savepoint-disposal/{triggerid}", "GET", 200), disposed)) failures.push(`disposal: ${e}`);
    assert.equal(disposed.operation["failure-cause"], undefined, JSON.stringify(disposed));
    assert.equal(existsSync(spDone.operation.location), false, "the savepoint directory is gone");
    const notASavepoint = await check("/savepoint-disposal", "/savepoint-disposal", { method: "POST", json: { "savepoint-path": savepointDir + "/nothing-here" } });
    const refused = await until(async () => {
      const r = await api(url, `/savepoint-disposal/${notASavepoint["request-id"]}`);
      return r.body.status.id === "COMPLETED" ? r.body : undefined;
    }, "the refused disposal");
    assert.match(refused.operation["failure-cause"].message, /not a savepoint: it has no _metadata file/);

    const stop = await check("/jobs/{jobid}/stop", `/jobs/${second.id}/stop`, { method: "POST", json: { targetDirectory: savepointDir, drain: false, formatType: "CANONICAL", triggerId: HEX.replace(/0/g, "b") }, status: 202 });
    await until(async () => (await api(url, `/jobs/${second.id}/savepoints/${stop["request-id"]}`)).body.status.id === "COMPLETED", "the stop");
    await second.done;
    const status = await check("/jobs/{jobid}/status", `/jobs/${second.id}/status`);
    assert.deepEqual(status, { status: "FINISHED", "weir-status": "STOPPED" });
    const details = await check("/jobs/{jobid}", `/jobs/${second.id}`);
    assert.equal(details.state, "FINISHED");
    assert.ok(details.vertices.every((v: { status: string }) => v.status === "FINISHED"));
    const result = await check("/jobs/{jobid}/execution-result", `/jobs/${second.id}/execution-result`);
    assert.equal(result["job-execution-result"].applicationStatus, "SUCCEEDED");
    await check("/jobs/overview", "/jobs/overview");
    assert.deepEqual(failures, []);
  });

  test("the zod request schemas have Flink's fields and enums, and Flink-valid bodies pass both", () => {
    const bodies: [string, string, Record<string, unknown>][] = [
      ["/jobs/{jobid}/checkpoints", "post", { checkpointType: "CONFIGURED", triggerId: HEX }],
      ["/jobs/{jobid}/savepoints", "post", { "target-directory": "/tmp/sp", "cancel-job": true, formatType: "NATIVE", triggerId: HEX }],
      ["/jobs/{jobid}/stop", "post", { targetDirectory: "/tmp/sp", drain: true, formatType: "CANONICAL", triggerId: HEX }],
      ["/savepoint-disposal", "post", { "savepoint-path": "/tmp/sp/savepoint-1" }],
    ];
    for (const [template, method, body] of bodies) {
      const name = spec.requestSchemaName(template, method) as keyof typeof REQUEST_BODY_SCHEMAS;
      const ours = REQUEST_BODY_SCHEMAS[name];
      assert.ok(ours, `a zod schema for ${name}`);
      const theirs = spec.spec.components.schemas[name];
      assert.deepEqual(Object.keys(ours.shape).sort(), Object.keys(theirs.properties).sort(), `${name}: the same fields`);
      const json = z.toJSONSchema(ours) as { properties: Record<string, { enum?: string[] }> };
      for (const [field, prop] of Object.entries(theirs.properties as Record<string, { $ref?: string; enum?: string[] }>)) {
        const target: { enum?: string[] } = prop.$ref ? spec.spec.components.schemas[prop.$ref.split("/").pop()!] : prop;
        if (target.enum) assert.deepEqual([...json.properties[field].enum!].sort(), [...target.enum].sort(), `${name}.${field}: the same values`);
      }
      assert.deepEqual(spec.errors(name, body), [], `${name}: the example is a valid Flink body`);
      assert.ok(ours.safeParse(body).success, `${name}: weir's schema takes it`);
      assert.equal(ours.safeParse({ ...body, typo: 1 }).success, false, `${name}: an unknown field is refused`);
    }
  });
});

describe("the strict Flink validator", { skip: SPEC ? false : "the Flink 1.19 spec (../shared/flink-rest/) is not on this machine" }, () => {
  test("refuses what Flink's loose schema would let through: missing fields, weir-only states, no className, short ids", () => {
    const spec = new FlinkSpec(SPEC!);
    assert.notDeepEqual(spec.errors("JobStatusInfo", {}), [], "a missing field");
    assert.notDeepEqual(spec.errors("JobStatusInfo", { status: "STOPPED" }), [], "weir's STOPPED is not a Flink state");
    assert.deepEqual(spec.errors("JobStatusInfo", { status: "FINISHED" }), []);
    assert.notDeepEqual(spec.errors("JobIdWithStatus", { id: "v0", status: "RUNNING" }), [], "a job id that is not 32 hex digits");
    const checkpoint = { id: 1, status: "COMPLETED", is_savepoint: false, checkpoint_type: "CHECKPOINT", trigger_timestamp: 1, latest_ack_timestamp: 1, state_size: 1, checkpointed_size: 1, persisted_data: 0, processed_data: 0, alignment_buffered: 0, end_to_end_duration: 1, num_subtasks: 1, num_acknowledged_subtasks: 1, tasks: {}, external_path: "/x", discarded: false };
    assert.notDeepEqual(spec.errors("CheckpointStatistics", checkpoint), [], "no className");
    assert.deepEqual(spec.errors("CheckpointStatistics", { ...checkpoint, className: "completed" }), []);
    const { external_path: _path, ...incomplete } = checkpoint;
    assert.notDeepEqual(spec.errors("CheckpointStatistics", { ...incomplete, className: "completed" }), [], "a completed checkpoint without its path");
    assert.notDeepEqual(spec.errors("StatsSummaryDto", { min: 1, max: 2, avg: 1.5, p50: 1, p90: 1, p95: 1, p99: 1, p999: 1 }), [], "a fractional avg");
  });
});
