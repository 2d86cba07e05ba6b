import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, startJob, stopJob, until } from "./helpers.ts";

async function pollSavepoint(url: string, jobId: string, requestId: string) {
  return await until(async () => {
    const r = await api(url, `/jobs/${jobId}/savepoints/${requestId}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.status.id === "COMPLETED" ? r.body : undefined;
  }, "the savepoint to complete");
}

describe("REST API: savepoints and stop", () => {
  test("POST /jobs/:jobid/savepoints takes a savepoint whose location GET …/savepoints/:triggerid reports", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-sp-"));
    const { job, url } = await startJob();
    try {
      // As Flink's RestClusterClient sends it: the trigger id it leaves unset as null.
      const posted = await api(url, `/jobs/${job.id}/savepoints`, { method: "POST", json: { "target-directory": dir, "cancel-job": false, formatType: "CANONICAL", triggerId: null } });
      assert.equal(posted.status, 202, JSON.stringify(posted.body));
      const done = await pollSavepoint(url, job.id, posted.body["request-id"]);
      assert.ok(done.operation.location.startsWith(dir), done.operation.location);
      assert.ok(existsSync(done.operation.location));
      assert.equal(job.status, "RUNNING");
      assert.equal(job.checkpointStats().latest.savepoint?.external_path, done.operation.location);
    } finally {
      await stopJob(job);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a target directory written as a file: URI (file:///path, Flink's form, or file:/path) is that local directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-sp-uri-"));
    const { job, url } = await startJob();
    try {
      for (const target of [`file://${dir}/a`, `file:${dir}/b`]) {
        const posted = await api(url, `/jobs/${job.id}/savepoints`, { method: "POST", json: { "target-directory": target } });
        assert.equal(posted.status, 202, JSON.stringify(posted.body));
        const done = await pollSavepoint(url, job.id, posted.body["request-id"]);
        assert.ok(done.operation.location.startsWith(`${dir}/`), done.operation.location);
        assert.ok(existsSync(join(done.operation.location, "_metadata")), done.operation.location);
      }
    } finally {
      await stopJob(job);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("POST /jobs/:jobid/stop stops the job with a savepoint", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-stop-"));
    const { job, url } = await startJob();
    try {
      const posted = await api(url, `/jobs/${job.id}/stop`, { method: "POST", json: { targetDirectory: dir, drain: false } });
      assert.equal(posted.status, 202);
      const done = await pollSavepoint(url, job.id, posted.body["request-id"]);
      assert.ok(existsSync(done.operation.location));
      const result = await job.done;
      assert.equal(result.status, "stopped");
      assert.equal(result.savepoint, done.operation.location);
    } finally {
      await stopJob(job);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("savepoint and stop bodies are checked: missing directory, wrong types and unknown fields are 400s", async () => {
    const { job, url } = await startJob();
    try {
      const cases: [string, unknown, RegExp][] = [
        ["savepoints", {}, /"target-directory" is required/],
        ["savepoints", { "target-directory": 42 }, /"target-directory" must be a string, got 42/],
        ["savepoints", { "target-directory": "/tmp/x", "cancel-job": "yes" }, /"cancel-job" must be a boolean, got "yes"/],
        ["savepoints", { target_directory: "/tmp/x" }, /Unknown field "target_directory"/],
        ["stop", { drain: true }, /"targetDirectory" is required/],
        ["stop", { targetDirectory: null, triggerId: null }, /"targetDirectory" is required/],
        ["savepoints", { "target-directory": "/tmp/x", typo: null }, /Unknown field "typo"/],
        ["stop", { targetDirectory: "/tmp/x", drain: 1 }, /"drain" must be a boolean, got 1/],
        // A URI of a scheme the file system cannot write (it became a directory "s3:" under the working directory).
        ["savepoints", { "target-directory": "s3://bucket/sp" }, /names the scheme "s3:"/],
        ["stop", { targetDirectory: "hdfs:///sp" }, /names the scheme "hdfs:"/],
        ["savepoints", { "target-directory": "file://other-host/sp" }, /names the host "other-host"/],
      ];
      for (const [endpoint, body, message] of cases) {
        const res = await api(url, `/jobs/${job.id}/${endpoint}`, { method: "POST", json: body });
        assert.equal(res.status, 400, `${endpoint} ${JSON.stringify(body)}`);
        assert.match(res.body.errors[0], message);
      }
      assert.equal(job.status, "RUNNING");
      const unknown = await api(url, `/jobs/${job.id}/savepoints/nope`);
      assert.equal(unknown.status, 404);
    } finally {
      await stopJob(job);
    }
  });
});
