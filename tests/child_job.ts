/**
 * Runs a job fixture in a child process of the same runtime (bun or deno) and hands each
 * JSON line it prints to `onLine`, in order (an async handler finishes before the next
 * line is seen), with a `kill()` that SIGKILLs the child. A hang guard kills it after
 * `limitMs`; `runtimeFlags` go to the runtime before the fixture (a heap limit). Used by the crash tests and the connector conformance suites.
 */
import { spawn } from "node:child_process";
import process from "node:process";

export interface ChildRun {
  code: number | null;
  signal: string | null;
  lines: Record<string, unknown>[];
}

export function runChildJob(
  fixture: string,
  args: string[],
  onLine: (line: Record<string, unknown>, kill: () => void) => void | Promise<void>,
  limitMs = 90_000,
  runtimeFlags: { deno?: string[]; bun?: string[] } = {},
): Promise<ChildRun> {
  const isDeno = "Deno" in globalThis;
  const cmd = isDeno
    ? [process.execPath, "run", "-A", "--no-check", ...(runtimeFlags.deno ?? []), fixture, ...args]
    : [process.execPath, ...(runtimeFlags.bun ?? []), fixture, ...args];
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  const kill = () => void child.kill("SIGKILL");
  const lines: Record<string, unknown>[] = [];
  let buf = "";
  let chain: Promise<void> = Promise.resolve();
  child.stdout!.on("data", (chunk: Uint8Array) => {
    buf += chunk.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text);
      } catch {
        continue; // not a job event
      }
      lines.push(parsed);
      chain = chain.then(() => onLine(parsed, kill)).catch(kill);
    }
  });
  const timer = setTimeout(kill, limitMs);
  return new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, lines });
    })
  );
}
