/**
 * An ended job's REST API keeps answering until a client that triggered a stop has read
 * its outcome (or a grace period passed), so `weir stop` against `npm start` prints the
 * savepoint instead of failing on a closed connection (issue 8).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment, serverClosed } from "../../mod.ts";
import { LINGER_MS } from "../../http/server.ts";
import { collect, onDeno, runCli, waitForLine } from "../cli/helpers.ts";
import { api, until } from "./helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runningJob(stopGraceMs: number) {
  const env = new StreamEnvironment({ jobName: "grace", storage: new MemoryStorage(), checkpoint: { interval: 0 }, http: { port: 0, stopGraceMs } });
  env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER, { ratePerSecond: 1000 }), { uid: "numbers" }).sinkTo(new CollectSink<number>(), { uid: "out" });
  const job = await env.execute();
  await until(() => job.status === "RUNNING", "job running");
  return { job, url: job.url! };
}

describe("REST API: a stopping job keeps answering", () => {
  test("after stop-with-savepoint the API answers until the trigger's outcome was read, then closes", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-grace-"));
    const { job, url } = await runningJob(20_000);
    try {
      const posted = await api(url, `/jobs/${job.id}/stop`, { method: "POST", json: { targetDirectory: dir } });
      assert.equal(posted.status, 202);
      assert.equal((await job.done).status, "stopped");
      // Longer than the plain linger: without the grace period the server would be gone.
      await sleep(LINGER_MS + 700);
      const polled = await api(url, `/jobs/${job.id}/savepoints/${posted.body["request-id"]}`);
      assert.equal(polled.body.status.id, "COMPLETED");
      assert.ok(existsSync(polled.body.operation.location));
      // Read: the server closes well before the 20 s grace period (the test would time out).
      await serverClosed(url);
      await assert.rejects(fetch(`${url}/jobs`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a stop whose outcome nobody reads closes the API after the grace period", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-grace-"));
    const { job, url } = await runningJob(1500);
    try {
      assert.equal((await api(url, `/jobs/${job.id}/stop`, { method: "POST", json: { targetDirectory: dir } })).status, 202);
      await job.done;
      await serverClosed(url);
      await assert.rejects(fetch(`${url}/jobs`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("http.stopGraceMs must be a non-negative number", async () => {
    const env = new StreamEnvironment({ jobName: "bad-grace", storage: new MemoryStorage(), http: { port: 0, stopGraceMs: -1 } });
    env.fromSource(new SequenceSource(0, 10)).sinkTo(new CollectSink<number>());
    await assert.rejects(env.execute(), /http\.stopGraceMs must be a number of milliseconds >= 0, got -1/);
  });

  test("weir stop --savepoint against the quick-start example prints the savepoint and the example exits 0", { timeout: 60_000 }, async () => {
    const cwd = mkdtempSync(join(tmpdir(), "weir-quickstart-"));
    const example = fileURLToPath(new URL("../../examples/wordcount.ts", import.meta.url));
    const argv = onDeno ? ["run", "-A", "--no-check", example, "--port", "0"] : [example, "--port", "0"];
    const child = spawn(process.execPath, argv, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    try {
      const [, jobId, url] = await waitForLine(child, /\(([0-9a-f]{32})\)[\s\S]*?REST API and dashboard at (http:\/\/[^\s]+)/, 30_000);
      const exited = collect(child, 45_000);
      const savepoints = join(cwd, "savepoints");
      const stopped = await runCli(["stop", jobId, "--savepoint", savepoints, "--url", url], {}, 45_000);
      assert.equal(stopped.code, 0, stopped.stderr);
      const location = stopped.stdout.trim().split("\n")[0];
      assert.ok(location.startsWith(savepoints), stopped.stdout);
      assert.ok(existsSync(join(location, "_metadata")), `${location}/_metadata exists`);
      const result = await exited;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /job ended: stopped/);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
