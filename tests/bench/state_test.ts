/**
 * bench/state.ts runs each job in a process of its own and, with --repeat, in rounds: a
 * tiny run checks that every round's child reports its row and the table gives the ratio
 * to the job without checkpoints; a bad --repeat names itself.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const onDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;

function runState(args: string[]) {
  const argv = onDeno ? ["run", "-A", "--no-check", "bench/state.ts", ...args] : ["bench/state.ts", ...args];
  return spawnSync(process.execPath, argv, { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
}

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
