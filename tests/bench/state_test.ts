/**
 * bench/state.ts runs each job in a process of its own and, with --repeat, in rounds: a
 * tiny run checks that every round's child reports its row and the table gives the ratio
 * to the job without checkpoints; a bad --repeat names itself; --restore-only prints its rows.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runBench } from "./run_bench.ts";

const runState = (args: string[]) => runBench("bench/state.ts", args, 120_000);

test("bench/state.ts --repeat 2 runs every job twice, each in a process of its own, and gives the ratio to the job without checkpoints", () => {
  const r = runState(["--keys", "2000", "--min-records", "20000", "--jobs-only", "--repeat", "2", "--only", "^(no checkpoints|heap full)"]);
  assert.equal(r.status, 0, r.stderr);
  for (const job of ["no checkpoints", "heap full, every 1000 ms"]) {
    for (const round of [1, 2]) assert.match(r.stdout, new RegExp(`2000 keys, ${job} \\(run ${round} of 2\\): [0-9.]+ [kM]? ?records/s`));
  }
  const row = r.stdout.split("\n").find((l) => /^2000 +heap full, every 1000 ms/.test(l));
  assert.ok(row, r.stdout);
  assert.match(row, / \d+ % \(\d+ %–\d+ %\) /);
});

test("bench/state.ts --repeat 0 is refused naming the option", () => {
  const r = runState(["--repeat", "0", "--jobs-only"]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--repeat is a whole number of rounds, at least 1, got 0/);
});

test("bench/state.ts --restore-only restores a full checkpoint large enough to be encoded off the thread, a base and a chain, and prints each", () => {
  // 40 000 keys: over OFF_THREAD_MIN_ENTRIES, so the capture's steps return promises (number_pairs.ts).
  const r = runState(["--keys", "40000", "--restore-only"]);
  assert.equal(r.status, 0, r.stderr);
  for (const from of ["full checkpoint \\(decode \\+ load\\)", "incremental base \\(read \\+ decode \\+ load\\)", "base \\+ 3 changelogs of 1 %"]) {
    assert.match(r.stdout, new RegExp(`^40000 +${from} +[0-9.]+ [KM]iB +\\d+ ms`, "m"));
  }
});
