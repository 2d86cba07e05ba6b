/**
 * `weir run <job.ts>`: runs a job file in this process with the REST API on.
 * @module
 */
import process from "node:process";
import { resolve } from "node:path";
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { setEnvironmentDefaults } from "../../dataflow/environment_defaults.ts";
import { WeirError } from "../../errors.ts";
import { jobRegistry } from "../../http/registry.ts";
import { serverClosed } from "../../http/server.ts";
import "../../mod.ts";
import type { JobHandle } from "../../runtime/job_handle.ts";
import { usage } from "../args.ts";
import { JOB_FLAGS, JOB_FLAGS_HELP, jobDefaults, launchCommand, markStartedByCli, restoreCommand, shellQuote } from "../job_args.ts";
import { type Command, say } from "../command.ts";

/**
 * Imports the job file after setting environment defaults from the flags (a job's own
 * options win), announces every job it starts with its URL, and exits once all ended:
 * 0 unless one failed. `--from-savepoint DIR` reaches the job as the default `restoreFrom`
 * (Flink's `flink run -s DIR -n`).
 *
 * @example
 * ```ts
 * import { run } from "./run.ts";
 * console.assert(run.name === "run");
 * ```
 */
export const run: Command = {
  name: "run",
  summary: "run a job file with the REST API and dashboard, optionally from a savepoint",
  help: `Usage: weir run <job.ts> [--parallelism N] [--port P] [--host H]
                [--from-savepoint DIR [--allow-non-restored-state]] [--fresh] [-- JOB ARGS]

Runs <job.ts> in this process. Every StreamEnvironment it creates gets the options
below as defaults for options it does not set itself (setEnvironmentDefaults), so its
REST API and dashboard are served at http://H:P and --from-savepoint DIR becomes its
restoreFrom. Exits when its jobs ended: 0, or 1 if one failed; a job stopped with a
savepoint prints the command that restores it. Ctrl-C cancels the jobs (unless the job
file handles SIGINT itself). Arguments after -- go to the job file, which reads them with
jobCommandLine (its own flags, e.g. examples/wordcount.ts --input DIR).

Options:
${JOB_FLAGS_HELP}
  (WEIR_TOKEN, when set, guards the mutating endpoints)`,
  flags: JOB_FLAGS,
  async run({ positional, flags, argv = [] }) {
    // Arguments after "--" belong to the job file (jobCommandLine parses them there).
    const dashes = argv.indexOf("--");
    const jobArgs = dashes >= 0 ? argv.slice(dashes + 1) : [];
    const files = positional.slice(0, positional.length - jobArgs.length);
    if (files.length < 1) throw usage("weir run needs a <job.ts> file");
    if (files.length > 1) throw usage(`weir run takes one <job.ts> file, got also ${JSON.stringify(files[1])} (arguments for the job go after --)`);
    const file = resolve(positional[0]);
    if (!existsSync(file)) throw new WeirError("usage", `Job file ${positional[0]} not found`);
    const defaults = jobDefaults(flags);
    const before = dashes >= 0 ? argv.slice(0, dashes) : argv;
    defaults.launchCommand = launchCommand(`weir run ${shellQuote(positional[0])}`, [...before.filter((a) => a !== positional[0]), ...(dashes >= 0 ? ["--", ...jobArgs] : [])]);
    setEnvironmentDefaults(defaults);
    markStartedByCli(jobArgs);

    const jobs: JobHandle[] = [];
    jobRegistry.onJob((job) => {
      jobs.push(job);
      announce(job);
    });
    process.on("SIGINT", () => interrupted(jobs));

    await import(pathToFileURL(file).href);
    if (jobs.length === 0) throw new WeirError("no_job", `${positional[0]} started no job (did it call env.execute()?)`);
    const results = await Promise.all(jobs.map((j) => j.done));
    let failed = 0;
    results.forEach((r, i) => {
      const j = jobs[i];
      if (r.status === "failed") failed++;
      const extra = r.savepoint ? `, savepoint ${r.savepoint}` : r.error ? `: ${r.error.message}` : "";
      say(`Job ${j.name} (${j.id}) ${r.status} after ${r.checkpoints.completed} checkpoints and ${r.restarts} restarts${extra}`);
      if (r.savepoint) say(`Restore with: ${restoreCommand(defaults.launchCommand!, r.savepoint)}`);
    });
    // Let clients polling the API see the final state before the process goes.
    await Promise.all(jobs.map((j) => serverClosed(j.url)));
    return failed > 0 ? 1 : 0;
  },
};

/** Announces a job once it runs (a job that fails to start is never announced as started). */
function announce(job: JobHandle): void {
  let said = false;
  const off = job.on((e) => {
    if (said || e.type !== "status" || e.status !== "RUNNING") return;
    said = true;
    say(`Job ${job.name} (${job.id}) started; REST API and dashboard at ${job.url ?? "(none)"}`);
  });
  void job.done.then(off);
}

let interrupts = 0;
function interrupted(jobs: JobHandle[]): void {
  // The job file handles Ctrl-C itself (e.g. stop with a savepoint): leave it to that.
  if (process.listenerCount("SIGINT") > 1) return;
  if (++interrupts > 1) process.exit(130);
  process.stderr.write("Interrupted: canceling (Ctrl-C again to quit at once)\n");
  for (const j of jobs) void j.cancel();
}
