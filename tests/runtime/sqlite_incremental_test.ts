import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { assertExactlyOnce, checkpointsCompleted, countingJob, FailOnce } from "../helpers.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileStorage, MemoryStorage, StreamEnvironment } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";

describe("sqlite backend with incremental checkpoints in a job", () => {
  test("a failure restores from native base + changelog files, exactly-once; files no checkpoint needs are deleted", async () => {
    const storage = new MemoryStorage();
    let armed = false;
    const fail = new FailOnce(() => armed);
    const { env, sink, n } = countingJob({
      storage,
      checkpoint: { interval: 5 },
      failInMap: fail,
      // Long enough (5 s) that 20 checkpoints complete before the end on a loaded machine.
      ratePerSecond: 20_000,
      n: 100_000,
      state: { backend: "sqlite", incremental: true },
    });
    const job = await env.execute();
    await checkpointsCompleted(job, 20);
    // Enough checkpoints for the files of old ones to pile up if nothing deleted them.
    // Shared files live in the job's directory (<jobName>/<jobId>/shared/), as in Flink.
    const files = (await storage.list("")).filter((k) => k.includes("/shared/sqlite/"));
    const bySubtask = new Map<string, number>();
    for (const f of files) {
      const subtask = f.split("/").slice(0, -1).join("/");
      bySubtask.set(subtask, (bySubtask.get(subtask) ?? 0) + 1);
    }
    assert.equal(bySubtask.size, 3, "each reduce subtask writes its own files");
    // One retained chain (a base and at most 8 changelogs) plus checkpoints in flight.
    for (const [subtask, count] of bySubtask) assert.ok(count <= 2 * 9, `${subtask}: ${count} files after 20 checkpoints`);
    armed = true;
    const result = await job.done;
    assert.equal(result.status, "finished");
    assert.ok((job.checkpointStats().latest.restored?.id ?? 0) >= 20, "restored from a native checkpoint");
    assertExactlyOnce(sink.committed, n);
  });
});

describe("sqlite native checkpoints restored at another parallelism", () => {
  test("a retained checkpoint of 3 subtasks restores into 2: every key's sum carries on", async () => {
    const root = mkdtempSync(join(tmpdir(), "weir-sqlite-rescale-"));
    const N = 20_000;
    const KEYS = 50;
    type P = [key: number, sum: number];
    // The first run's source stops at half its input and waits there, so that the job is
    // still running when its checkpoints complete and it is canceled (a finished job keeps
    // no checkpoint), however slowly a loaded machine takes them.
    const job = (parallelism: number, sink: CollectSink<P>, allowed: number, restoreFrom?: string) => {
      // One storage root for both runs: checkpoint files refer to shared files beside them.
      const env = new StreamEnvironment({
        jobName: "sqlite-rescale",
        storage: new FileStorage(root),
        parallelism,
        restoreFrom,
        checkpoint: { interval: 5 },
        state: { backend: "sqlite", incremental: true },
      });
      const source = new GatedSequence(N);
      source.allowed = allowed;
      env.fromSource<number>(source, { uid: "n", parallelism: 1 })
        .map((n): P => [n % KEYS, n], { uid: "pair" })
        .keyBy((p) => p[0])
        .reduce((a, b): P => [a[0], a[1] + b[1]], { uid: "sum" })
        .sinkTo(sink, { uid: "out", parallelism: 1 });
      return env;
    };
    const sink = new CollectSink<P>();
    const first = await job(3, sink, N / 2).execute();
    await checkpointsCompleted(first, 5);
    await first.cancel();
    const storage = new FileStorage(root);
    const metadata = (await storage.list("sqlite-rescale/")).filter((k) => k.endsWith("/_metadata"));
    assert.equal(metadata.length, 1, "one retained checkpoint");
    const second = await job(2, sink, N, join(root, metadata[0])).execute();
    assert.equal((await second.done).status, "finished");
    const finals = new Map<number, number>();
    for (const [k, s] of sink.committed) finals.set(k, Math.max(finals.get(k) ?? 0, s));
    for (let k = 0; k < KEYS; k++) {
      let expected = 0;
      for (let n = k; n < N; n += KEYS) expected += n;
      assert.equal(finals.get(k), expected, `key ${k}`);
    }
  });
});
