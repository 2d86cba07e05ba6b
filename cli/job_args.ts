/**
 * The flags a job accepts on its command line, in one place for `weir run FILE …` and for
 * a job file started directly (`npm start -- …`, `bun job.ts …`): parallelism, REST
 * address, and the restore flags of Flink's `flink run -s DIR -n` plus `--fresh`. They
 * reach the job as environment defaults (see `setEnvironmentDefaults`): every
 * StreamEnvironment the file builds takes them for options it does not set itself.
 * @module
 */
import process from "node:process";
import { relative } from "node:path";
import { environmentDefaults, type EnvironmentDefaults, setEnvironmentDefaults } from "../dataflow/environment_defaults.ts";
import { HOSTNAME_DEFAULT, PORT_DEFAULT } from "../http/server.ts";
import { WeirError } from "../errors.ts";
import { type FlagSpec, intFlag, type ParsedArgs, parseArgs, stringFlag, usage } from "./args.ts";
import { targetDirectory } from "./savepoint_trigger.ts";
import { checkpointPathOf } from "../checkpoint/metadata.ts";

/** The job flags (see {@link JOB_FLAGS_HELP}). */
export const JOB_FLAGS: FlagSpec = {
  parallelism: "string",
  port: "string",
  host: "string",
  "from-savepoint": "string",
  "allow-non-restored-state": "boolean",
  fresh: "boolean",
};

/** Flags that only matter for one start: left out of the command a restore repeats. */
const RESTORE_FLAGS = new Set(["from-savepoint", "allow-non-restored-state", "fresh"]);

/** Help lines for {@link JOB_FLAGS}, naming the defaults a job file passes in (or weir's). */
export function jobFlagsHelp(base: EnvironmentDefaults = {}): string {
  return `  --parallelism N             default parallelism (default ${base.parallelism ?? 1})
  --port P                    REST API port (default ${base.http?.port ?? PORT_DEFAULT}; 0 picks a free one)
  --host H                    address to bind (default ${base.http?.hostname ?? HOSTNAME_DEFAULT})
  --from-savepoint DIR        start from a savepoint or retained checkpoint: DIR or DIR/_metadata
                              (the restoreFrom option; Flink's -s)
  --allow-non-restored-state  skip state of operators (uids) the job no longer has (Flink's -n)
  --fresh                     start a new run even if the storage holds an unfinished run of
                              the same jobName (which a start otherwise resumes)`;
}

/** Help lines for {@link JOB_FLAGS} with weir's own defaults. */
export const JOB_FLAGS_HELP: string = jobFlagsHelp();

/**
 * Environment defaults from parsed job flags; `base` fills what the flags leave out.
 *
 * @throws {WeirError} `usage` for a bad number, an empty path, or `--allow-non-restored-state` without `--from-savepoint`
 * @example
 * ```ts
 * import { jobDefaults } from "./job_args.ts";
 * const d = jobDefaults({ "from-savepoint": "/sp/savepoint-1", parallelism: "3" });
 * console.assert(d.restoreFrom === "/sp/savepoint-1" && d.parallelism === 3 && d.http?.port === 8081);
 * ```
 */
export function jobDefaults(flags: ParsedArgs["flags"], base: EnvironmentDefaults = {}): EnvironmentDefaults {
  const d: EnvironmentDefaults = { ...base };
  const parallelism = intFlag(flags, "parallelism", 1, 32768);
  if (parallelism !== undefined) d.parallelism = parallelism;
  d.http = {
    ...base.http,
    port: intFlag(flags, "port", 0, 65535) ?? base.http?.port ?? PORT_DEFAULT,
    hostname: stringFlag(flags, "host") ?? base.http?.hostname ?? HOSTNAME_DEFAULT,
  };
  const from = stringFlag(flags, "from-savepoint");
  // Resolved here: the job's storage may open paths relative to another directory. An
  // external_path ("file:/…", as the REST API reports a checkpoint) is a path already.
  if (from !== undefined) d.restoreFrom = targetDirectory(checkpointPathOf(from), "Option --from-savepoint");
  if (flags["allow-non-restored-state"] === true) {
    if (from === undefined) throw usage("Option --allow-non-restored-state needs --from-savepoint DIR");
    d.allowNonRestoredState = true;
  }
  if (flags.fresh === true) d.fresh = true;
  return d;
}

/**
 * The command line to show for a restart: `prefix`, then the flags of `argv` except the
 * restore flags, each word quoted for a POSIX shell where needed.
 *
 * @example
 * ```ts
 * import { launchCommand } from "./job_args.ts";
 * const c = launchCommand("weir run job.ts", ["--port", "0", "--from-savepoint", "/a", "--fresh"]);
 * console.assert(c === "weir run job.ts --port 0", c);
 * ```
 */
export function launchCommand(prefix: string, argv: readonly string[]): string {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = /^--([^=]+)/.exec(argv[i])?.[1];
    if (name !== undefined && RESTORE_FLAGS.has(name)) {
      if (JOB_FLAGS[name] === "string" && !argv[i].includes("=")) i++;
      continue;
    }
    kept.push(shellQuote(argv[i]));
  }
  return [prefix, ...kept].join(" ");
}

/**
 * The exact command that restores a savepoint: the launch command plus `--from-savepoint`.
 *
 * @example
 * ```ts
 * import { restoreCommand } from "./job_args.ts";
 * console.assert(restoreCommand("npm start --", "/tmp/my sp") === "npm start -- --from-savepoint '/tmp/my sp'");
 * console.assert(restoreCommand("weir run job.ts -- --input in", "/sp") === "weir run job.ts --from-savepoint /sp -- --input in");
 * ```
 */
export function restoreCommand(launch: string, savepoint: string): string {
  const flag = `--from-savepoint ${shellQuote(savepoint)}`;
  // weir run's own flag goes before the job's arguments (after " -- "), which a job file
  // that parses no arguments would ignore; npm start's must come after its "--".
  const jobArgs = launch.startsWith("weir run ") ? launch.indexOf(" -- ") : -1;
  return jobArgs < 0 ? `${launch} ${flag}` : `${launch.slice(0, jobArgs)} ${flag}${launch.slice(jobArgs)}`;
}

/**
 * A word as a POSIX shell reads it back: as is when it is safe, else in single quotes.
 *
 * @example
 * ```ts
 * import { shellQuote } from "./job_args.ts";
 * console.assert(shellQuote("a b") === "'a b'" && shellQuote("it's") === "'it'\\''s'" && shellQuote("/x/y") === "/x/y");
 * ```
 */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/** The job's own arguments when `weir run` started the file (those after `--`), else undefined. */
let cliJobArgs: readonly string[] | undefined;

/**
 * Marks that `weir run` set the defaults already; `jobArgs` are the arguments it passes
 * on to the job file (after `--`), which {@link jobCommandLine} parses instead of argv
 * (`undefined`: not started by weir run, the default).
 *
 * @example
 * ```ts
 * import { markStartedByCli } from "./job_args.ts";
 * markStartedByCli(undefined);
 * ```
 */
export function markStartedByCli(jobArgs: readonly string[] | undefined): void {
  cliJobArgs = jobArgs;
}

/** What {@link jobCommandLine} read: the environment defaults set, and the job's own flags. */
export interface JobCommandLine {
  defaults: EnvironmentDefaults;
  /** Values of the job file's own flags (`options.flags`), by name. */
  flags: ParsedArgs["flags"];
}

/**
 * The command line of a job file that is also started directly (`npm start -- --input DIR
 * --from-savepoint SP`, `bun job.ts --port 0`), parsed in one place: {@link JOB_FLAGS} plus
 * the file's own `flags`, with node:util's parseArgs. The job flags become the environment
 * defaults, over `base` (the file's own defaults; a job's explicit options still win).
 * Under `weir run FILE [weir flags] -- [job args]`, weir run's flags are in force already
 * and the job args (its own flags, and job flags that override weir run's) are parsed
 * instead of argv. `--help` prints `options.help` (else the own flags' names), then the
 * job flags, and exits.
 *
 * @throws {WeirError} `usage` for an unknown flag, a bad value or a stray argument (the caller prints it and exits 2); `invalid_option` when an own flag reuses a job flag's name
 * @example
 * ```ts
 * import { jobCommandLine } from "./job_args.ts";
 * import { setEnvironmentDefaults } from "../dataflow/environment_defaults.ts";
 * const { defaults, flags } = jobCommandLine({ parallelism: 2 }, { argv: ["--port", "0", "--input", "in"], flags: { input: "string" } });
 * console.assert(defaults.parallelism === 2 && defaults.http?.port === 0 && flags.input === "in");
 * console.assert(defaults.launchCommand?.endsWith("--port 0 --input in"));
 * setEnvironmentDefaults({});
 * ```
 */
export function jobCommandLine(
  base: EnvironmentDefaults = {},
  options: { argv?: readonly string[]; flags?: FlagSpec; help?: string } = {},
): JobCommandLine {
  const own = options.flags ?? {};
  for (const name of Object.keys(own)) {
    if (name in JOB_FLAGS || name === "help") throw new WeirError("invalid_option", `Flag --${name} of the job file is a job flag of weir already; name it otherwise`);
  }
  const spec: FlagSpec = { ...JOB_FLAGS, ...own };
  const argv = cliJobArgs ?? options.argv ?? process.argv.slice(2);
  const { positional, flags } = parseArgs(argv, spec);
  if (flags.help) {
    // A command line's --help ends the process, as every command's does.
    const mine = options.help ?? Object.entries(own).map(([n, k]) => `  --${n}${k === "boolean" ? "" : " VALUE"}${k === "strings" ? " (repeatable)" : ""}`).join("\n");
    process.stdout.write(`${mine ? `${mine}\n` : ""}Job flags:\n${jobFlagsHelp(base)}\n`);
    process.exit(0);
  }
  if (positional.length > 0) throw usage(`Unexpected argument ${JSON.stringify(positional[0])}`);
  let defaults: EnvironmentDefaults;
  if (cliJobArgs !== undefined) {
    const cli = environmentDefaults();
    const merged: EnvironmentDefaults = { ...base, ...cli, http: { ...base.http, ...cli.http } };
    if (cli.parallelism === undefined) merged.parallelism = base.parallelism;
    defaults = jobDefaults(flags, merged);
  } else {
    defaults = jobDefaults(flags, base);
    defaults.launchCommand = launchCommand(selfCommand(), argv);
  }
  setEnvironmentDefaults(defaults);
  const values: ParsedArgs["flags"] = {};
  for (const name of Object.keys(own)) if (flags[name] !== undefined) values[name] = flags[name];
  return { defaults, flags: values };
}

/**
 * {@link jobCommandLine} for a job file without flags of its own; returns the defaults
 * now in force.
 *
 * @throws {WeirError} `usage` for an unknown flag or a bad value (the caller prints it and exits 2)
 * @example
 * ```ts
 * import { applyCommandLine } from "./job_args.ts";
 * import { setEnvironmentDefaults } from "../dataflow/environment_defaults.ts";
 * const d = applyCommandLine({ parallelism: 2 }, { argv: ["--port", "0"] });
 * console.assert(d.parallelism === 2 && d.http?.port === 0);
 * setEnvironmentDefaults({});
 * ```
 */
export function applyCommandLine(base: EnvironmentDefaults = {}, options: { argv?: readonly string[] } = {}): EnvironmentDefaults {
  return jobCommandLine(base, options).defaults;
}

/** How this process was started, as a user would type it again. */
function selfCommand(): string {
  if (process.env.npm_lifecycle_event === "start") return "npm start --";
  const script = process.argv[1] ? shellQuote(relative(process.cwd(), process.argv[1]) || process.argv[1]) : "<job file>";
  return (globalThis as { Deno?: unknown }).Deno !== undefined ? `deno run -A ${script}` : `bun ${script}`;
}
