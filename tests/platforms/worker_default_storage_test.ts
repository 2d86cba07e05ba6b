import { test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { systemScheduler } from "../../platforms/system.ts";
import { WorkerHost } from "../../platforms/worker_threads/worker_host.ts";
import { WorkerThreadTransport } from "../../platforms/worker_threads/transport.ts";
import { assertExactlyOnce } from "../helpers.ts";
import { WeirError } from "../../errors.ts";
import { defaultStorageJob } from "./fixtures/worker_default_storage_job.ts";

test("a job that names no storage checkpoints from a Worker into the default directory, as the main thread does", async () => {
  // The Worker used to take env.options.storage as given (undefined) and every checkpoint
  // it took failed: "undefined is not an object (evaluating 'storage.putParts')".
  const args = { jobName: `worker-default-storage-${crypto.randomUUID().slice(0, 8)}`, n: 3_000 };
  const env = defaultStorageJob(args);
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  const hostOf = (s: { vertexId: string }) => (s.vertexId === keyed ? "w1" : "main");
  const transport = new WorkerThreadTransport({ scheduler: systemScheduler, threadOf: hostOf });
  const host = new WorkerHost({ hostId: "w1", module: new URL("./fixtures/worker_default_storage_job.ts", import.meta.url).href, export: "defaultStorageJob", args, transport });
  (env.options as { runtime?: unknown }).runtime = { transport, hostOf, remoteHosts: { w1: host } };
  try {
    const job = await env.execute();
    const result = await job.done;
    assert.equal(result.status, "finished", String(result.error));
    assert.equal(result.restarts, 0);
    assertExactlyOnce(env.sink!.committed, args.n);
  } finally {
    host.terminate();
    // A finished job deletes its files; FileStorage leaves the emptied directories.
    rmSync(`.weir/${args.jobName}`, { recursive: true, force: true });
  }
});

test("a job in MemoryStorage with a subtask in a Worker fails naming MemoryStorage, not at its first restore", async () => {
  // Each thread had its own MemoryStorage: the job ran, and its first restore failed with
  // "No _metadata in memory/…/chk-5 … (is the path right…)".
  const args = { jobName: "worker-memory-storage", n: 1_000, memory: true };
  const env = defaultStorageJob(args);
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  const hostOf = (s: { vertexId: string }) => (s.vertexId === keyed ? "w1" : "main");
  const transport = new WorkerThreadTransport({ scheduler: systemScheduler, threadOf: hostOf });
  const host = new WorkerHost({ hostId: "w1", module: new URL("./fixtures/worker_default_storage_job.ts", import.meta.url).href, export: "defaultStorageJob", args, transport });
  (env.options as { runtime?: unknown }).runtime = { transport, hostOf, remoteHosts: { w1: host } };
  try {
    const result = await (await env.execute()).done;
    assert.equal(result.status, "failed");
    assert.ok(result.error instanceof WeirError && /MemoryStorage, which is not shared between threads/.test(result.error.message), String(result.error));
  } finally {
    host.terminate();
  }
});

test("a Worker that builds the job on other storage than the main thread's fails the deploy naming both, not at its first restore", async () => {
  // Its checkpoints "completed" with its state files where the master never looked, and
  // every restore failed: "No _metadata in file:/…other…/chk-11".
  const dirs = [mkdtempSync(join(tmpdir(), "weir-main-")), mkdtempSync(join(tmpdir(), "weir-worker-"))];
  const env = defaultStorageJob({ jobName: "worker-other-storage", n: 1_000, dir: dirs[0] });
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  const hostOf = (s: { vertexId: string }) => (s.vertexId === keyed ? "w1" : "main");
  const transport = new WorkerThreadTransport({ scheduler: systemScheduler, threadOf: hostOf });
  const args = { jobName: "worker-other-storage", n: 1_000, dir: dirs[1] };
  const host = new WorkerHost({ hostId: "w1", module: new URL("./fixtures/worker_default_storage_job.ts", import.meta.url).href, export: "defaultStorageJob", args, transport });
  (env.options as { runtime?: unknown }).runtime = { transport, hostOf, remoteHosts: { w1: host } };
  try {
    const result = await (await env.execute()).done;
    assert.equal(result.status, "failed");
    assert.ok(result.error instanceof WeirError, String(result.error));
    assert.match(result.error.message, /Host w1 built the job with storage file:.*weir-worker-.*the master's is file:.*weir-main-/);
  } finally {
    host.terminate();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
