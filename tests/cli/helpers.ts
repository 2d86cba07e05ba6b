/**
 * Spawning the `weir` CLI from tests, with the runtime the tests run on.
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));

/** Whether these tests run under Deno (else Bun). */
export const onDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;

/** The command line that runs cli/main.ts with the current runtime. */
export function cliCommand(args: readonly string[]): [string, string[]] {
  return onDeno ? [process.execPath, ["run", "-A", "--no-check", MAIN, ...args]] : [process.execPath, [MAIN, ...args]];
}

/** Output and exit code of one CLI run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI; the caller reads its output. WEIR_TOKEN and WEIR_URL are cleared unless given. */
export function startCli(args: readonly string[], env: Record<string, string> = {}): ChildProcess {
  const [cmd, argv] = cliCommand(args);
  const base = { ...process.env };
  delete base.WEIR_TOKEN;
  delete base.WEIR_URL;
  return spawn(cmd, argv, { cwd: ROOT, env: { ...base, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

/** Runs the CLI to its end (killed after `timeoutMs`). */
export function runCli(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<CliResult> {
  return collect(startCli(args, env), timeoutMs);
}

/** Collects a child's output until it exits. */
export function collect(child: ChildProcess, timeoutMs = 15_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => (stdout += d));
    child.stderr?.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`CLI did not exit within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Resolves to the first match of `pattern` in the child's stdout. */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`No output matching ${pattern} within ${timeoutMs} ms; got: ${seen}`)), timeoutMs);
    child.stdout?.on("data", (d) => {
      seen += d;
      const m = seen.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
}

/**
 * Collects a child's stdout from now on, so that several lines can be awaited in turn
 * even when they arrive in one chunk.
 */
export function watch(child: ChildProcess): { stdout(): string; waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray> } {
  let seen = "";
  const waiters = new Set<() => void>();
  child.stdout?.on("data", (d) => {
    seen += d;
    for (const w of [...waiters]) w();
  });
  return {
    stdout: () => seen,
    waitFor: (pattern, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = seen.match(pattern);
          if (!m) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`No output matching ${pattern} within ${timeoutMs} ms; got: ${seen}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
  };
}
