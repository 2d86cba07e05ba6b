/** bench/state_steps.ts: a checkpoint's steps at the backend, on a tiny state. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runBench } from "./run_bench.ts";

describe("bench/state_steps.ts", () => {
  test("prints the update pass, steps and CPU of full and incremental checkpoints beside none", () => {
    const r = runBench("bench/state_steps.ts", ["--keys", "3000", "--rounds", "3"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /heap state of 3000 counts/);
    const rows = r.stdout.split("\n").filter((l) => /^(none|full|incremental)\s/.test(l));
    assert.deepEqual(rows.map((l) => l.split(/\s+/)[0]), ["none", "full", "incremental"]);
    for (const row of rows.slice(1)) assert.match(row, /^\w+(\s+\d+\.\d ms){4}$/, row);
  });

  test("a bad --rounds is refused with the usage (exit 2)", () => {
    const r = runBench("bench/state_steps.ts", ["--rounds", "2"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--rounds is an integer of 3 or more, got 2\nUsage: bun bench\/state_steps.ts/);
  });
});
