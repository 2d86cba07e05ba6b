import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage } from "../../mod.ts";
import { keyedCountJob, until } from "../helpers.ts";

const KEYS = 500;

/**
 * Local files whose disk is full for one write of subtask 1's shared state (a base or
 * changelog) when armed, as ENOSPC fails it: subtask 0 writes its file for the same
 * checkpoint and acknowledges, so its backend's chain already ends with a file of a
 * checkpoint that fails.
 */
class OneFullWrite extends FileStorage {
  armed = false;
  refused: string[] = [];
  #refuse(key: string): boolean {
    if (!this.armed || !key.includes("/shared/") || !key.includes("/count/1/")) return false;
    this.armed = false;
    this.refused.push(key);
    return true;
  }
  override put(key: string, bytes: Uint8Array): Promise<void> {
    if (this.#refuse(key)) return Promise.reject(new Error(`ENOSPC: no space left on device, write '${key}'`));
    return super.put(key, bytes);
  }
  override putParts(key: string, parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    if (this.#refuse(key)) return Promise.reject(new Error(`ENOSPC: no space left on device, write '${key}'`));
    return super.putParts(key, parts);
  }
}

function countingJob(o: { backend: "heap" | "sqlite"; storage: FileStorage; parallelism: number; restoreFrom?: string; jobName: string }) {
  return keyedCountJob({
    jobName: o.jobName, parallelism: o.parallelism, storage: o.storage, restoreFrom: o.restoreFrom,
    checkpoint: { retained: 2, tolerableFailures: 5 }, state: { backend: o.backend, incremental: true },
  }, KEYS);
}

describe("out of disk during an incremental checkpoint (issue 10, bad input)", () => {
  for (const backend of ["heap", "sqlite"] as const) {
    test(`${backend}: a checkpoint whose shared file cannot be written fails with storage_failed; later checkpoints restore exactly, at another parallelism`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "weir-incremental-enospc-"));
      try {
        const storage = new OneFullWrite(dir);
        const run = countingJob({ backend, storage, parallelism: 2, jobName: "enospc" });
        const job = await run.env.execute();
        const outcome: string[] = [];
        let lastCompleted: { id: number; external_path?: string } | undefined;
        for (let i = 0; i < 6; i++) {
          const seenBefore = run.seen.n;
          await until("records flow", () => run.seen.n > seenBefore + KEYS);
          storage.armed = i === 2 || i === 4;
          const committedBefore = run.sink.committed.length;
          const d = await job.triggerCheckpoint();
          outcome.push(d.status === "FAILED" ? `FAILED:${d.failure_reason}` : d.status);
          // Only the checkpoint failed: the message names the operator's write, not a failed operator.
          if (d.status === "FAILED") assert.match(d.failure_message!, /operator "count" \(uid "count"\) could not write its state: ENOSPC/);
          if (d.status === "COMPLETED") {
            lastCompleted = d as typeof d & { external_path?: string };
            await until("the sink committed the checkpoint", () => run.sink.committed.length > committedBefore);
          }
        }
        assert.deepEqual(outcome, ["COMPLETED", "COMPLETED", "FAILED:storage_failed", "COMPLETED", "FAILED:storage_failed", "COMPLETED"]);
        assert.equal(storage.refused.length, 2, `refused writes: ${storage.refused}`);
        assert.equal(job.status, "RUNNING");
        await job.cancel();
        const first = await job.done;
        assert.equal(first.restarts, 0, "a failed checkpoint never failed the job (tolerableFailures)");
        const last = new Map<number, number>();
        for (const [k, v] of run.sink.committed) last.set(k, v);
        assert.equal(last.size, KEYS);

        assert.ok(lastCompleted?.external_path, "the latest completed checkpoint has a path");
        const again = countingJob({ backend, storage: new FileStorage(dir), parallelism: 3, restoreFrom: lastCompleted.external_path, jobName: "enospc-restored" });
        const restored = await again.env.execute();
        const runs = new Map<number, number[]>();
        for (;;) {
          const d = await restored.triggerCheckpoint();
          assert.equal(d.status, "COMPLETED", d.failure_message);
          await until("the restored sink committed", () => again.sink.committed.length > 0);
          runs.clear();
          for (const [k, v] of again.sink.committed) runs.set(k, [...(runs.get(k) ?? []), v]);
          if ([...last].every(([k, v]) => runs.get(k)?.includes(v + 1))) break;
        }
        await restored.cancel();
        await restored.done;
        // Each key continues from the count committed with that checkpoint: nothing lost, nothing twice.
        for (const [k, v] of last) {
          // Sorted: the transactions a restore commits again need not come in checkpoint order.
          const values = runs.get(k)!.toSorted((a, b) => a - b);
          assert.ok(values.every((x, i) => i === 0 || x === values[i - 1] + 1), `key ${k} counts ${values.slice(0, 8)}…`);
          assert.ok(values[0] <= v + 1, `key ${k} restored at ${values[0] - 1}, committed ${v}`);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
