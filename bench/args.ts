/**
 * Command-line options of a benchmark: `node:util` parseArgs, plus `--help` (prints the
 * usage and exits 0) and, for an option it does not know or a missing value, the error
 * and the usage on stderr (exit 2) instead of a stack trace.
 * @module
 */
import process from "node:process";
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * The values of the options of `process.argv`, as `parseArgs({ options }).values`; exits
 * the process on `--help` / `-h` (0) and on a bad command line (2).
 *
 * @example
 * ```ts ignore
 * const values = benchArgs("Usage: bun bench/x.ts [--runs 5]", { runs: { type: "string", default: "5" } });
 * const runs = Number(values.runs);
 * ```
 */
export function benchArgs<T extends Options>(usage: string, options: T): ReturnType<typeof parseArgs<{ args: string[]; options: T }>>["values"] {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(usage);
    process.exit(0);
  }
  try {
    return parseArgs({ args, options }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n${usage}`);
    process.exit(2);
  }
}
