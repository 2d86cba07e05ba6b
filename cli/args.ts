/**
 * Command-line parsing for `weir`: positional arguments and `--flag value`,
 * `--flag=value` or boolean `--flag`, each flag declared so that typos are errors.
 * @module
 */
import { WeirError } from "../errors.ts";

/** The flags a command accepts: name → whether it takes a value. */
export type FlagSpec = Record<string, "string" | "boolean">;

/** Parsed arguments. */
export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | boolean>;
}

/**
 * Parses `argv` against `spec`; `-h` is `--help`. Throws `usage` errors naming the flag.
 *
 * @example
 * ```ts
 * import { parseArgs } from "./args.ts";
 * const a = parseArgs(["job.ts", "--port", "0"], { port: "string" });
 * console.assert(a.positional[0] === "job.ts" && a.flags.port === "0");
 * ```
 */
export function parseArgs(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const out: ParsedArgs = { positional: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") {
      out.flags.help = true;
      continue;
    }
    if (arg === "--") {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      out.positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = spec[name];
    if (!kind) throw usage(`Unknown option --${name}`);
    if (kind === "boolean") {
      if (eq >= 0) throw usage(`Option --${name} takes no value`);
      out.flags[name] = true;
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === "") throw usage(`Option --${name} needs a value`);
    out.flags[name] = value;
  }
  return out;
}

/** A mistake in how the command was called (exit code 2). */
export function usage(message: string): WeirError {
  return new WeirError("usage", message);
}

/**
 * An integer flag within bounds, or `undefined` when absent.
 *
 * @example
 * ```ts
 * import { intFlag } from "./args.ts";
 * console.assert(intFlag({ port: "8081" }, "port", 0, 65535) === 8081);
 * ```
 */
export function intFlag(flags: ParsedArgs["flags"], name: string, min: number, max: number): number | undefined {
  const raw = flags[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== "string" || !/^\d+$/.test(raw) || n < min || n > max) {
    throw usage(`Option --${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}
