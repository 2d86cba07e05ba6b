/**
 * Command-line parsing for `weir` through the runtime-standard `parseArgs` of node:util
 * (the same implementation in Bun and Deno): positional arguments and `--flag value`,
 * `--flag=value` or boolean `--flag`, each flag declared so that typos are errors. This
 * file only declares the flags and turns parseArgs' errors into `usage` errors that name
 * the flag.
 * @module
 */
import { parseArgs as parseNodeArgs } from "node:util";
import { WeirError } from "../errors.ts";

/**
 * The flags a command accepts: name → `"string"` (takes a value), `"boolean"` (takes none)
 * or `"strings"` (takes a value and may be repeated: `--drop-uid a --drop-uid b`).
 */
export type FlagSpec = Record<string, "string" | "boolean" | "strings">;

/** Parsed arguments. */
export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | boolean | string[]>;
  /** The arguments as given. */
  argv?: readonly string[];
}

type NodeOptions = Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;

/**
 * Parses `argv` against `spec` with node:util's `parseArgs` (strict); `-h` is `--help`.
 * Throws `usage` errors naming the flag; an empty value counts as a missing one.
 *
 * @throws {WeirError} `usage` for an unknown flag, a missing or empty value, or a value on a boolean flag
 * @example
 * ```ts
 * import { parseArgs } from "./args.ts";
 * const a = parseArgs(["job.ts", "--port", "0", "--drop-uid", "a", "--drop-uid=b"], { port: "string", "drop-uid": "strings" });
 * console.assert(a.positional[0] === "job.ts" && a.flags.port === "0");
 * console.assert((a.flags["drop-uid"] as string[]).join() === "a,b");
 * ```
 */
export function parseArgs(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const options: NodeOptions = { help: { type: "boolean", short: "h" } };
  for (const [name, kind] of Object.entries(spec)) {
    options[name] = kind === "strings" ? { type: "string", multiple: true } : { type: kind };
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseNodeArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw fromParseError(e);
  }
  const flags: ParsedArgs["flags"] = {};
  for (const [name, value] of Object.entries(parsed.values)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => v === "")) throw usage(`Option --${name} needs a value`);
    flags[name] = value as string | boolean | string[];
  }
  return { positional: parsed.positionals, flags, argv };
}

/** parseArgs' TypeErrors (codes ERR_PARSE_ARGS_*) as one short `usage` line naming the flag. */
function fromParseError(e: unknown): WeirError {
  const code = (e as { code?: string })?.code;
  const message = e instanceof Error ? e.message : String(e);
  const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return usage(`Unknown option ${flag}`);
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    if (/does not take an argument/.test(message)) return usage(`Option ${flag} takes no value`);
    return usage(`Option ${flag} needs a value (write ${flag}=VALUE for a value that starts with "-")`);
  }
  return usage(message.split("\n")[0]);
}

/** A mistake in how the command was called (exit code 2). */
export function usage(message: string): WeirError {
  return new WeirError("usage", message);
}

/**
 * An integer flag within bounds, or `undefined` when absent.
 *
 * @throws {WeirError} `usage` when the value is not an integer in [min, max]
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

/**
 * A string flag, or `undefined` when absent.
 *
 * @example
 * ```ts
 * import { stringFlag } from "./args.ts";
 * console.assert(stringFlag({ url: "http://x" }, "url") === "http://x");
 * ```
 */
export function stringFlag(flags: ParsedArgs["flags"], name: string): string | undefined {
  const raw = flags[name];
  return typeof raw === "string" ? raw : undefined;
}

/**
 * A repeatable flag's values (`[]` when absent).
 *
 * @example
 * ```ts
 * import { listFlag } from "./args.ts";
 * console.assert(listFlag({ "drop-uid": ["a", "b"] }, "drop-uid").length === 2);
 * ```
 */
export function listFlag(flags: ParsedArgs["flags"], name: string): string[] {
  const raw = flags[name];
  return Array.isArray(raw) ? raw : typeof raw === "string" ? [raw] : [];
}
