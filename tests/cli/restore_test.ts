import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AddressInfo, createServer } from "node:net";
import { collect, runCli, startCli, watch } from "./helpers.ts";

// Run 1 is paced (500 records/s: 40 s of input) so it is surely still running when weir stop,
// a new process, reaches it on a loaded machine.
const SLOW = { timeout: 180_000 };
const JOB = "tests/cli/fixtures/sum_job.ts";
const COUNT = 20_000;

/** Each key's sum over 0..COUNT-1: what a run that neither lost nor repeated a record ends with. */
function totals(): Record<string, number> {
  const t: Record<string, number> = { 0: 0, 1: 0, 2: 0, 3: 0 };
  for (let n = 0; n < COUNT; n++) t[n % 4] += n;
  return t;
}

function result(stdout: string): { status: string; sums: Record<string, number> } {
  const m = /^RESULT (\w+) (\{.*\})$/m.exec(stdout);
  assert.ok(m, `no RESULT line in: ${stdout}`);
  return { status: m[1], sums: JSON.parse(m[2]) };
}

function env(dir: string, job: string, extra: Record<string, string> = {}): Record<string, string> {
  return { WEIR_TEST_JOB: job, WEIR_TEST_STORAGE: join(dir, "store"), WEIR_TEST_RATE: "0", ...extra };
}

describe("weir run restores from the command line", () => {
  test("weir stop prints the savepoint and the command that restores it; that command restores exactly-once", SLOW, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-cli-restore-"));
    const vars = env(dir, "cli-restore");
    const first = startCli(["run", JOB, "--port", "0", "--parallelism", "2"], { ...vars, WEIR_TEST_RATE: "500" });
    const out = watch(first);
    const ended = collect(first, 60_000);
    try {
      const [, jobId, url] = await out.waitFor(/Job cli-restore \(([0-9a-f]{32})\) started; REST API and dashboard at (\S+)/);
      await out.waitFor(/^CHECKPOINT \d+$/m);
      const stopped = await runCli(["stop", jobId, "--savepoint", join(dir, "sp"), "--url", url], {}, 30_000);
      assert.equal(stopped.code, 0, stopped.stderr);
      const location = stopped.stdout.trim();
      assert.ok(existsSync(join(location, "_metadata")), location);
      const command = `weir run ${JOB} --port 0 --parallelism 2 --from-savepoint ${location}`;
      assert.match(stopped.stderr, new RegExp(`^Restore with: ${escape(command)}$`, "m"));
      const run1 = await ended;
      assert.equal(run1.code, 0, run1.stderr);
      assert.equal(result(run1.stdout).status, "stopped");
      assert.match(run1.stdout, new RegExp(`^Restore with: ${escape(command)}$`, "m"), "weir run prints it too");

      // The printed command, as a user pastes it (unpaced now, so it runs to the end).
      const second = await runCli(command.split(" ").slice(1), vars, 60_000);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, new RegExp(`^RESTORED ${escape(location)}$`, "m"));
      const r = result(second.stdout);
      assert.equal(r.status, "finished");
      assert.deepEqual(r.sums, totals(), "state and source position came from the savepoint");
    } finally {
      first.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("--from-savepoint refuses state of a removed operator unless --allow-non-restored-state", SLOW, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-cli-nonrestored-"));
    try {
      const first = startCli(["run", JOB, "--port", "0"], env(dir, "cli-extra", { WEIR_TEST_EXTRA: "1", WEIR_TEST_RATE: "500" }));
      const out = watch(first);
      const ended = collect(first, 60_000);
      const [, jobId, url] = await out.waitFor(/Job cli-extra \(([0-9a-f]{32})\) started; REST API and dashboard at (\S+)/);
      await out.waitFor(/^CHECKPOINT \d+$/m);
      const stopped = await runCli(["stop", jobId, "--savepoint", join(dir, "sp"), "--url", url], {}, 30_000);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.equal((await ended).code, 0);
      const location = stopped.stdout.trim();

      const vars = env(dir, "cli-plain");
      const refused = await runCli(["run", JOB, "--port", "0", "--from-savepoint", location], vars, 30_000);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /^weir: .*operator uid "extra"/m);
      assert.match(refused.stderr, /pass --allow-non-restored-state to skip it/);
      const allowed = await runCli(["run", JOB, "--port", "0", `--from-savepoint=${location}`, "--allow-non-restored-state"], vars, 60_000);
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.deepEqual(result(allowed.stdout).sums, totals());

      const lonely = await runCli(["run", JOB, "--allow-non-restored-state"], vars);
      assert.equal(lonely.code, 2);
      assert.match(lonely.stderr, /^weir: Option --allow-non-restored-state needs --from-savepoint DIR\n/);
      const empty = await runCli(["run", JOB, "--from-savepoint="], vars);
      assert.equal(empty.code, 2);
      assert.match(empty.stderr, /^weir: Option --from-savepoint needs a value\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a start that fails before running (a busy port) leaves a crashed run to the next start, which resumes it exactly-once", SLOW, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-cli-busy-"));
    const vars = env(dir, "cli-busy");
    const crashed = startCli(["run", JOB, "--port", "0"], { ...vars, WEIR_TEST_RATE: "2000" });
    const busy = createServer();
    try {
      await watch(crashed).waitFor(/^CHECKPOINT \d+$/m);
      const gone = collect(crashed, 20_000);
      crashed.kill("SIGKILL");
      await gone;

      await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
      const port = String((busy.address() as AddressInfo).port);
      const refused = await runCli(["run", JOB, "--port", port], vars, 30_000);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, new RegExp(port));
      busy.close();

      const resumed = await runCli(["run", JOB, "--port", "0"], vars, 60_000);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stdout, /^RESTORED /m, "the crashed run's checkpoint is restored, not a fresh start");
      assert.deepEqual(result(resumed.stdout).sums, totals());
    } finally {
      crashed.kill("SIGKILL");
      busy.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a start that would resume a crashed run of another graph says how to start fresh; --fresh does", SLOW, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-cli-fresh-"));
    const crashed = startCli(["run", JOB, "--port", "0"], env(dir, "cli-fresh", { WEIR_TEST_EXTRA: "1", WEIR_TEST_RATE: "2000" }));
    try {
      await watch(crashed).waitFor(/^CHECKPOINT \d+$/m);
      const gone = collect(crashed, 20_000);
      crashed.kill("SIGKILL"); // a crash: the run marker stays, so the next start resumes that run
      await gone;

      const vars = env(dir, "cli-fresh");
      const refused = await runCli(["run", JOB, "--port", "0"], vars, 30_000);
      assert.equal(refused.code, 1, refused.stdout);
      const line = refused.stderr.split("\n")[0];
      assert.match(line, /^weir: Job "cli-fresh" resumes the unfinished run [0-9a-f]{32} found in .*operator uid "extra"/);
      assert.match(line, /To start fresh, set the option fresh: true \(weir run FILE --fresh, npm start -- --fresh\)/);
      assert.doesNotMatch(line, /set allowNonRestoredState/, "that option does not apply to a resume");
      // The refusal left the unfinished run as it was: a second start refuses again.
      const again = await runCli(["run", JOB, "--port", "0"], vars, 30_000);
      assert.equal(again.code, 1, again.stdout);
      assert.equal(again.stderr.split("\n")[0], line);

      const fresh = await runCli(["run", JOB, "--port", "0", "--fresh"], vars, 60_000);
      assert.equal(fresh.code, 0, fresh.stderr);
      assert.doesNotMatch(fresh.stdout, /^RESTORED/m);
      assert.deepEqual(result(fresh.stdout).sums, totals());
    } finally {
      crashed.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
