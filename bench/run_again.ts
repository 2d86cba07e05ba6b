/**
 * Runs a benchmark script again in a fresh process of the runtime running it (Bun or
 * Deno), so that one measurement does not inherit another's heap, garbage and compiled
 * code: in one process, a job run after another with a million keys ran 25–30 % slower
 * than the same job run alone (bench/state.ts, 2026-12-04).
 * @module
 */
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

/**
 * The standard output of `script` (a module URL, as `import.meta.url`) run with `args`;
 * its standard error goes to this process's.
 * @throws {Error} naming the exit status when the run fails
 *
 * @example
 * ```ts ignore
 * const out = runAgain(import.meta.url, ["--child-job", "heap full"]);
 * ```
 */
export function runAgain(script: string, args: string[]): string {
  const path = fileURLToPath(script);
  const argv = "Deno" in globalThis ? ["run", "-A", path, ...args] : [path, ...args];
  const r = spawnSync(process.execPath, argv, { encoding: "utf8", maxBuffer: 256 * 2 ** 20, stdio: ["ignore", "pipe", "inherit"] });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${path} ${args.join(" ")} exited with ${r.status ?? r.signal}`);
  return r.stdout;
}
