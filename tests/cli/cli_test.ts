import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { api, startJob, stopJob } from "../http/helpers.ts";
import { collect, ROOT, runCli, startCli, waitForLine } from "./helpers.ts";

const SLOW = { timeout: 30_000 };

describe("weir CLI", () => {
  test("weir --help lists the commands and weir <cmd> --help shows its options", SLOW, async () => {
    const top = await runCli(["--help"]);
    assert.equal(top.code, 0);
    for (const cmd of ["run", "list", "checkpoint", "checkpoints", "cancel"]) assert.match(top.stdout, new RegExp(`^  ${cmd} `, "m"));
    const sub = await runCli(["checkpoint", "--help"]);
    assert.equal(sub.code, 0);
    assert.match(sub.stdout, /^Usage: weir checkpoint <job>/);
    assert.match(sub.stdout, /--url URL/);
  });

  test("usage errors exit 2 with one clear line and a hint", SLOW, async () => {
    const unknown = await runCli(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr.split("\n")[0], 'weir: Unknown command "frobnicate"; commands: run, list, checkpoint, checkpoints, cancel');
    const flag = await runCli(["list", "--colour"]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^weir: Unknown option --colour\nRun "weir list --help" for usage\.\n$/);
  });

  test("weir list, checkpoint, checkpoints and cancel drive a running job", SLOW, async () => {
    const { job, url } = await startJob({ jobName: "cli-job" });
    try {
      const listed = await runCli(["list", "--url", url]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /^ID +NAME +STATUS +STARTED +RAN FOR$/m);
      assert.match(listed.stdout, new RegExp(`^${job.id} +cli-job +RUNNING `, "m"));

      const cp = await runCli(["checkpoint", job.id, "--url", url]);
      assert.equal(cp.code, 0, cp.stderr);
      assert.match(cp.stdout, /^Checkpoint 1 completed: CHECKPOINT, \d+ ms, size [\d.]+ (B|KiB), in-flight 0 B$/m);
      assert.match(cp.stderr, /Checkpointing job cli-job…/, "progress goes to stderr");
      assert.equal(job.checkpointStats().counts.completed, 1);

      const history = await runCli(["checkpoints", "cli-job", "--url", url]);
      assert.equal(history.code, 0, history.stderr);
      assert.match(history.stdout, /^ID +TYPE +STATUS +DURATION +SIZE +IN-FLIGHT +FAILURE$/m);
      assert.match(history.stdout, /^1 +CHECKPOINT +COMPLETED +\d+ ms +[\d.]+ (B|KiB) +0 B$/m);

      const canceled = await runCli(["cancel", job.id.slice(0, 8), "--url", url]);
      assert.equal(canceled.code, 0, canceled.stderr);
      assert.match(canceled.stdout, new RegExp(`Job cli-job \\(${job.id}\\) canceled`));
      assert.equal((await job.done).status, "canceled");
    } finally {
      await stopJob(job);
    }
  });

  test("errors exit 1 with one line: unreachable API, unknown job, missing token", SLOW, async () => {
    const { job, url } = await startJob({ jobName: "cli-token", token: "t0ken" });
    try {
      const unreachable = await runCli(["list", "--url", "http://127.0.0.1:9"]);
      assert.equal(unreachable.code, 1);
      assert.match(unreachable.stderr, /^weir: Cannot reach the weir REST API at http:\/\/127\.0\.0\.1:9 .*\n$/);
      const missing = await runCli(["checkpoints", "no-such-job", "--url", url]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^weir: No job "no-such-job" at /);
      const denied = await runCli(["checkpoint", job.id, "--url", url]);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /needs the bearer token.*\(set WEIR_TOKEN or --token\)\n$/);
      assert.equal(job.checkpointStats().counts.total, 0);
      const allowed = await runCli(["checkpoint", job.id, "--url", url], { WEIR_TOKEN: "t0ken" });
      assert.equal(allowed.code, 0, allowed.stderr);
    } finally {
      await stopJob(job);
    }
  });

  test("weir run serves a job file with the CLI's parallelism and port, and exits 0 once it is canceled", SLOW, async () => {
    const child = startCli(["run", "tests/cli/fixtures/endless_job.ts", "--port", "0", "--parallelism", "3"]);
    const ended = collect(child, 25_000);
    try {
      const [, jobId, url] = await waitForLine(child, /Job endless \(([0-9a-f]{32})\) started; REST API and dashboard at (http:\/\/127\.0\.0\.1:\d+)/);
      const details = await api(url, `/jobs/${jobId}`);
      assert.equal(details.body.state, "RUNNING");
      assert.deepEqual(details.body.vertices.map((v: { parallelism: number }) => v.parallelism), [3, 3]);
      const canceled = await runCli(["cancel", jobId, "--url", url]);
      assert.equal(canceled.code, 0, canceled.stderr);
      const result = await ended;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Job endless \([0-9a-f]{32}\) canceled after 0 checkpoints and 0 restarts/);
    } finally {
      child.kill();
    }
  });

  test("cli/bin.js starts the CLI from node, with bun or (WEIR_RUNTIME=deno) deno", SLOW, async (t) => {
    const node = spawnSync("node", ["--version"]);
    if (node.status !== 0) {
      t.skip("node is not installed; the npm bin shim needs it");
      return;
    }
    const bin = join(ROOT, "cli", "bin.js");
    for (const runtime of ["bun", "deno"]) {
      if (!existsSync(join(ROOT, "node_modules", ".bin", runtime))) continue;
      const child = (await import("node:child_process")).spawn("node", [bin, "--help"], { env: { ...process.env, WEIR_RUNTIME: runtime }, stdio: ["ignore", "pipe", "pipe"] });
      const r = await collect(child);
      assert.equal(r.code, 0, `${runtime}: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: weir <command>/m);
    }
    const bad = spawnSync("node", [bin, "list", "--url", "http://127.0.0.1:9"], { encoding: "utf8" });
    assert.equal(bad.status, 1, "the exit code passes through the shim");
  });
});
