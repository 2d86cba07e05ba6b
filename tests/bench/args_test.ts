/**
 * The benchmarks' command lines: `--help` prints the usage (a reviewer found that
 * `bun bench/state.ts --help` threw parseArgs' "Unknown option" instead), and an unknown
 * option names itself beside the usage, without a stack trace.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runBench } from "./run_bench.ts";

for (const script of ["bench/state.ts", "bench/sqlite_state.ts", "bench/storage.ts"]) {
  test(`${script} --help prints the usage and exits 0`, () => {
    const r = runBench(script, ["--help"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: .*${script.replace(".", "\\.")}`));
  });

  test(`${script} with an unknown option names it beside the usage and exits 2`, () => {
    const r = runBench(script, ["--no-such-option"]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /Unknown option '--no-such-option'/);
    assert.match(r.stderr, /Usage: /);
  });
}
