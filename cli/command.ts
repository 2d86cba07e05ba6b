/**
 * What every `weir` subcommand is: a name, a help text, its flags and a run function.
 * @module
 */
import process from "node:process";
import type { FlagSpec, ParsedArgs } from "./args.ts";
import { ApiClient, URL_DEFAULT } from "./client.ts";

/** One subcommand. */
export interface Command {
  name: string;
  /** One line for `weir --help`. */
  summary: string;
  /** The full text of `weir <name> --help`. */
  help: string;
  flags: FlagSpec;
  /** Commands under this one (`weir savepoint inspect`), chosen by the first argument. */
  subcommands?: Command[];
  /** Runs the command; resolves to the exit code. */
  run(args: ParsedArgs): Promise<number>;
}

/** Flags of every command that talks to the REST API. */
export const API_FLAGS: FlagSpec = { url: "string", token: "string" };

/** Help lines for {@link API_FLAGS}. */
export const API_FLAGS_HELP = `  --url URL      REST API address (default ${URL_DEFAULT}, or WEIR_URL)
  --token TOKEN  bearer token for mutating requests (default WEIR_TOKEN)`;

/**
 * The client for the --url and --token flags, falling back to WEIR_URL and WEIR_TOKEN.
 *
 * @example
 * ```ts
 * import { clientFor } from "./command.ts";
 * const api = clientFor({ url: "http://127.0.0.1:9000" });
 * console.assert(api.url === "http://127.0.0.1:9000");
 * ```
 */
export function clientFor(flags: ParsedArgs["flags"]): ApiClient {
  const url = typeof flags.url === "string" ? flags.url : process.env.WEIR_URL || URL_DEFAULT;
  const token = typeof flags.token === "string" ? flags.token : process.env.WEIR_TOKEN;
  return new ApiClient(url, token);
}

/** Writes a line to stdout. */
export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
