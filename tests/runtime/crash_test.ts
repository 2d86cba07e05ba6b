import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildRun, runChildJob } from "../child_job.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSink } from "../../mod.ts";
import { assertExactlyOnce, type Pair } from "../helpers.ts";

const fixture = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "fixtures", "crash_job.ts");

/** Runs the fixture job in a child process of the same runtime; resolves with its output lines. */
function runChild(args: string[], onLine: (line: Record<string, unknown>, kill: () => void) => void | Promise<void>): Promise<ChildRun> {
  return runChildJob(fixture, args, onLine, 60_000);
}

describe("process crash", () => {
  test("a job killed with SIGKILL resumes from its latest completed checkpoint and ends exactly-once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-crash-"));
    const storage = join(dir, "state");
    const out = join(dir, "out");
    const n = 20_000;
    const args = [storage, out, String(n), "10000"];
    let completed = 0;
    const first = await runChild(args, (line, kill) => {
      if (line.type === "checkpoint_completed" && ++completed === 5) kill();
    });
    assert.equal(first.signal, "SIGKILL", "the first run was killed mid-run");
    const committedBefore = (await FileSink.readCommitted(out)).length;
    assert.ok(committedBefore > 0 && committedBefore < n, `the first run committed part of the output (${committedBefore})`);

    const second = await runChild(args, () => {});
    assert.equal(second.code, 0);
    const restored = second.lines.find((l) => l.type === "restored");
    assert.ok(restored, "the second run restored from a checkpoint");
    assert.ok((restored.checkpointId as number) >= 5, `restored from checkpoint ${restored.checkpointId}`);
    assert.deepEqual(second.lines.at(-1), { type: "done", status: "finished" });
    assertExactlyOnce((await FileSink.readCommitted(out)) as Pair[], n);

    // The job finished: a third start begins afresh instead of resuming.
    const third = await runChild([storage, join(dir, "out3"), "100", "100000"], () => {});
    assert.equal(third.code, 0);
    assert.equal(third.lines.find((l) => l.type === "restored"), undefined);
  });
});
