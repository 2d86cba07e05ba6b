/**
 * Regression (found in a review): `weir run <job.ts>`: a job file that catches its own execute() failure makes the command
 * hang forever (it waits on job.done of a job that never started, behind an open server).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../cli/helpers.ts";

const SLOW = { timeout: 90_000 };

describe("weir run", () => {
  test("a job file whose execute() failed (and caught it) lets weir run exit", SLOW, async () => {
    let result;
    try {
      // A hang guard, not a speed limit: a runtime starts in seconds on a loaded machine.
      result = await runCli(["run", "tests/cli/fixtures/caught_failure_job.ts", "--port", "0"], {}, 30_000);
    } catch (e) {
      assert.fail(`weir run hangs: ${(e as Error).message.slice(0, 300)}`);
    }
    assert.notEqual(result.code, null);
    assert.doesNotMatch(result.stdout, /started; REST API/, "announces a job that never started");
  });

});
