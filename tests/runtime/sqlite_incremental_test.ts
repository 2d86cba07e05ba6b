import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { assertExactlyOnce, checkpointsCompleted, countingJob, FailOnce } from "../helpers.ts";
import { MemoryStorage } from "../../mod.ts";

describe("sqlite backend with incremental checkpoints in a job", () => {
  test("a failure restores from native base + changelog files, exactly-once; files no checkpoint needs are deleted", async () => {
    const storage = new MemoryStorage();
    let armed = false;
    const fail = new FailOnce(() => armed);
    const { env, sink, n } = countingJob({
      storage,
      checkpoint: { interval: 5 },
      failInMap: fail,
      ratePerSecond: 20_000,
      n: 40_000,
      state: { backend: "sqlite", incremental: true },
    });
    const job = await env.execute();
    await checkpointsCompleted(job, 20);
    // Enough checkpoints for the files of old ones to pile up if nothing deleted them.
    const files = await storage.list("shared/sqlite/");
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
