import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { MemoryStorage, type StorageAdapter, registerStateBackend } from "../../mod.ts";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
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

/** A disk that fills up on demand, and how many writes it refused. */
interface Disk {
  full: boolean;
  refused: number;
}

/**
 * Runs a counting job on `storage` and `state`, fills `disk` until a checkpoint failed, and
 * checks the outcome: the failure is `storage_failed`; with failures tolerated later
 * checkpoints complete and the job never restarts, with none it restarts; exactly-once.
 */
async function runThroughFullDisk(disk: Disk, o: { storage: StorageAdapter; state: { backend: string; incremental?: boolean }; tolerableFailures: number }): Promise<void> {
  const { env, sink, n } = countingJob({ n: 30_000, ratePerSecond: 6000, storage: o.storage, state: o.state, checkpoint: { interval: 20, tolerableFailures: o.tolerableFailures } });
  const job = await env.execute();
  await checkpointsCompleted(job, 2);
  disk.full = true;
  await until("a checkpoint failed", () => job.checkpointStats().latest.failed !== null);
  disk.full = false;
  const failed = job.checkpointStats().latest.failed!;
  assert.equal(failed.failure_reason, "storage_failed", `failed as ${failed.failure_reason}: ${failed.failure_message ?? ""}`);
  assert.ok(disk.refused > 0, "writes were refused");
  if (o.tolerableFailures > 0) {
    const completed = job.checkpointStats().counts.completed;
    await checkpointsCompleted(job, completed + 2);
    assert.ok(job.checkpointStats().latest.completed!.id > failed.id, "a later checkpoint completed");
  }
  const result = await job.done;
  assert.equal(result.status, "finished", result.error);
  if (o.tolerableFailures > 0) assert.equal(job.restarts, 0, "no restart");
  else assert.ok(job.restarts >= 1, "the failed checkpoint failed the job, which restarted");
  assertExactlyOnce(sink.committed, n);
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
        await runThroughFullDisk(storage, { storage, state: { backend: "sqlite", incremental }, tolerableFailures });
      });
    }
  }
});

/** The real driver, with appends to the working directory's changelog files failing while `full` is set. */
const workingDisk = { full: false, refused: 0 };
registerStateBackend(
  "sqlite-full-working-disk",
  Object.assign(
    (init: ConstructorParameters<typeof SqliteKeyedStateBackend>[0]) =>
      new SqliteKeyedStateBackend(init, {
        directory: mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-working-disk-")),
        // Every changelog record goes to its file at once: the disk is met on every write-back.
        changelogMemoryBytes: 0,
        driver: {
          ...sqliteDriver,
          writeFile(path: string, bytes: Uint8Array, append?: boolean) {
            if (workingDisk.full && /\.log-\d+$/.test(path)) {
              workingDisk.refused++;
              throw new Error(`ENOSPC: no space left on device, write '${path}'`);
            }
            sqliteDriver.writeFile(path, bytes, append);
          },
        },
      }),
    { incrementalByDefault: true },
  ),
);

/**
 * The same for the disk under the subtask's working files: an append to the changelog file
 * a checkpoint of sqlite state writes from fails while the checkpoint's step runs (not in a
 * promise). It too fails that checkpoint only (it failed the operator, and the job, before).
 */
describe("sqlite state when its working disk runs out of space during a checkpoint", () => {
  for (const tolerableFailures of [1000, 0]) {
    const outcome = tolerableFailures > 0 ? "the job runs on and later checkpoints complete" : "the job restarts from the last completed checkpoint";
    test(`the checkpoint whose changelog could not be appended to fails with storage_failed; ${outcome}`, async () => {
      workingDisk.full = false;
      workingDisk.refused = 0;
      await runThroughFullDisk(workingDisk, { storage: new MemoryStorage(), state: { backend: "sqlite-full-working-disk" }, tolerableFailures });
    });
  }
});
