import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertExactlyOnce, sleep } from "../../helpers.ts";
import { startWorker, type WorkerdHost, type WorkerOptions, workerdSkip } from "./workerd.ts";
import { awaitTrigger, json, jobId } from "./rest_client.ts";
import type { Pair } from "./fixtures/count_job.ts";

const hosts: WorkerdHost[] = [];
after(async () => {
  for (const h of hosts) await h.dispose().catch(() => {});
});

/** The job fixture with WeirSubtask bound: every subtask in an object of its own. */
async function start(bindings: Record<string, string>, options: WorkerOptions = {}): Promise<WorkerdHost> {
  const host = await startWorker("./fixtures/job_worker.ts", { WEIR_JOB: "TestJob", WEIR_SUBTASK: "TestSubtask" }, { ...options, bindings: { SINK: "storage", ...bindings } });
  hosts.push(host);
  return host;
}

interface Done {
  status: string;
  restarts: number;
  committed: Pair[];
  error?: string;
  persisted: number[];
  types: string[];
  restored: { id: number } | null;
  objects: { hosts: string[]; controlCalls: number; reports: number; largestControlFrame: number };
}

if (workerdSkip) {
  describe("subtasks in WeirSubtask objects under workerd", () => test("skipped", { skip: workerdSkip }, () => {}));
} else {
  describe("subtasks in WeirSubtask objects under workerd", () => {
    test("the exactly-once job with every subtask in an object of its own ends exactly-once through an injected failure (aligned)", { timeout: 120_000 }, async () => {
      const n = 30_000;
      const host = await start({ N: String(n), INTERVAL: "50", FAIL_AT: "17000" });
      const r = await json<Done>(host.fetch("/_test/done"));
      assert.equal(r.status, "finished", r.error);
      assert.ok(r.restarts >= 1, `restarts ${r.restarts}`);
      // source+map x2, count x3, sink chained x3: five objects, none of them the job's.
      assert.equal(r.objects.hosts.length, 5, r.objects.hosts.join());
      assert.ok(r.objects.reports > 0);
      assertExactlyOnce(r.committed, n);
    });

    test("a rate-limited source across objects, its records held by WeirJob's default buffer timeout, ends exactly-once through an injected failure (unaligned)", { timeout: 120_000 }, async () => {
      const n = 4_000;
      const host = await start({ N: String(n), RATE: "4000", INTERVAL: "50", UNALIGNED: "true", FAIL_AT: "2500" });
      const r = await json<Done>(host.fetch("/_test/done"));
      assert.equal(r.status, "finished", r.error);
      assert.ok(r.restarts >= 1, `restarts ${r.restarts}`);
      assertExactlyOnce(r.committed, n);
    });

    test("a subtask object reset mid-job (as an eviction) fails the attempt; every object is redeployed from the latest checkpoint and the job ends exactly-once", { timeout: 120_000 }, async () => {
      const n = 300_000;
      const host = await start({ N: String(n), INTERVAL: "100" });
      let committed: Pair[] = [];
      for (let i = 0; i < 6000 && committed.length === 0; i++) {
        committed = (await json<{ committed: Pair[] }>(host.fetch("/_test/committed"))).committed;
        if (committed.length === 0) await sleep(10);
      }
      const aborted = await json<{ object: string; status: number; body: string }>(host.fetch("/_test/abort"));
      assert.notEqual(aborted.status, 500, `the object was not reset: ${aborted.body}`);
      const r = await json<Done>(host.fetch("/_test/done"));
      assert.equal(r.status, "finished", r.error);
      assert.ok(r.restarts >= 1, `restarts ${r.restarts}`);
      assertExactlyOnce(r.committed, n);
    });

    test("a redeploy restoring MBs of keyed state sends each object a control frame under 64 KiB: the object reads its own state files", { timeout: 120_000 }, async () => {
      const n = 300_000;
      const padBytes = 1_200_000;
      const host = await start({ N: String(n), INTERVAL: "200", PAD_BYTES: String(padBytes) });
      const id = await jobId(host);
      // Once a checkpoint holds the padding of all 7 keys, one keyed object is reset.
      let stateSize = 0;
      for (let i = 0; i < 6000 && stateSize < 7 * padBytes; i++) {
        const stats = await json<{ latest: { completed: { state_size: number } | null } }>(host.fetch(`/jobs/${id}/checkpoints`));
        stateSize = stats.latest.completed?.state_size ?? 0;
        if (stateSize < 7 * padBytes) await sleep(20);
      }
      assert.ok(stateSize >= 7 * padBytes, `a checkpoint of ${stateSize} bytes`);
      const aborted = await json<{ status: number; body: string }>(host.fetch("/_test/abort"));
      assert.notEqual(aborted.status, 500, `the object was not reset: ${aborted.body}`);
      const r = await json<Done>(host.fetch("/_test/done"));
      assert.equal(r.status, "finished", r.error);
      assert.ok(r.restarts >= 1 && r.restored, `restarts ${r.restarts}, restored ${JSON.stringify(r.restored)}`);
      assert.ok(r.objects.largestControlFrame < 64 * 1024, `largest control frame ${r.objects.largestControlFrame} bytes`);
      assertExactlyOnce(r.committed, n);
    });

    test("the master object reset mid-job while its subtask objects live on: the next request resumes the job from its latest checkpoint, the objects take the new master's deploy, and the job ends exactly-once", { timeout: 120_000 }, async () => {
      const n = 300_000;
      const host = await start({ N: String(n), INTERVAL: "100" });
      let committed: Pair[] = [];
      for (let i = 0; i < 6000 && committed.length === 0; i++) {
        committed = (await json<{ committed: Pair[] }>(host.fetch("/_test/committed"))).committed;
        if (committed.length === 0) await sleep(10);
      }
      // The reset request itself fails with the abort's reason.
      const res = await host.fetch("/_test/abort-master");
      assert.match(await res.text(), /injected by the test/);
      const r = await json<Done>(host.fetch("/_test/done"));
      assert.equal(r.status, "finished", r.error);
      assert.ok(committed.length < n, "reset mid-job");
      assertExactlyOnce(r.committed, n);
    });

    test("unaligned under backpressure across objects: checkpoints persist in-flight data and the job ends exactly-once through an injected failure", { timeout: 120_000 }, async () => {
      // Long enough that several checkpoints run under backpressure before the end on a fast,
      // quiet machine (with 20 000 records one run ended after three checkpoints, none unaligned).
      const n = 60_000;
      // Buffer timeout 0: a source poll's records go out as three small batches per step, which
      // fill the channels' 8 credits long before the source ends. With WeirJob's 10 ms they go
      // as ~20 full batches in all, fewer than the credits: the source never waits, and the
      // checkpoints find no data in flight to persist.
      const host = await start({ N: String(n), INTERVAL: "100", UNALIGNED: "true", SLOW_EVERY: "100", FAIL_AT: "40000", BUFFER_TIMEOUT: "0" });
      const r = await json<Done>(host.fetch("/_test/done"));
      assert.equal(r.status, "finished", r.error);
      assert.ok(r.restarts >= 1, `restarts ${r.restarts}`);
      assert.equal(r.objects.hosts.length, 5);
      assert.ok(r.types.includes("UNALIGNED_CHECKPOINT"), r.types.join());
      assert.ok(Math.max(...r.persisted) > 0, `persisted_data ${r.persisted.join()}`);
      assertExactlyOnce(r.committed, n);
    });

    test("a checkpoint and a savepoint triggered over HTTP complete across objects; GET checkpoints shows them", { timeout: 120_000 }, async () => {
      const host = await start({ N: "100000000", RATE: "5000", INTERVAL: "3600000" }, { r2Buckets: ["WEIR_SAVEPOINTS"] });
      const id = await jobId(host);
      const cp = await json<{ "request-id": string }>(host.fetch(`/jobs/${id}/checkpoints`, { method: "POST" }));
      const cpDone = await awaitTrigger(host, `/jobs/${id}/checkpoints/${cp["request-id"]}`);
      assert.equal(cpDone.status.id, "COMPLETED", JSON.stringify(cpDone));
      const sp = await json<{ "request-id": string }>(host.fetch(`/jobs/${id}/savepoints`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ "target-directory": "savepoints", "cancel-job": false }),
      }));
      const spDone = await awaitTrigger(host, `/jobs/${id}/savepoints/${sp["request-id"]}`);
      assert.equal(spDone.status.id, "COMPLETED", JSON.stringify(spDone));
      const location = spDone.operation.location as string;
      const bucket = await host.r2("WEIR_SAVEPOINTS");
      const key = location.slice("r2://WEIR_SAVEPOINTS/".length);
      const files = await bucket.list({ prefix: `${key}/` });
      // _metadata and one state file per subtask (5 subtask objects: 2 + 3).
      assert.ok(files.objects.length >= 6, files.objects.map((o) => o.key).join());
      const stats = await json<{ counts: { completed: number }; latest: { completed: { id: number }; savepoint: { external_path: string } } }>(host.fetch(`/jobs/${id}/checkpoints`));
      assert.equal(stats.latest.savepoint.external_path, location);
      assert.equal(stats.latest.completed.id, cpDone.operation.checkpointId);
      const objects = await json<{ objects: Done["objects"] }>(host.fetch("/_test/objects"));
      assert.equal(objects.objects.hosts.length, 5);
    });

    test("checkpoint files live in the subtask objects (WeirJob keeps _metadata); restarted at another parallelism over the persisted storage, the job reads the old subtasks' files from their objects, ends exactly-once and cleans every object up", { timeout: 120_000 }, async () => {
      const n = 500_000;
      const persistTo = mkdtempSync(join(tmpdir(), "weir-edge-objects-rescale-"));
      const first = await start({ N: String(n), INTERVAL: "100" }, { persistTo });
      let before: Pair[] = [];
      for (let i = 0; i < 6000 && before.length === 0; i++) {
        before = (await json<{ committed: Pair[] }>(first.fetch("/_test/committed"))).committed;
        if (before.length === 0) await sleep(10);
      }
      const id = await jobId(first);
      const names = (await json<{ objects: Done["objects"] }>(first.fetch("/_test/objects"))).objects.hosts;
      assert.equal(names.length, 5);
      const query = (list: string[]) => `/_test/storage?prefix=${encodeURIComponent(`counting/${id}/`)}${list.map((o) => `&object=${encodeURIComponent(o)}`).join("")}`;
      const listed = await json<{ job: string[]; objects: Record<string, string[]> }>(first.fetch(query(names)));
      const files = (keys: string[]) => keys.filter((k) => /\/chk-\d+\//.test(k));
      assert.ok(files(listed.job).length > 0, "the job object holds checkpoint metadata");
      assert.deepEqual(files(listed.job).filter((k) => !k.endsWith("/_metadata")), [], "the job object holds no state file");
      for (const name of names) {
        const [, vertexId, index] = name.split("/");
        const own = files(listed.objects[name]);
        assert.ok(own.length > 0, `object ${name} holds its checkpoint files`);
        for (const k of own) assert.ok(k.endsWith(`/${vertexId}-${index}`), `object ${name} holds ${k}`);
      }
      await first.dispose();
      assert.ok(before.length < n, `${before.length} committed before the restart`);

      // The keyed count and sink at 2 instead of 3: subtask 2's old files are read from its object.
      const second = await start({ N: String(n), INTERVAL: "100", SUM_PARALLELISM: "2" }, { persistTo });
      const r = await json<Done>(second.fetch("/_test/done"));
      assert.equal(r.status, "finished", r.error);
      assert.ok(r.restored, "the run resumed from its checkpoint");
      assert.equal(r.objects.hosts.length, 4);
      assertExactlyOnce(r.committed, n);
      const after = await json<{ job: string[]; objects: Record<string, string[]> }>(second.fetch(query(names)));
      assert.deepEqual([after.job, ...Object.values(after.objects)].flat(), [], "the finished run left no files in any object");
    });

    test("incremental checkpoints across objects: each object keeps its shared files, a reset object restores from them, the job ends exactly-once and no file is left anywhere", { timeout: 120_000 }, async () => {
      const n = 300_000;
      const host = await start({ N: String(n), INTERVAL: "100", INCREMENTAL: "true", PAD_BYTES: "1000" });
      let committed: Pair[] = [];
      for (let i = 0; i < 6000 && committed.length === 0; i++) {
        committed = (await json<{ committed: Pair[] }>(host.fetch("/_test/committed"))).committed;
        if (committed.length === 0) await sleep(10);
      }
      const id = await jobId(host);
      const names = (await json<{ objects: Done["objects"] }>(host.fetch("/_test/objects"))).objects.hosts;
      const query = `/_test/storage?prefix=${encodeURIComponent(`counting/${id}/shared/`)}${names.map((o) => `&object=${encodeURIComponent(o)}`).join("")}`;
      const listed = await json<{ job: string[]; objects: Record<string, string[]> }>(host.fetch(query));
      assert.deepEqual(listed.job, [], "no shared file in the job object");
      const keyedObjects = names.filter((name) => listed.objects[name].length > 0);
      assert.ok(keyedObjects.length >= 3, `the keyed objects hold shared files: ${JSON.stringify(listed.objects)}`);
      for (const name of keyedObjects) for (const k of listed.objects[name]) assert.ok(k.includes(`/${name.split("/")[2]}/`), `${name} holds ${k}`);
      const aborted = await json<{ status: number; body: string }>(host.fetch("/_test/abort"));
      assert.notEqual(aborted.status, 500, `the object was not reset: ${aborted.body}`);
      const r = await json<Done>(host.fetch("/_test/done"));
      assert.equal(r.status, "finished", r.error);
      assert.ok(r.restarts >= 1 && r.restored, `restarts ${r.restarts}`);
      assertExactlyOnce(r.committed, n);
      const after = await json<{ job: string[]; objects: Record<string, string[]> }>(host.fetch(query.replace(encodeURIComponent("shared/"), "")));
      assert.deepEqual([after.job, ...Object.values(after.objects)].flat(), [], "the finished run left no files in any object");
    });

    test("workerd disposed and started again over its persisted storage: the job across objects resumes from its latest checkpoint and ends exactly-once", { timeout: 120_000 }, async () => {
      // No rate limit: a rate-limited source sends a tiny batch every millisecond, and each
      // costs a call between objects (README, "Subtasks in objects of their own").
      const n = 300_000;
      const persistTo = mkdtempSync(join(tmpdir(), "weir-edge-objects-dc-"));
      const vars = { N: String(n), INTERVAL: "100" };
      const first = await start(vars, { persistTo });
      let before: Pair[] = [];
      for (let i = 0; i < 6000 && before.length === 0; i++) {
        before = (await json<{ committed: Pair[] }>(first.fetch("/_test/committed"))).committed;
        if (before.length === 0) await sleep(10);
      }
      await first.dispose();
      assert.ok(before.length > 0 && before.length < n, `${before.length} committed before the restart`);
      const second = await start(vars, { persistTo });
      const r = await json<Done>(second.fetch("/_test/done"));
      assert.equal(r.status, "finished", r.error);
      assert.equal(r.objects.hosts.length, 5);
      assert.ok(r.committed.length > before.length);
      assertExactlyOnce(r.committed, n);
    });
  });
}
