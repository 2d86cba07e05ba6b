import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemScheduler } from "../../platforms/system.ts";
import { WorkerHost } from "../../platforms/worker_threads/worker_host.ts";
import { WorkerThreadTransport } from "../../platforms/worker_threads/transport.ts";
import { assertExactlyOnce } from "../helpers.ts";
import { countingJob } from "./fixtures/worker_job.ts";

test("the keyed stage in a Worker thread, a failure there: exactly-once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "weir-worker-"));
  const args = { dir, n: 20_000, failAt: 1_000 };
  const env = countingJob({ ...args, failAt: undefined });
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  const hostOf = (s: { vertexId: string }) => (s.vertexId === keyed ? "w1" : "main");
  const transport = new WorkerThreadTransport({ scheduler: systemScheduler, threadOf: hostOf });
  const host = new WorkerHost({ hostId: "w1", module: new URL("./fixtures/worker_job.ts", import.meta.url).href, export: "countingJob", args, transport });
  (env.options as { runtime?: unknown }).runtime = { transport, hostOf, remoteHosts: { w1: host } };
  try {
    const job = await env.execute();
    const result = await job.done;
    assert.equal(result.status, "finished", String(result.error));
    // Only the worker builds the job with the failure armed: a restart proves "sum" ran there.
    assert.ok(result.restarts >= 1, "the failure in the worker restarted the job");
    assert.equal(host.started, 1);
    assertExactlyOnce(env.sink!.committed, args.n);
  } finally {
    host.terminate();
    rmSync(dir, { recursive: true, force: true });
  }
});
