import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { CollectSink, MemoryStorage } from "../../../mod.ts";
import { countJob } from "./fixtures/count_job.ts";
import { assertExactlyOnce, sleep, until } from "../../helpers.ts";
import { startWorker, type WorkerdHost, type WorkerOptions, workerdSkip } from "./workerd.ts";
import { awaitTrigger, json, jobId } from "./rest_client.ts";
import type { Pair } from "./fixtures/count_job.ts";

const hosts: WorkerdHost[] = [];
after(async () => {
  for (const h of hosts) await h.dispose().catch(() => {});
});

async function start(bindings: Record<string, string>, options: WorkerOptions & { objects?: Record<string, string> } = {}): Promise<WorkerdHost> {
  const host = await startWorker("./fixtures/job_worker.ts", options.objects ?? { WEIR_JOB: "TestJob" }, { ...options, bindings });
  hosts.push(host);
  return host;
}

if (workerdSkip) {
  describe("WeirJob under workerd", () => test("skipped", { skip: workerdSkip }, () => {}));
} else {
  describe("WeirJob under workerd", () => {
    test("a whole job in one WeirJob object ends exactly-once through an injected failure", { timeout: 120_000 }, async () => {
      const n = 30_000;
      const host = await start({ N: String(n), INTERVAL: "20", FAIL_AT: "17000" });
      const r = await json<{ status: string; restarts: number; committed: Pair[]; checkpoints: { completed: number } }>(host.fetch("/_test/done"));
      assert.equal(r.status, "finished");
      assert.ok(r.restarts >= 1, `restarts ${r.restarts}`);
      assertExactlyOnce(r.committed, n);
    });

    test("unaligned under backpressure: checkpoints persist in-flight data and the job ends exactly-once through an injected failure", { timeout: 120_000 }, async () => {
      const n = 20_000;
      const host = await start({ N: String(n), INTERVAL: "10", UNALIGNED: "true", SLOW_EVERY: "100", FAIL_AT: "14000" });
      const r = await json<{ status: string; restarts: number; committed: Pair[]; persisted: number[]; types: string[] }>(host.fetch("/_test/done"));
      assert.equal(r.status, "finished");
      assert.ok(r.restarts >= 1, `restarts ${r.restarts}`);
      assert.ok(r.types.includes("UNALIGNED_CHECKPOINT"), r.types.join());
      assert.ok(Math.max(...r.persisted) > 0, `persisted_data ${r.persisted.join()}`);
      assertExactlyOnce(r.committed, n);
    });

    test("a job whose graph changed since its stored checkpoint refuses to start with the same error as locally; WEIR_FRESH starts anew", { timeout: 120_000 }, async () => {
      const persistTo = mkdtempSync(join(tmpdir(), "weir-edge-graph-"));
      const vars = { N: "100000000", RATE: "2000", INTERVAL: "20" };
      const first = await startWorker("./fixtures/job_worker.ts", { WEIR_JOB: "TestJob" }, { persistTo, bindings: vars });
      const id = await jobId(first);
      for (let i = 0; i < 6000; i++) {
        const stats = await json<{ counts: { completed: number } }>(first.fetch(`/jobs/${id}/checkpoints`));
        if (stats.counts.completed > 0) break;
        await sleep(10);
      }
      await first.dispose();
      const changed = await start({ ...vars, SUM_UID: "total" }, { persistTo });
      // Every request, not only the first, is refused: the refused run is not forgotten.
      for (const path of ["/jobs", `/jobs/${id}/checkpoints`, "/jobs"]) {
        const res = await changed.fetch(path);
        const body = await json<{ errors: string[]; code: string }>(res);
        assert.equal(res.status, 409, JSON.stringify(body));
        assert.equal(body.code, "state_not_restored");
        assert.match(body.errors[0], new RegExp(`resumes the unfinished run ${id}.*"sum".*fresh: true.*WEIR_FRESH=true`));
      }
      await changed.dispose();
      const fresh = await start({ ...vars, SUM_UID: "total", WEIR_FRESH: "true" }, { persistTo });
      const { jobs } = await json<{ jobs: { id: string }[] }>(fresh.fetch("/jobs"));
      assert.notEqual(jobs[0].id, id, "a new run");
    });

    test("a stopped job is not run again by a wake, but WEIR_RESTORE_FROM naming its stop's savepoint starts a new run from it, once", { timeout: 120_000 }, async () => {
      const persistTo = mkdtempSync(join(tmpdir(), "weir-edge-stop-"));
      const vars = { N: "100000000", RATE: "2000", INTERVAL: "3600000" };
      const r2 = { persistTo, r2Buckets: ["WEIR_SAVEPOINTS"] };
      const first = await startWorker("./fixtures/job_worker.ts", { WEIR_JOB: "TestJob" }, { ...r2, bindings: vars });
      const id = await jobId(first);
      const stop = await json<{ "request-id": string }>(first.fetch(`/jobs/${id}/stop`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ targetDirectory: "stops", drain: false }),
      }));
      const stopped = await awaitTrigger(first, `/jobs/${id}/savepoints/${stop["request-id"]}`);
      const location = stopped.operation.location as string;
      assert.match(location, /^r2:\/\/WEIR_SAVEPOINTS\/stops\/savepoint-/, JSON.stringify(stopped));
      await first.dispose();

      // The same variables: the ended job stays ended.
      const again = await startWorker("./fixtures/job_worker.ts", { WEIR_JOB: "TestJob" }, { ...r2, bindings: vars });
      assert.equal(await jobId(again), id, "no new run without a configured start");
      await again.dispose();

      // Flink's stop-with-savepoint → run -s: a new run, restored from that savepoint.
      const restoreVars = { ...vars, WEIR_RESTORE_FROM: location };
      const restored = await startWorker("./fixtures/job_worker.ts", { WEIR_JOB: "TestJob" }, { ...r2, bindings: restoreVars });
      const second = await jobId(restored);
      assert.notEqual(second, id, "a new run");
      const stats = await json<{ latest: { restored: { external_path: string } | null } }>(restored.fetch(`/jobs/${second}/checkpoints`));
      assert.equal(stats.latest.restored?.external_path, location);
      await restored.dispose();

      // Evicted mid-run with the variable still set: it resumes the new run, not restores again.
      const resumed = await startWorker("./fixtures/job_worker.ts", { WEIR_JOB: "TestJob" }, { ...r2, bindings: restoreVars });
      assert.equal(await jobId(resumed), second);
      const cancel = await resumed.fetch(`/jobs/${second}?mode=cancel`, { method: "PATCH" });
      assert.equal(cancel.status, 202, await cancel.text());
      for (let i = 0; i < 600 && (await json<{ jobs: { status: string }[] }>(resumed.fetch("/jobs"))).jobs[0].status !== "CANCELED"; i++) await sleep(10);
      await resumed.dispose();
      // Ended again, with the variable still naming the savepoint it already started from: stays ended.
      const last = await startWorker("./fixtures/job_worker.ts", { WEIR_JOB: "TestJob" }, { ...r2, bindings: restoreVars });
      hosts.push(last);
      assert.equal(await jobId(last), second);
    });

    test("after a restart, an ended job answers GET /jobs and GET /jobs/:jobid in Flink's shapes, with its stop's savepoint", { timeout: 120_000 }, async () => {
      const persistTo = mkdtempSync(join(tmpdir(), "weir-edge-ended-"));
      const options = { persistTo, r2Buckets: ["WEIR_SAVEPOINTS"], bindings: { N: "100000000", RATE: "2000", INTERVAL: "3600000" } };
      const first = await startWorker("./fixtures/job_worker.ts", { WEIR_JOB: "TestJob" }, options);
      const id = await jobId(first);
      const stop = await json<{ "request-id": string }>(first.fetch(`/jobs/${id}/stop`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ targetDirectory: "stops", drain: false }),
      }));
      const location = (await awaitTrigger(first, `/jobs/${id}/savepoints/${stop["request-id"]}`)).operation.location as string;
      const live = await json<{ jobs: Record<string, unknown>[] }>(first.fetch("/jobs"));
      await first.dispose();
      const host = await start(options.bindings, options);
      const listed = await json<{ jobs: Record<string, unknown>[] }>(host.fetch("/jobs"));
      assert.deepEqual(listed, live, "the row the live job showed");
      assert.equal(listed.jobs[0].status, "FINISHED");
      assert.equal(listed.jobs[0]["weir-status"], "STOPPED");
      const res = await host.fetch(`/jobs/${id}`);
      const details = await json<Record<string, unknown>>(res);
      assert.equal(res.status, 200, JSON.stringify(details));
      assert.equal(details.jid, id);
      assert.equal(details.state, "FINISHED");
      assert.equal(details["weir-status"], "STOPPED");
      assert.equal(details["weir-savepoint"], location);
      assert.ok(Array.isArray(details.vertices) && details.vertices.length > 0);
      const stats = await json<{ latest: { savepoint: { external_path: string } } }>(host.fetch(`/jobs/${id}/checkpoints`));
      assert.equal(stats.latest.savepoint.external_path, location);
      assert.equal((await host.fetch("/jobs/0123456789abcdef0123456789abcdef")).status, 404);
    });

    test("a savepoint or stop whose target directory names an unknown bucket binding or scheme is a 400 naming it, and the job runs on", { timeout: 120_000 }, async () => {
      const host = await start({ N: "100000000", RATE: "2000", INTERVAL: "3600000" }, { r2Buckets: ["WEIR_SAVEPOINTS"] });
      const id = await jobId(host);
      for (const [path, body, named] of [
        ["savepoints", { "target-directory": "r2://NOPE/x", "cancel-job": false }, /binding NOPE/],
        ["savepoints", { "target-directory": "/tmp/x" }, /"\/tmp\/x".*|file system path/],
        ["stop", { targetDirectory: "s3://bucket/x", drain: false }, /scheme s3:/],
        // A checkpoint's address: the job's checkpoint storage, which the run deletes as it ends.
        ["stop", { targetDirectory: "do://WEIR_JOB/stops", drain: false }, /job's checkpoint storage/],
      ] as const) {
        const res = await host.fetch(`/jobs/${id}/${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        const answer = await json<{ errors: string[]; code: string }>(res);
        assert.equal(res.status, 400, JSON.stringify(answer));
        assert.equal(answer.code, "invalid_option");
        assert.match(answer.errors[0], named);
      }
      const { jobs } = await json<{ jobs: { status: string }[] }>(host.fetch("/jobs"));
      assert.equal(jobs[0].status, "RUNNING");
    });

    test("with WEIR_TOKEN, a savepoint without the token is 401 before its target directory is looked at", { timeout: 120_000 }, async () => {
      const host = await start({ N: "100000000", RATE: "2000", INTERVAL: "3600000", WEIR_TOKEN: "s3cret" }, { r2Buckets: ["WEIR_SAVEPOINTS"] });
      const id = await jobId(host);
      const post = (headers: Record<string, string>) => host.fetch(`/jobs/${id}/savepoints`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ "target-directory": "r2://NOPE/x" }) });
      const anonymous = await post({});
      assert.equal(anonymous.status, 401, await anonymous.text());
      const authorized = await post({ authorization: "Bearer s3cret" });
      assert.equal(authorized.status, 400, await authorized.text());
    });

    test("a checkpoint's external_path is an address WEIR_RESTORE_FROM takes: a new run restores it (subtasks in objects of their own) and the job ends exactly-once", { timeout: 120_000 }, async () => {
      const n = 20_000;
      const persistTo = mkdtempSync(join(tmpdir(), "weir-edge-chk-"));
      const objects = { WEIR_JOB: "TestJob", WEIR_SUBTASK: "TestSubtask" };
      const vars = { N: String(n), RATE: "4000", INTERVAL: "3600000", SINK: "storage" };
      const first = await startWorker("./fixtures/job_worker.ts", objects, { persistTo, bindings: vars });
      const id = await jobId(first);
      await until("records flowed", async () => (await json<{ jobs: { duration: number }[] }>(first.fetch("/jobs"))).jobs[0].duration > 500);
      const cp = await json<{ "request-id": string }>(first.fetch(`/jobs/${id}/checkpoints`, { method: "POST" }));
      const done = await awaitTrigger(first, `/jobs/${id}/checkpoints/${cp["request-id"]}`);
      const details = await json<{ external_path: string }>(first.fetch(`/jobs/${id}/checkpoints/details/${done.operation.checkpointId}`));
      assert.match(details.external_path, new RegExp(`^do://WEIR_JOB/counting/${id}/chk-\\d+$`));
      const before = (await json<{ committed: Pair[] }>(first.fetch("/_test/committed"))).committed;
      assert.ok(before.length > 0 && before.length < n, `${before.length} committed before the cancel`);
      assert.equal((await first.fetch(`/jobs/${id}?mode=cancel`, { method: "PATCH" })).status, 202);
      await until("the job was canceled", async () => (await json<{ jobs: { status: string }[] }>(first.fetch("/jobs"))).jobs[0].status === "CANCELED");
      await first.dispose();

      const second = await startWorker("./fixtures/job_worker.ts", objects, { persistTo, bindings: { ...vars, WEIR_RESTORE_FROM: details.external_path } });
      hosts.push(second);
      const r = await json<{ status: string; committed: Pair[]; restored: { external_path: string } | null; error?: string }>(second.fetch("/_test/done"));
      assert.equal(r.status, "finished", r.error);
      assert.equal(r.restored?.external_path, details.external_path);
      assertExactlyOnce(r.committed, n);
    });

    test("a Worker without the job's bindings answers every request with an error naming the binding", { timeout: 60_000 }, async () => {
      const noJob = await start({ N: "10" }, { objects: { OTHER: "TestJob" } });
      for (const path of ["/jobs", "/ingest/x", "/"]) {
        const res = await noJob.fetch(path);
        assert.equal(res.status, 500);
        const body = await json<{ errors: string[]; code: string }>(res);
        assert.equal(body.code, "binding_missing");
        assert.match(body.errors[0], /WEIR_JOB/);
      }
      const noVar = await start({});
      const body = await json<{ errors: string[] }>(noVar.fetch("/jobs"));
      assert.match(body.errors.join(), /binding N\b/);
    });

    test("alarms trigger checkpoints; an alarm delivered twice takes one checkpoint", { timeout: 60_000 }, async () => {
      // An interval far beyond the test: only alarms trigger checkpoints here.
      const host = await start({ N: "100000000", RATE: "2000", INTERVAL: "3600000" });
      const r = await json<{ before: number; after: number; alarmAt: number | null }>(host.fetch("/_test/alarm"));
      assert.equal(r.after, r.before + 1, `checkpoints before ${r.before}, after ${r.after}`);
      assert.ok(r.alarmAt !== null && r.alarmAt > Date.now() + 3_000_000, `next alarm at ${r.alarmAt}`);
      const again = await json<{ before: number; after: number }>(host.fetch("/_test/alarm"));
      assert.equal(again.after, again.before, "an alarm within the interval takes no checkpoint");
    });

    test("the Worker's entry refuses /_weir/ paths (calls between the job's objects, such as its storage) from outside", { timeout: 60_000 }, async () => {
      const host = await start({ N: "100000000", RATE: "2000", INTERVAL: "3600000" });
      for (const path of ["/_weir/storage/list?key=", "/_weir/frame", "/_weir/control"]) {
        const res = await host.fetch(path, { method: "POST" });
        const body = await json<{ code: string }>(res);
        assert.equal(res.status, 404, path);
        assert.equal(body.code, "not_found");
      }
    });

    test("a checkpoint and a savepoint triggered over HTTP complete; GET checkpoints shows them in Flink's shape", { timeout: 120_000 }, async () => {
      const host = await start({ N: "100000000", RATE: "5000", INTERVAL: "3600000" }, { r2Buckets: ["WEIR_SAVEPOINTS"] });
      const id = await jobId(host);
      const cp = await json<{ "request-id": string }>(host.fetch(`/jobs/${id}/checkpoints`, { method: "POST" }));
      const cpDone = await awaitTrigger(host, `/jobs/${id}/checkpoints/${cp["request-id"]}`);
      assert.equal(cpDone.status.id, "COMPLETED");
      assert.equal(typeof cpDone.operation.checkpointId, "number");
      const sp = await json<{ "request-id": string }>(host.fetch(`/jobs/${id}/savepoints`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ "target-directory": "savepoints", "cancel-job": false }),
      }));
      const spDone = await awaitTrigger(host, `/jobs/${id}/savepoints/${sp["request-id"]}`);
      assert.equal(spDone.status.id, "COMPLETED", JSON.stringify(spDone));
      const location = spDone.operation.location as string;
      assert.match(location, /^r2:\/\/WEIR_SAVEPOINTS\/savepoints\/savepoint-/);
      const bucket = await host.r2("WEIR_SAVEPOINTS");
      const key = location.slice("r2://WEIR_SAVEPOINTS/".length);
      assert.ok(await bucket.get(`${key}/_metadata`), `${key}/_metadata in R2`);
      const stats = await json<{ counts: { completed: number }; latest: { completed: { id: number }; savepoint: { external_path: string; checkpoint_type: string } }; history: unknown[] }>(host.fetch(`/jobs/${id}/checkpoints`));
      assert.ok(stats.counts.completed >= 2);
      assert.equal(stats.latest.savepoint.external_path, location);
      assert.equal(stats.latest.savepoint.checkpoint_type, "SAVEPOINT");
      assert.equal(stats.latest.completed.id, cpDone.operation.checkpointId);
    });

    test("a savepoint taken on the edge (R2) restores locally and the job ends exactly-once", { timeout: 120_000 }, async () => {
      const n = 20_000;
      const host = await start({ N: String(n), RATE: "4000", INTERVAL: "100" }, { r2Buckets: ["WEIR_SAVEPOINTS"] });
      const id = await jobId(host);
      // Output committed on the edge before the savepoint (asserted below), not a fixed second.
      await until("a checkpoint committed output on the edge", async () => (await json<{ committed: Pair[] }>(host.fetch("/_test/committed"))).committed.length > 0);
      const sp = await json<{ "request-id": string }>(host.fetch(`/jobs/${id}/savepoints`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ "target-directory": "r2://WEIR_SAVEPOINTS/exported", "cancel-job": true }),
      }));
      const spDone = await awaitTrigger(host, `/jobs/${id}/savepoints/${sp["request-id"]}`);
      assert.equal(spDone.status.id, "COMPLETED", JSON.stringify(spDone));
      const edge = await json<{ status: string; committed: Pair[] }>(host.fetch("/_test/done"));
      assert.equal(edge.status, "stopped");
      assert.ok(edge.committed.length > 0 && edge.committed.length < n, `${edge.committed.length} committed on the edge`);

      // Copy the savepoint's objects into a local directory, as a user would with rclone.
      const prefix = (spDone.operation.location as string).slice("r2://WEIR_SAVEPOINTS/".length);
      const dir = join(mkdtempSync(join(tmpdir(), "weir-edge-sp-")), basename(prefix));
      const bucket = await host.r2("WEIR_SAVEPOINTS");
      const listed = await bucket.list({ prefix: `${prefix}/` });
      assert.ok(!listed.truncated && listed.objects.length > 1);
      for (const { key } of listed.objects) {
        const file = join(dir, key.slice(prefix.length + 1));
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, new Uint8Array(await (await bucket.get(key))!.arrayBuffer()));
      }
      const sink = new CollectSink<Pair>();
      const local = await countJob({ n, sink, storage: new MemoryStorage(), restoreFrom: dir }).execute();
      const result = await local.done;
      assert.equal(result.status, "finished");
      assertExactlyOnce([...edge.committed, ...sink.committed], n);
    });

    test("a savepoint taken locally restores on the edge (from R2) and the job ends exactly-once", { timeout: 120_000 }, async () => {
      const n = 20_000;
      const sink = new CollectSink<Pair>();
      const local = await countJob({ n, sink, storage: new MemoryStorage(), ratePerSecond: 4000, checkpoint: { interval: 100 } }).execute();
      // Output committed before the stop (asserted below), not a fixed second.
      await until("a checkpoint committed output", () => sink.committed.length > 0);
      const savepoint = await local.stop({ savepoint: mkdtempSync(join(tmpdir(), "weir-local-sp-")) });
      assert.ok(sink.committed.length > 0 && sink.committed.length < n, `${sink.committed.length} committed locally`);

      const host = await start({ N: String(n), INTERVAL: "100", WEIR_RESTORE_FROM: `r2://WEIR_SAVEPOINTS/imported/${basename(savepoint)}` }, { r2Buckets: ["WEIR_SAVEPOINTS"] });
      const bucket = await host.r2("WEIR_SAVEPOINTS");
      const files = (d: string): string[] => readdirSync(d).flatMap((f) => statSync(join(d, f)).isDirectory() ? files(join(d, f)) : [join(d, f)]);
      for (const file of files(savepoint)) await bucket.put(`imported/${basename(savepoint)}/${relative(savepoint, file)}`, new Uint8Array(readFileSync(file)));
      const edge = await json<{ status: string; committed: Pair[]; error?: string }>(host.fetch("/_test/done"));
      assert.equal(edge.status, "finished", edge.error);
      assertExactlyOnce([...sink.committed, ...edge.committed], n);
    });

    test("workerd disposed and started again over its persisted storage: the job resumes from its latest checkpoint and ends exactly-once", { timeout: 120_000 }, async () => {
      const n = 20_000;
      const persistTo = mkdtempSync(join(tmpdir(), "weir-edge-dc-"));
      const vars = { N: String(n), RATE: "4000", INTERVAL: "100", SINK: "storage" };
      const first = await startWorker("./fixtures/job_worker.ts", { WEIR_JOB: "TestJob" }, { persistTo, bindings: vars });
      let before: Pair[] = [];
      for (let i = 0; i < 6000 && before.length === 0; i++) {
        before = (await json<{ committed: Pair[] }>(first.fetch("/_test/committed"))).committed;
        if (before.length === 0) await sleep(10);
      }
      // The whole "data center" stops mid-job, with a committed part and uncommitted work.
      await first.dispose();
      assert.ok(before.length > 0 && before.length < n, `${before.length} committed before the restart`);
      const second = await start(vars, { persistTo });
      const r = await json<{ status: string; restarts: number; committed: Pair[]; error?: string }>(second.fetch("/_test/done"));
      assert.equal(r.status, "finished", r.error);
      assert.ok(r.committed.length > before.length);
      assertExactlyOnce(r.committed, n);
    });
  });
}
