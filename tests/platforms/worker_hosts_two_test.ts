/**
 * Two Worker hosts in one job: the map stage in one Worker, the keyed stage in another,
 * source and sink in the main thread; the Workers' channels to each other go through a
 * MessagePort between them, or (direct: false) through the main thread, which relays them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemScheduler } from "../../platforms/system.ts";
import { WorkerHost } from "../../platforms/worker_threads/worker_host.ts";
import { WorkerThreadTransport } from "../../platforms/worker_threads/transport.ts";
import { assertExactlyOnce } from "../helpers.ts";
import { threeStageJob } from "./fixtures/worker_job.ts";

for (const direct of [true, false]) {
  test(`two stages in two Worker threads, a failure in one: exactly-once (${direct ? "a MessagePort between the Workers" : "relayed by the main thread"})`, () => twoWorkers(direct));
}

async function twoWorkers(direct: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "weir-workers-"));
  const args = { dir, n: 20_000, failAt: 1_000 };
  const env = threeStageJob({ ...args, failAt: undefined });
  const vertices = env.jobGraph().vertices;
  const of = (uid: string) => vertices.find((v) => v.uids.includes(uid))!.id;
  const place = new Map([[of("pair"), "w1"], [of("sum"), "w2"]]);
  const hostOf = (s: { vertexId: string }) => place.get(s.vertexId) ?? "main";
  const transport = new WorkerThreadTransport({ scheduler: systemScheduler, threadOf: hostOf });
  const module = new URL("./fixtures/worker_job.ts", import.meta.url).href;
  const w1 = new WorkerHost({ hostId: "w1", module, export: "threeStageJob", args, transport, direct });
  const w2 = new WorkerHost({ hostId: "w2", module, export: "threeStageJob", args, transport, direct });
  (env.options as { runtime?: unknown }).runtime = { transport, hostOf, remoteHosts: { w1, w2 }, metricsIntervalMs: 200 };
  try {
    const job = await env.execute();
    const result = await job.done;
    assert.equal(result.status, "finished", String(result.error));
    // Only the workers build the job with the failure armed: a restart proves "sum" ran in one.
    assert.ok(result.restarts >= 1, "the failure in a worker restarted the job");
    if (direct) {
      assert.equal(w1.portsHandedOut + w2.portsHandedOut, 1, "the second Worker got a port to the first");
      assert.equal(transport.relayed, 0, "no frame took the main thread's hop");
    } else {
      assert.ok(transport.relayed > 0, "the main thread relayed the frames between the two workers");
    }
    assert.equal(w1.started + w2.started, 2, "a failing subtask does not kill its worker");
    assertExactlyOnce(env.sink!.committed, args.n);
    // The Workers reported their subtasks' figures (at the latest with their end of input); a Worker that had not would show zeros.
    for (const uid of ["pair", "sum"]) {
      const v = job.vertices().find((x) => x.uids.includes(uid))!;
      assert.equal(v.subtasks.length, v.parallelism, `every ${uid} subtask is listed`);
      assert.ok(v.subtasks.some((s) => s.recordsIn > 0), `${uid} in a Worker shows records in`);
    }
  } finally {
    w1.terminate();
    w2.terminate();
    rmSync(dir, { recursive: true, force: true });
  }
}
