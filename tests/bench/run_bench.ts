/**
 * Runs a benchmark script in a process of the runtime running the tests (Bun, or Deno
 * without type checks), from the repository's root, for tests of the benchmarks' command
 * lines and output.
 */
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const onDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;

/** The finished process (status, stdout, stderr as text) of `script` (a path from the root) run with `args`. */
export function runBench(script: string, args: string[], timeoutMs = 60_000) {
  const argv = onDeno ? ["run", "-A", "--no-check", script, ...args] : [script, ...args];
  return spawnSync(process.execPath, argv, { cwd: ROOT, encoding: "utf8", timeout: timeoutMs });
}
