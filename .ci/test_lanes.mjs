#!/usr/bin/env node
// `npm test`: every suite of package.json, in two lanes at once. Each runner (bun test,
// deno test) runs its files one after another on one core, so on a 2-core machine the
// Bun and the Deno suites side by side take about as long as the slower of them, not both.
// Tests never share a port, a table, a stream or a directory between processes
// (port 0, names with the pid, mkdtemp), which is what makes two lanes safe.
//
// The first lane streams its output; the second writes to a log file (its path is
// printed first, to follow it with `tail -f`) that is printed whole when both lanes are
// done, so that no line of the two interleaves. Every script runs even when an earlier one
// failed; the exit code is 1 when any failed, naming them.
//
//   WEIR_TEST_LANES=1 npm test    one lane: the suites in sequence, all output live
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** Lanes of package.json scripts, balanced by how long each takes on a 2-core machine. */
const LANES = [
  ["test:bun", "test:cloudflare", "test:doc", "test:deno-deploy"],
  ["test:deno"],
];

const lanes = process.env.WEIR_TEST_LANES === "1" ? [LANES.flat()] : LANES;
const children = new Set();

/** Runs one npm script; resolves to its exit code (1 when killed by a signal). */
function runScript(script, out) {
  return new Promise((resolve) => {
    const child = spawn("npm", ["run", "--silent", script], { stdio: out ? ["ignore", "pipe", "pipe"] : "inherit" });
    children.add(child);
    if (out) {
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(out, { end: false });
    }
    child.on("error", (e) => {
      (out ?? process.stderr).write(`could not start npm run ${script}: ${e.message}\n`);
      resolve(1);
    });
    child.on("close", (code) => {
      children.delete(child);
      resolve(code ?? 1);
    });
  });
}

/** Runs a lane's scripts in order; returns the scripts that failed. */
async function runLane(scripts, out) {
  const failed = [];
  for (const script of scripts) {
    (out ?? process.stdout).write(`\n> npm run ${script}\n`);
    if ((await runScript(script, out)) !== 0) failed.push(script);
  }
  return failed;
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    for (const c of children) c.kill(signal);
    process.exit(130);
  });
}

const logDir = lanes.length > 1 ? mkdtempSync(join(tmpdir(), "weir-test-lanes-")) : undefined;
const logs = lanes.slice(1).map((scripts, i) => {
  const path = join(logDir, `lane-${i + 2}.log`);
  console.log(`lane ${i + 2} (${scripts.join(", ")}) runs beside this one; its output: ${path} (printed here when done)`);
  return { path, stream: createWriteStream(path) };
});

const results = await Promise.all(lanes.map((scripts, i) => runLane(scripts, i === 0 ? undefined : logs[i - 1].stream)));
for (const { path, stream } of logs) {
  await new Promise((r) => stream.end(r));
  process.stdout.write(`\n==== ${path}\n`);
  process.stdout.write(readFileSync(path));
}
const failed = results.flat();
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(", ")}`);
  process.exit(1);
}
