import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage, type StorageAdapter } from "../../mod.ts";
import { assertExactlyOnce, checkpointsCompleted, countingJob, until } from "../helpers.ts";

/**
 * Checkpoint storage whose disk fills up on demand: while `full`, every write but a
 * checkpoint's `_metadata` fails as a full disk does (state files, shared files), so
 * every checkpoint taken meanwhile fails while it is being written.
 */
class FillingDisk implements StorageAdapter {
  readonly description = "filling-disk";
  readonly inner = new MemoryStorage();
  full = false;
  refused = 0;
  get(key: string) {
    return this.inner.get(key);
  }
  put(key: string, bytes: Uint8Array) {
    if (this.full && !key.endsWith("_metadata")) {
      this.refused++;
      return Promise.reject(new Error(`ENOSPC: no space left on device, write '${key}'`));
    }
    return this.inner.put(key, bytes);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  deletePrefix(prefix: string) {
    return this.inner.deletePrefix(prefix);
  }
}

/**
 * Issue 10, bad input: running out of disk while a checkpoint of sqlite state is written
 * fails that checkpoint (`storage_failed`), never the state already committed. With
 * failures tolerated the job runs on and later checkpoints complete; with none tolerated
 * it restarts from the last completed checkpoint, which must still restore whole (the
 * incremental backend must not have dropped files that checkpoint refers to). Either way
 * the output is exactly-once.
 */
describe("sqlite state when checkpoint storage runs out of space", () => {
  for (const incremental of [false, true]) {
    for (const tolerableFailures of [1000, 0]) {
      const mode = incremental ? "incremental (native files)" : "full (canonical tables)";
      const outcome = tolerableFailures > 0 ? "the job runs on and later checkpoints complete" : "the job restarts from the last completed checkpoint";
      test(`${mode}: a checkpoint written onto a full disk fails with storage_failed; ${outcome}`, async () => {
        const storage = new FillingDisk();
        const { env, sink, n } = countingJob({
          n: 30_000,
          ratePerSecond: 6000,
          storage,
          state: { backend: "sqlite", incremental },
          checkpoint: { interval: 20, tolerableFailures },
        });
        const job = await env.execute();
        await checkpointsCompleted(job, 2);
        storage.full = true;
        await until("a checkpoint failed", () => job.checkpointStats().latest.failed !== null);
        storage.full = false;
        const failed = job.checkpointStats().latest.failed!;
        assert.equal(failed.failure_reason, "storage_failed");
        assert.ok(storage.refused > 0, "writes were refused");
        if (tolerableFailures > 0) {
          const completed = job.checkpointStats().counts.completed;
          await checkpointsCompleted(job, completed + 2);
          assert.ok(job.checkpointStats().latest.completed!.id > failed.id, "a later checkpoint completed");
        }
        const result = await job.done;
        assert.equal(result.status, "finished");
        if (tolerableFailures > 0) assert.equal(job.restarts, 0, "no restart");
        else assert.ok(job.restarts >= 1, "the failed checkpoint failed the job, which restarted");
        assertExactlyOnce(sink.committed, n);
      });
    }
  }
});
