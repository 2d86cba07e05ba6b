import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { api, startJob, stopJob } from "../http/helpers.ts";
import { collect, ROOT, runCli, startCli, waitForLine } from "./helpers.ts";

// Each CLI run starts a runtime (a second or more on a loaded machine); the timeouts bound a hang, not speed.
const SLOW = { timeout: 90_000 };

describe("weir CLI", () => {
  test("weir --help lists the commands and weir <cmd> --help shows its options", SLOW, async () => {
    const top = await runCli(["--help"]);
    assert.equal(top.code, 0);
    for (const cmd of ["run", "list", "checkpoint", "checkpoints", "savepoint", "stop", "cancel"]) assert.match(top.stdout, new RegExp(`^  ${cmd} `, "m"));
    const sub = await runCli(["checkpoint", "--help"]);
    assert.equal(sub.code, 0);
    assert.match(sub.stdout, /^Usage: weir checkpoint <job>/);
    assert.match(sub.stdout, /--url URL/);
    const sp = await runCli(["savepoint", "--help"]);
    assert.equal(sp.code, 0);
    assert.match(sp.stdout, /^Usage: weir savepoint <job> <targetDirectory> \[--cancel\]/);
    assert.match(sp.stdout, /^ {2}--cancel /m);
    const stop = await runCli(["stop", "-h"]);
    assert.equal(stop.code, 0);
    assert.match(stop.stdout, /^Usage: weir stop <job> --savepoint DIR \[--drain\]/);
    assert.match(stop.stdout, /^ {2}--drain /m);
  });

  test("usage errors exit 2 with one clear line and a hint", SLOW, async () => {
    const unknown = await runCli(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr.split("\n")[0], 'weir: Unknown command "frobnicate"; commands: run, list, checkpoint, checkpoints, savepoint, stop, cancel');
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
      assert.match(listed.stdout, new RegExp(`^${job.id} +cli-job +RUNNING +\\S+ +[\\d.]+ (ms|s|min|h)`, "m"), "a running job shows how long it ran");

      const cp = await runCli(["checkpoint", job.id, "--url", url]);
      assert.equal(cp.code, 0, cp.stderr);
      assert.match(cp.stdout, /^Checkpoint 1 completed: CHECKPOINT, [\d.]+ m?s, size [\d.]+ (B|KiB), in-flight 0 B$/m);
      assert.match(cp.stderr, /Checkpointing job cli-job…/, "progress goes to stderr");
      assert.equal(job.checkpointStats().counts.completed, 1);

      const history = await runCli(["checkpoints", "cli-job", "--url", url]);
      assert.equal(history.code, 0, history.stderr);
      assert.match(history.stdout, /^ID +TYPE +STATUS +DURATION +SIZE +WRITTEN +IN-FLIGHT +FAILURE$/m);
      assert.match(history.stdout, /^1 +CHECKPOINT +COMPLETED +[\d.]+ m?s +([\d.]+ (B|KiB)) +\1 +0 B$/m);

      const canceled = await runCli(["cancel", job.id.slice(0, 8), "--url", url]);
      assert.equal(canceled.code, 0, canceled.stderr);
      assert.match(canceled.stdout, new RegExp(`Job cli-job \\(${job.id}\\) canceled`));
      assert.equal((await job.done).status, "canceled");
    } finally {
      await stopJob(job);
    }
  });

  test("weir savepoint prints the location and leaves the job running; weir stop --drain stops it with a savepoint", SLOW, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-cli-sp-"));
    const { job, url } = await startJob({ jobName: "cli-sp" });
    try {
      const sp = await runCli(["savepoint", "cli-sp", dir, "--url", url]);
      assert.equal(sp.code, 0, sp.stderr);
      const location = sp.stdout.trim();
      assert.equal(sp.stdout, `${location}\n`, "the location alone on stdout");
      assert.ok(location.startsWith(`${dir}/savepoint-`), location);
      assert.ok(existsSync(location));
      assert.match(sp.stderr, /Taking a savepoint of job cli-sp…/, "progress goes to stderr");
      assert.equal(job.status, "RUNNING");
      assert.equal(job.checkpointStats().latest.savepoint?.external_path, location);

      const stopped = await runCli(["stop", job.id.slice(0, 8), "--savepoint", dir, "--drain", "--url", url]);
      assert.equal(stopped.code, 0, stopped.stderr);
      const stopLocation = stopped.stdout.trim();
      assert.ok(stopLocation.startsWith(`${dir}/savepoint-`) && stopLocation !== location, stopLocation);
      assert.ok(existsSync(stopLocation));
      assert.match(stopped.stderr, /Draining and stopping job cli-sp…/);
      assert.match(stopped.stderr, new RegExp(`Job cli-sp \\(${job.id}\\) stopped with a savepoint`));
      const result = await job.done;
      assert.equal(result.status, "stopped");
      assert.equal(result.savepoint, stopLocation);
    } finally {
      await stopJob(job);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("weir savepoint --cancel and weir stop end the job at the savepoint they print", SLOW, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-cli-stop-"));
    const a = await startJob({ jobName: "cli-sp-cancel" });
    const b = await startJob({ jobName: "cli-stop" });
    try {
      const canceled = await runCli(["savepoint", a.job.id, dir, "--cancel", "--url", a.url]);
      assert.equal(canceled.code, 0, canceled.stderr);
      const location = canceled.stdout.trim();
      assert.ok(existsSync(location), location);
      assert.match(canceled.stderr, /Job cli-sp-cancel \([0-9a-f]{32}\) ended with its savepoint/);
      assert.equal((await a.job.done).savepoint, location);

      const stopped = await runCli(["stop", "cli-stop", `--savepoint=${dir}`, "--url", b.url]);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stderr, /Stopping job cli-stop…/);
      const result = await b.job.done;
      assert.equal(result.status, "stopped");
      assert.equal(result.savepoint, stopped.stdout.trim());
      // weir list says STOPPED, as weir run does, not Flink's FINISHED (asked of a job
      // still running: the stopped job's own server closes once its outcome was read).
      const c = await startJob({ jobName: "cli-still-running" });
      try {
        const listed = await runCli(["list", "--url", c.url]);
        assert.match(listed.stdout, new RegExp(`^${b.job.id} +cli-stop +STOPPED `, "m"), listed.stdout + listed.stderr);
      } finally {
        await stopJob(c.job);
      }
    } finally {
      await stopJob(a.job);
      await stopJob(b.job);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("weir savepoint and stop reject bad input: usage errors exit 2, an unwritable directory exits 1 and the job runs on", SLOW, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-cli-bad-"));
    const file = join(dir, "not-a-directory");
    writeFileSync(file, "x");
    // Failed savepoints count as checkpoint failures (core, as of this commit); tolerating
    // them keeps the job from failing over, so that "runs on" is about the stop's rollback.
    const { job, url } = await startJob({ jobName: "cli-bad", checkpoint: { interval: 0, tolerableFailures: 10 } });
    try {
      const usages: [string[], RegExp][] = [
        [["savepoint", job.id, "--url", url], /^weir: weir savepoint needs a <job> and a <targetDirectory>\nRun "weir savepoint --help" for usage\.\n$/],
        [["savepoint", job.id, "", "--url", url], /^weir: <targetDirectory> must be a directory path, got ""\n/],
        [["savepoint", job.id, dir, "--drain", "--url", url], /^weir: Unknown option --drain\n/],
        [["stop", job.id, "--url", url], /^weir: weir stop needs --savepoint DIR \(where to write the savepoint\)\nRun "weir stop --help" for usage\.\n$/],
        [["stop", job.id, "--savepoint", "--url", url], /^weir: Option --savepoint needs a value \(write --savepoint=VALUE for a value that starts with "-"\)\n/],
        [["stop", job.id, "--savepoint=", "--url", url], /^weir: Option --savepoint needs a value\n/],
        [["stop", job.id, "--drain=yes", "--savepoint", dir, "--url", url], /^weir: Option --drain takes no value\n/],
        [["stop", job.id, "--savepoint", dir, "--timeout", "soon", "--url", url], /^weir: Option --timeout must be an integer between 1 and 86400000, got "soon"\n/],
      ];
      for (const [args, stderr] of usages) {
        const r = await runCli(args);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, stderr, args.join(" "));
        assert.equal(r.stdout, "");
      }
      const missing = await runCli(["stop", "no-such-job", "--savepoint", dir, "--url", url]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^weir: No job "no-such-job" at /);

      const failed = await runCli(["savepoint", job.id, join(file, "sp"), "--url", url]);
      assert.equal(failed.code, 1, failed.stderr);
      assert.equal(failed.stdout, "");
      assert.match(failed.stderr, /^weir: Savepoint of job cli-bad failed: .+\n$/m);
      assert.equal(failed.stderr.split("\n").filter((l) => l.startsWith("weir:")).length, 1, failed.stderr);
      const failedStop = await runCli(["stop", job.id, "--savepoint", join(file, "sp"), "--url", url]);
      assert.equal(failedStop.code, 1, failedStop.stderr);
      assert.match(failedStop.stderr, /^weir: Savepoint of job cli-bad failed: .+\n$/m);
      assert.equal(job.status, "RUNNING", "a failed stop-with-savepoint leaves the job running");
    } finally {
      await stopJob(job);
      rmSync(dir, { recursive: true, force: true });
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
