import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertExactlyOnce, countingJob, FailOnce } from "../helpers.ts";
import { SqliteStorage } from "../../mod.ts";
import type { JobHandle } from "../../runtime/job_handle.ts";
import { runStorageConformance } from "./conformance.ts";

runStorageConformance("SqliteStorage (file)", () => new SqliteStorage(join(mkdtempSync(join(tmpdir(), "weir-sqlite-")), "state.db")));
runStorageConformance("SqliteStorage (:memory:)", () => new SqliteStorage(":memory:"));

describe("SqliteStorage", () => {
  test("a job on SQLite recovers exactly-once from its checkpoints", async () => {
    const storage = new SqliteStorage(join(mkdtempSync(join(tmpdir(), "weir-sqlite-")), "job.db"));
    // Fails once a checkpoint completed, not at a fixed record: on a loaded machine the
    // first checkpoint on SQLite can complete after any given record.
    const running: { job?: JobHandle } = {};
    const fail = new FailOnce(() => (running.job?.checkpointStats().counts.completed ?? 0) >= 1);
    const { env, sink, n } = countingJob({ storage, checkpoint: { interval: 10 }, failInMap: fail, ratePerSecond: 50_000, n: 12_000 });
    const job = (running.job = await env.execute());
    const result = await job.done;
    assert.equal(result.status, "finished");
    assert.ok(fail.fired, "the failure was injected");
    assert.ok((job.checkpointStats().latest.restored?.id ?? 0) >= 1);
    assertExactlyOnce(sink.committed, n);
    storage.close();
  });

  test("data written survives reopening the database", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "weir-sqlite-")), "re.db");
    const a = new SqliteStorage(path);
    await a.put("x/y", new Uint8Array([4, 2]));
    a.close();
    const b = new SqliteStorage(path);
    assert.deepEqual(await b.get("x/y"), new Uint8Array([4, 2]));
    b.close();
  });
});
