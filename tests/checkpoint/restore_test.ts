import { describe, test } from "node:test";
import { type LoadedCheckpoint, readSharedFilesAtRoot } from "../../checkpoint/restore.ts";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileStorage, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { EnvironmentOptions, StorageAdapter } from "../../mod.ts";
import { until } from "../helpers.ts";

const KEYS = 200;

/**
 * The counts a job restored from `restoreFrom` holds for keys 0..KEYS-1: a bounded source
 * asks for each key once, with nothing to add (uid "count" is the counting job's reduce).
 */
async function countsIn(storage: StorageAdapter, restoreFrom: EnvironmentOptions["restoreFrom"], state: EnvironmentOptions["state"]): Promise<number[]> {
  const env = new StreamEnvironment({ jobName: "reader", parallelism: 3, storage, restoreFrom, allowNonRestoredState: true, restart: { strategy: "none" }, state });
  const sink = new CollectSink<[number, number]>();
  env.fromSource(new SequenceSource(0, KEYS), { uid: "keys", parallelism: 1 })
    .map((k): [number, number] => [k, 0], { uid: "ask" })
    .keyBy((p) => p[0])
    .reduce((a, b): [number, number] => [a[0], a[1] + b[1]], { uid: "count" })
    .sinkTo(sink, { uid: "answers" });
  const result = await (await env.execute()).done;
  if (result.status !== "finished") throw result.error ?? new Error(`the reader job ${result.status}`);
  const counts = new Array<number>(KEYS).fill(-1);
  for (const [k, c] of sink.committed) counts[k] = c;
  return counts;
}

/** A rolling count of records n (key n % KEYS) from one source subtask, so that a checkpoint holds the counts of a prefix. */
function countingJob(storage: StorageAdapter, state: EnvironmentOptions["state"]) {
  const env = new StreamEnvironment({ jobName: "first", parallelism: 2, storage, checkpoint: { retained: 1 }, restart: { strategy: "none" }, state });
  const seen = { n: 0 };
  env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 20_000 }), { uid: "n", parallelism: 1 })
    .map((n): [number, number] => (seen.n++, [n % KEYS, 1]), { uid: "pair" })
    .keyBy((p) => p[0])
    .reduce((a, b): [number, number] => [a[0], a[1] + b[1]], { uid: "count" })
    .sinkTo(new CollectSink<[number, number]>(), { uid: "out" });
  return { env, seen };
}

describe("restoreFrom an incremental checkpoint into a job on another storage", () => {
  const cases = [
    { backend: "heap", form: "path" },
    { backend: "sqlite", form: "path" },
    { backend: "heap", form: "storage" },
    // The same directory written as a user may: a doubled slash, a `.` segment.
    { backend: "heap", form: "untidy path" },
  ] as const;
  for (const { backend, form } of cases) {
    test(`${backend}, restoreFrom its ${form === "storage" ? "{ storage, path }" : `${form === "path" ? "" : "untidy "}directory path`}: its shared files are read where the checkpoint is, and the counts are those of the checkpoint`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "weir-restore-storage-"));
      try {
        const state = { backend, incremental: true };
        const first = countingJob(new FileStorage(dir), state);
        const job = await first.env.execute();
        await until("every key counted", () => first.seen.n > KEYS);
        assert.equal((await job.triggerCheckpoint()).status, "COMPLETED");
        const seen = first.seen.n;
        await until("more records", () => first.seen.n > seen + KEYS);
        const before = first.seen.n;
        // A changelog on the first checkpoint's base: the backend's own files, shared.
        const d = await job.triggerCheckpoint();
        assert.equal(d.status, "COMPLETED", d.failure_message);
        await job.cancel();

        const other = new MemoryStorage();
        const path = (d as typeof d & { external_path: string }).external_path;
        const untidy = path.replace(`/${job.id}/`, `/${job.id}//./`);
        const from = form === "path" ? path : form === "untidy path" ? untidy : { storage: new FileStorage(dir), path: `first/${job.id}/chk-${d.id}` };
        const counts = await countsIn(other, from, state);
        // The checkpoint holds the counts of records 0..n-1 of the sequence (key n % KEYS).
        const n = counts.reduce((a, b) => a + b, 0);
        assert.ok(n >= before, `the checkpoint holds ${n} records, ${before} were counted before it was triggered`);
        for (let k = 0; k < KEYS; k++) assert.equal(counts[k], Math.floor(n / KEYS) + (k < n % KEYS ? 1 : 0), `key ${k} of ${n} records`);
        assert.equal((await other.list("first/")).length, 0, "nothing of the first job is copied into the reader's storage");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe("readSharedFilesAtRoot", () => {
  test("a checkpoint naming shared files at a path not laid out as its job's warns that they are looked up in the restoring job's storage", () => {
    const metadata = { jobName: "j", jobId: "ab", checkpointId: 7, subtasks: [{ shared: ["j/ab/shared/x"] }] };
    const moved = { metadata, warnings: [], home: { kind: "directory", path: "/backup/chk-7" } } as unknown as LoadedCheckpoint;
    readSharedFilesAtRoot(moved, () => assert.fail("no root to open"));
    assert.deepEqual(moved.warnings.map((w) => w.code), ["shared_files_elsewhere"]);
    assert.match(moved.warnings[0].message, /\/backup\/chk-7 .*does not end with j\/ab\/chk-7/);
    const inPlace = { metadata, warnings: [], home: { kind: "directory", path: "/data/j/ab/./chk-7/" } } as unknown as LoadedCheckpoint;
    const root = new MemoryStorage();
    readSharedFilesAtRoot(inPlace, (path) => (assert.equal(path, "/data"), { storage: root }));
    assert.equal(inPlace.storage, root);
    assert.deepEqual(inPlace.warnings, []);
  });
});
