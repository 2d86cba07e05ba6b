/**
 * Regression (found in a review): env.execute() that fails after the REST API was started (an unreadable restoreFrom, an
 * incompatible checkpoint) rejects, but leaves the HTTP server listening and the job in the
 * registry as INITIALIZING forever: job.done never resolves, so the server is never closed and
 * a script that caught the error never exits. A job whose server could not be started stays
 * listed (CREATED) by the other jobs' GET /jobs.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment, jobRegistry } from "../../mod.ts";
import type { JobHandle } from "../../mod.ts";
import { serverClosed } from "../../http/server.ts";

const SLOW = { timeout: 20_000 };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("execute() failing after the REST API started", () => {
  test("a failed execute() ends the job and closes its REST API server", SLOW, async () => {
    let handle: JobHandle | undefined;
    const off = jobRegistry.onJob((j) => {
      if (j.name === "leak-restore") handle = j;
    });
    try {
      const env = new StreamEnvironment({
        jobName: "leak-restore",
        storage: new MemoryStorage(),
        http: { port: 0 },
        restoreFrom: "./tests/no-such-savepoint-dir",
      });
      env.fromSource(new SequenceSource(0, 10), { uid: "n" }).sinkTo(new CollectSink(), { uid: "out" });
      await assert.rejects(env.execute(), /No _metadata in .*no-such-savepoint-dir, so no savepoint or checkpoint there/);
      assert.ok(handle, "the job was registered with the REST API");
      const url = handle.url;
      assert.ok(url, "a server was started for it");
      // The job never ran: done must settle (e.g. "failed") so the server is released.
      const settled = await Promise.race([handle.done.then(() => true), sleep(1500).then(() => false)]);
      assert.equal(settled, true, `job.done never resolves after execute() rejected; status stays ${handle.status}`);
      assert.notEqual(handle.status, "INITIALIZING", "GET /jobs shows a job that will never start");
      await Promise.race([serverClosed(url), sleep(2500)]);
      const stillUp = await fetch(`${url}/jobs`).then(async (r) => (await r.body?.cancel(), true), () => false);
      assert.equal(stillUp, false, `the REST API at ${url} keeps listening (and keeps the process alive)`);
    } finally {
      off();
      if (handle && handle.status !== "FINISHED" && handle.status !== "FAILED" && handle.status !== "CANCELED") {
        await handle.cancel();
        await serverClosed(handle.url);
      }
    }
  });

  test("a job whose REST API could not start is not listed by other jobs' GET /jobs", SLOW, async () => {
    const envA = new StreamEnvironment({ jobName: "ghost-a", storage: new MemoryStorage(), http: { port: 0 }, checkpoint: { interval: 0 } });
    envA.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER, { ratePerSecond: 100 }), { uid: "n" }).sinkTo(new CollectSink(), { uid: "out" });
    const a = await envA.execute();
    try {
      const port = Number(new URL(a.url!).port);
      // Port 0 servers are not shared; ask for A's port explicitly with a token: refused.
      const envB = new StreamEnvironment({ jobName: "ghost-b", storage: new MemoryStorage(), http: { port, token: "other" } });
      envB.fromSource(new SequenceSource(0, 10), { uid: "n" }).sinkTo(new CollectSink(), { uid: "out" });
      await assert.rejects(envB.execute());
      const res = await fetch(`${a.url}/jobs`);
      const { jobs } = await res.json() as { jobs: { name: string; status: string }[] };
      const ghost = jobs.find((j) => j.name === "ghost-b");
      assert.ok(ghost === undefined || ["FAILED", "CANCELED"].includes(ghost.status), `GET /jobs lists a job that never ran: ${JSON.stringify(ghost)}`);
    } finally {
      await a.cancel();
      await serverClosed(a.url);
    }
  });
});
