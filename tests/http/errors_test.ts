import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { MemoryStorage, SequenceSource, StreamEnvironment, CollectSink } from "../../mod.ts";
import { api, startJob, stopJob } from "./helpers.ts";

describe("REST API: bad input and access", () => {
  test("malformed JSON, non-object bodies and unknown fields are 400s with an errors array naming the problem", async () => {
    const { job, url } = await startJob();
    try {
      const broken = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", body: "{not json", headers: { "content-type": "application/json" } });
      assert.equal(broken.status, 400);
      assert.equal(broken.body.code, "invalid_json");
      assert.match(broken.body.errors[0], /not valid JSON/);
      const array = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", json: [1, 2] });
      assert.equal(array.status, 400);
      assert.match(array.body.errors[0], /must be a JSON object, got \[1,2\]/);
      const typed = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", json: { checkpointType: "INCREMENTAL" } });
      assert.equal(typed.status, 400);
      assert.match(typed.body.errors[0], /"checkpointType"/);
      const mode = await api(url, `/jobs/${job.id}?mode=stop`, { method: "PATCH" });
      assert.equal(mode.status, 400);
      assert.match(mode.body.errors[0], /mode must be "cancel", got "stop"/);
      assert.equal(job.checkpointStats().counts.total, 0, "no bad request triggered anything");
    } finally {
      await stopJob(job);
    }
  });

  test("an empty body sent as application/json is {} (Flink's defaults), as one sent without a media type is", async () => {
    const { job, url } = await startJob();
    try {
      for (const body of ["", "  \n"]) {
        const stop = await api(url, `/jobs/${job.id}/stop`, { method: "POST", body, headers: { "content-type": "application/json" } });
        assert.equal(stop.status, 400, JSON.stringify(stop.body));
        assert.match(stop.body.errors[0], /targetDirectory/);
      }
      const checkpoint = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", body: "", headers: { "content-type": "application/json" } });
      assert.equal(checkpoint.status, 202, JSON.stringify(checkpoint.body));
    } finally {
      await stopJob(job);
    }
  });

  test("unknown jobs and paths are 404s with an errors array", async () => {
    const { job, url } = await startJob();
    try {
      for (const [method, path] of [["GET", "/jobs/deadbeef"], ["GET", "/jobs/deadbeef/checkpoints"], ["GET", "/jobs/deadbeef/checkpoints/details/1"], ["POST", "/jobs/deadbeef/checkpoints"], ["PATCH", "/jobs/deadbeef"], ["GET", "/jobs/deadbeef/backpressure"]]) {
        const res = await api(url, path, { method });
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.deepEqual(res.body.errors, ['Job "deadbeef" not found']);
      }
      const nowhere = await api(url, "/nowhere");
      assert.equal(nowhere.status, 404);
      assert.match(nowhere.body.errors[0], /GET \/nowhere/);
    } finally {
      await stopJob(job);
    }
  });

  test("a body over the size limit is a 413", async () => {
    const { job, url } = await startJob();
    try {
      const res = await api(url, `/jobs/${job.id}/savepoints`, { method: "POST", body: JSON.stringify({ "target-directory": "x".repeat(100_000) }), headers: { "content-type": "application/json" } });
      assert.equal(res.status, 413);
      assert.match(res.body.errors[0], /larger than 65536 bytes/);
    } finally {
      await stopJob(job);
    }
  });

  test("with a token, mutating endpoints need it (401 without or wrong) while reads stay open", async () => {
    const { job, url } = await startJob({ token: "s3cret" });
    try {
      const without = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST" });
      assert.equal(without.status, 401);
      assert.equal(without.headers.get("www-authenticate"), 'Bearer realm="weir"');
      assert.match(without.body.errors[0], /bearer token/);
      assert.equal((await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", token: "wrong" })).status, 401);
      assert.equal((await api(url, `/jobs/${job.id}?mode=cancel`, { method: "PATCH" })).status, 401);
      assert.equal((await api(url, `/jobs/${job.id}/stop`, { method: "POST", json: { targetDirectory: "/tmp" } })).status, 401);
      assert.equal(job.checkpointStats().counts.total, 0);
      assert.equal((await api(url, `/jobs/${job.id}/checkpoints`)).status, 200);
      assert.equal((await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", token: "s3cret" })).status, 202);
      assert.equal((await api(url, `/jobs/${job.id}?mode=cancel`, { method: "PATCH", token: "s3cret" })).status, 202);
      assert.equal((await job.done).status, "canceled");
    } finally {
      await stopJob(job);
    }
  });

  test("WEIR_TOKEN guards mutating endpoints when no token option is given", async () => {
    const saved = process.env.WEIR_TOKEN;
    process.env.WEIR_TOKEN = "from-env";
    let started: Awaited<ReturnType<typeof startJob>> | undefined;
    try {
      started = await startJob();
    } finally {
      if (saved === undefined) delete process.env.WEIR_TOKEN;
      else process.env.WEIR_TOKEN = saved;
    }
    const { job, url } = started;
    try {
      assert.equal((await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST" })).status, 401);
      assert.equal((await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", token: "from-env" })).status, 202);
    } finally {
      await stopJob(job);
    }
  });

  test("a mutating request from another origin is refused with 403", async () => {
    const { job, url } = await startJob();
    try {
      const res = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", headers: { origin: "https://evil.example" } });
      assert.equal(res.status, 403);
      assert.match(res.body.errors[0], /evil\.example/);
      assert.equal((await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", headers: { origin: url } })).status, 202);
    } finally {
      await stopJob(job);
    }
  });

  test("the server binds to 127.0.0.1 unless told otherwise", async () => {
    const env = new StreamEnvironment({ jobName: "bind", storage: new MemoryStorage(), http: { port: 0 } });
    env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER, { ratePerSecond: 100 })).sinkTo(new CollectSink<number>());
    const job = await env.execute();
    try {
      assert.match(job.url!, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(job.url, "http://127.0.0.1:0");
    } finally {
      await stopJob(job);
    }
  });

  test("invalid http options are refused by execute()", async () => {
    const env = new StreamEnvironment({ jobName: "bad-port", storage: new MemoryStorage(), http: { port: 70000 } });
    env.fromSource(new SequenceSource(0, 10)).sinkTo(new CollectSink<number>());
    await assert.rejects(env.execute(), /http\.port must be an integer between 0 and 65535, got 70000/);
  });
});
