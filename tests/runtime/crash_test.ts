import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSink } from "../../mod.ts";
import { assertExactlyOnce, type Pair } from "../helpers.ts";

const isDeno = "Deno" in globalThis;
const fixture = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "fixtures", "crash_job.ts");

/** Runs the fixture job in a child process of the same runtime; resolves with its output lines. */
function runChild(args: string[], onLine: (line: Record<string, unknown>, kill: () => void) => void): Promise<{ code: number | null; signal: string | null; lines: Record<string, unknown>[] }> {
  const cmd = isDeno ? [process.execPath, "run", "-A", "--no-check", fixture, ...args] : [process.execPath, fixture, ...args];
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  const lines: Record<string, unknown>[] = [];
  let buf = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buf += chunk.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const parsed = JSON.parse(line);
        lines.push(parsed);
        onLine(parsed, () => child.kill("SIGKILL"));
      } catch { /* not a job event */ }
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) => child.on("exit", (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, lines });
  }));
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
