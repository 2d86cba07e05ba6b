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
import { environmentDefaults, type EnvironmentDefaults, setEnvironmentDefaults } from "../dataflow/environment.ts";
import { HOSTNAME_DEFAULT, PORT_DEFAULT } from "../http/server.ts";
import { type FlagSpec, intFlag, type ParsedArgs, parseArgs, stringFlag, usage } from "./args.ts";
import { targetDirectory } from "./savepoint_trigger.ts";

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

/** Help lines for {@link JOB_FLAGS}. */
export const JOB_FLAGS_HELP = `  --parallelism N             default parallelism (default 1)
  --port P                    REST API port (default ${PORT_DEFAULT}; 0 picks a free one)
  --host H                    address to bind (default ${HOSTNAME_DEFAULT})
  --from-savepoint DIR        start from a savepoint or retained checkpoint: DIR or DIR/_metadata
                              (the restoreFrom option; Flink's -s)
  --allow-non-restored-state  skip state of operators (uids) the job no longer has (Flink's -n)
  --fresh                     start a new run even if the storage holds an unfinished run of
                              the same jobName (which a start otherwise resumes)`;

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
  // Resolved here: the job's storage may open paths relative to another directory.
  if (from !== undefined) d.restoreFrom = targetDirectory(from, "Option --from-savepoint");
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
 * ```
 */
export function restoreCommand(launch: string, savepoint: string): string {
  return `${launch} --from-savepoint ${shellQuote(savepoint)}`;
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

let runningUnderCli = false;

/** Marks that `weir run` set the defaults already, so a job file's own command line is not parsed. */
export function markStartedByCli(): void {
  runningUnderCli = true;
}

/**
 * For a job file that is also started directly (`npm start -- --from-savepoint DIR`, `bun
 * job.ts --port 0`): parses this process's command line with {@link JOB_FLAGS} and sets
 * the environment defaults from it, over `base` (the file's own defaults, which the
 * flags override and a job's explicit options still win over). Under `weir run`, which
 * parsed the same flags already, only `base` is merged in underneath. Returns the
 * defaults now in force.
 *
 * @throws {WeirError} `usage` for an unknown flag or a bad value (the caller prints it and exits 2)
 * @example
 * ```ts
 * import { applyCommandLine } from "./job_args.ts";
 * import { setEnvironmentDefaults } from "../dataflow/environment.ts";
 * const d = applyCommandLine({ parallelism: 2 }, { argv: ["--port", "0"] });
 * console.assert(d.parallelism === 2 && d.http?.port === 0);
 * setEnvironmentDefaults({});
 * ```
 */
export function applyCommandLine(base: EnvironmentDefaults = {}, options: { argv?: readonly string[] } = {}): EnvironmentDefaults {
  if (runningUnderCli) {
    const cli = environmentDefaults();
    const merged: EnvironmentDefaults = { ...base, ...cli, http: { ...base.http, ...cli.http } };
    if (cli.parallelism === undefined) merged.parallelism = base.parallelism;
    setEnvironmentDefaults(merged);
    return merged;
  }
  const argv = options.argv ?? process.argv.slice(2);
  const { positional, flags } = parseArgs(argv, JOB_FLAGS);
  if (flags.help) {
    // A command line's --help ends the process, as every command's does.
    process.stdout.write(`Options:\n${JOB_FLAGS_HELP}\n`);
    process.exit(0);
  }
  if (positional.length > 0) throw usage(`Unexpected argument ${JSON.stringify(positional[0])}`);
  const defaults = jobDefaults(flags, base);
  defaults.launchCommand = launchCommand(selfCommand(), argv);
  setEnvironmentDefaults(defaults);
  return defaults;
}

/** How this process was started, as a user would type it again. */
function selfCommand(): string {
  if (process.env.npm_lifecycle_event === "start") return "npm start --";
  const script = process.argv[1] ? shellQuote(relative(process.cwd(), process.argv[1]) || process.argv[1]) : "<job file>";
  return (globalThis as { Deno?: unknown }).Deno !== undefined ? `deno run -A ${script}` : `bun ${script}`;
}
