import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemScheduler } from "../../platforms/system.ts";
import { WorkerHost } from "../../platforms/worker_threads/worker_host.ts";
import { WorkerThreadTransport } from "../../platforms/worker_threads/transport.ts";
import type { WeirError } from "../../errors.ts";
import { assertExactlyOnce } from "../helpers.ts";
import { hangingOnceJob } from "./fixtures/worker_job.ts";

test("a Worker that hangs before answering its deploy times out and is terminated; the restart starts another Worker: exactly-once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "weir-worker-hangs-"));
  const args = { dir, n: 5_000 };
  const env = await hangingOnceJob(args);
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  const hostOf = (s: { vertexId: string }) => (s.vertexId === keyed ? "w1" : "main");
  const transport = new WorkerThreadTransport({ scheduler: systemScheduler, threadOf: hostOf });
  const module = new URL("./fixtures/worker_job.ts", import.meta.url).href;
  const host = new WorkerHost({ hostId: "w1", module, export: "hangingOnceJob", args: { ...args, inWorker: true }, transport });
  // Long enough for a loaded machine to start a Worker; a second timeout would only add a restart.
  (env.options as { runtime?: unknown }).runtime = { transport, hostOf, remoteHosts: { w1: host }, deployTimeoutMs: 4_000 };
  try {
    const job = await env.execute();
    const result = await job.done;
    assert.equal(result.status, "finished", String(result.error));
    assert.ok(result.restarts >= 1);
    assert.ok(host.started >= 2, "the hung Worker was replaced");
    assert.equal((job.lastError as WeirError).code, "deploy_timeout");
    assertExactlyOnce(env.sink!.committed, args.n);
  } finally {
    host.terminate();
    rmSync(dir, { recursive: true, force: true });
  }
});
