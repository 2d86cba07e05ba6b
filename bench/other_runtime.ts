/**
 * Runs a benchmark under the other runtime (Bun ↔ Deno) and collects its results, so
 * one command prints both side by side. The child prints its human table on stderr and
 * one JSON line, prefixed with RESULT_PREFIX, on stdout.
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { runtimeName } from "./stats.ts";

/** Marks the machine-readable line among a child's output. */
export const RESULT_PREFIX = "WEIR_BENCH_RESULT ";

/** Prints results as the single JSON line that runOtherRuntime() looks for. */
export function printResultLine(value: unknown): void {
  console.log(RESULT_PREFIX + JSON.stringify(value));
}

/** The bun or deno executable: the repo's node_modules/.bin first, then PATH. */
function executable(name: "bun" | "deno"): string {
  const local = `${dirname(dirname(fileURLToPath(import.meta.url)))}/node_modules/.bin/${name}`;
  return existsSync(local) ? local : name;
}

/**
 * Runs `script` (a path) with `args` under the runtime we are not running on, passing
 * its progress through to our stderr, and returns the parsed result line.
 */
export function runOtherRuntime<T>(script: string, args: string[]): T {
  const other = runtimeName().startsWith("bun") ? "deno" : "bun";
  const argv = other === "deno" ? ["run", "-A", script, ...args] : [script, ...args];
  const child = spawnSync(executable(other), argv, { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8", maxBuffer: 64 << 20 });
  if (child.error) throw child.error;
  const line = child.stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
  if (child.status !== 0 || !line) {
    throw new Error(`${other} ${argv.join(" ")} exited with ${child.status} and no result line:\n${child.stdout}`);
  }
  return JSON.parse(line.slice(RESULT_PREFIX.length)) as T;
}
