import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage, WeirError } from "../../mod.ts";
import { keyedCountJob, until } from "../helpers.ts";

const KEYS = 300;

function countingJob(o: { dir: string; backend: "heap" | "sqlite"; incremental: boolean; jobName: string; restoreFrom?: string; restarts?: number }) {
  return keyedCountJob({
    jobName: o.jobName, parallelism: 2, storage: new FileStorage(o.dir), restoreFrom: o.restoreFrom,
    checkpoint: { retained: 1 }, restart: o.restarts ? { strategy: "fixed-delay", attempts: o.restarts, delay: 1 } : { strategy: "none" }, state: { backend: o.backend, incremental: o.incremental },
  }, KEYS);
}

/** Every file under dir with its size: what a refused restore must leave as it was. */
function files(dir: string, out = new Map<string, number>()): Map<string, number> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) files(p, out);
    else out.set(p, statSync(p).size);
  }
  return out;
}

describe("an incremental checkpoint restored by another backend (issue 10, bad input)", () => {
  for (const [from, to] of [["heap", "sqlite"], ["sqlite", "heap"]] as const) {
    test(`${from} incremental → ${to}: the job fails with state_backend_mismatch naming both backends, without restarting; the checkpoint stays restorable by ${from}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "weir-other-backend-"));
      try {
        const first = countingJob({ dir, backend: from, incremental: true, jobName: "first" });
        const job = await first.env.execute();
        await until("every key counted", () => first.seen.n > KEYS);
        await job.triggerCheckpoint();
        const seen = first.seen.n;
        await until("more records", () => first.seen.n > seen + KEYS);
        const d = await job.triggerCheckpoint(); // a changelog on the base: the backend's own format
        assert.equal(d.status, "COMPLETED");
        await job.cancel();
        await job.done;
        const path = (d as typeof d & { external_path: string }).external_path;
        const before = files(dir);

        const other = countingJob({ dir, backend: to, incremental: false, jobName: "other", restoreFrom: path, restarts: 3 });
        const refused = await (await other.env.execute()).done;
        assert.equal(refused.status, "failed");
        // Every attempt would refuse it alike.
        assert.equal(refused.restarts, 0);
        assert.ok(refused.error instanceof WeirError, String(refused.error));
        assert.equal(refused.error.code, "state_backend_mismatch", refused.error.message);
        assert.match(refused.error!.message, new RegExp(`"${from}"`));
        assert.match(refused.error!.message, new RegExp(`"${to}"`));
        assert.equal(other.sink.committed.length, 0);
        for (const [file, size] of before) assert.equal(files(dir).get(file), size, `${file} kept as it was`);

        const same = countingJob({ dir, backend: from, incremental: true, jobName: "same", restoreFrom: path });
        const again = await same.env.execute();
        const c = await again.triggerCheckpoint();
        assert.equal(c.status, "COMPLETED", c.failure_message);
        await again.cancel();
        assert.equal((await again.done).status, "canceled");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
