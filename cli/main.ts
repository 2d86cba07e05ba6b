/**
 * The `weir` command: run a job, list jobs, trigger and inspect checkpoints, take
 * savepoints, stop with a savepoint, cancel.
 * Errors end the process with one line on stderr and a non-zero exit code (2 for usage).
 * @module
 */
import process from "node:process";
import { WeirError } from "../errors.ts";
import { parseArgs, usage } from "./args.ts";
import type { Command } from "./command.ts";
import { cancel } from "./commands/cancel.ts";
import { checkpoint } from "./commands/checkpoint.ts";
import { checkpoints } from "./commands/checkpoints.ts";
import { list } from "./commands/list.ts";
import { run } from "./commands/run.ts";
import { savepoint } from "./commands/savepoint.ts";
import { stop } from "./commands/stop.ts";

const COMMANDS: Command[] = [run, list, checkpoint, checkpoints, savepoint, stop, cancel];

/** The text of `weir --help`. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `weir: stream processing with Flink-grade checkpoints, for Bun and Deno

Usage: weir <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Run "weir <command> --help" for a command's options.`;
}

/**
 * Runs the command line `argv` (without the runtime and script); resolves to the exit code.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 * console.assert((await main(["--help"])) === 0);
 * ```
 */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const name = argv[0];
    let rest = argv.slice(1);
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      (name === undefined ? process.stderr : process.stdout).write(`${mainHelp()}\n`);
      return name === undefined ? 2 : 0;
    }
    let command = COMMANDS.find((c) => c.name === name);
    if (!command) throw usage(`Unknown command ${JSON.stringify(name)}; commands: ${COMMANDS.map((c) => c.name).join(", ")}`);
    const sub = command.subcommands?.find((c) => c.name === rest[0]);
    if (sub) {
      command = sub;
      rest = rest.slice(1);
    }
    const args = parseArgs(rest, command.flags);
    if (args.flags.help) {
      process.stdout.write(`${command.help}\n`);
      return 0;
    }
    return await command.run(args);
  } catch (e) {
    // The runtime names its options; on the command line they are flags.
    const message = (e instanceof Error ? e.message : String(e)).replace("set allowNonRestoredState to skip it", "pass --allow-non-restored-state to skip it");
    process.stderr.write(`weir: ${message}\n`);
    if (e instanceof WeirError && e.code === "usage") {
      process.stderr.write(`Run "weir ${helpPath(argv)}--help" for usage.\n`);
      return 2;
    }
    return 1;
  }
}

/** "savepoint inspect " for `weir savepoint inspect …`, "stop " for `weir stop …`, "" otherwise. */
function helpPath(argv: readonly string[]): string {
  const command = COMMANDS.find((c) => c.name === argv[0]);
  if (!command) return "";
  const sub = command.subcommands?.find((c) => c.name === argv[1]);
  return sub ? `${command.name} ${sub.name} ` : `${command.name} `;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
