/**
 * `weir stop <job> --savepoint <dir>`: stop a job with a savepoint and print its location.
 * @module
 */
import process from "node:process";
import { intFlag, usage } from "../args.ts";
import { API_FLAGS, API_FLAGS_HELP, type Command, clientFor, say } from "../command.ts";
import { awaitSavepoint, restoreCommandFor, targetDirectory } from "../savepoint_trigger.ts";

/**
 * Stops over POST /jobs/:jobid/stop, polls the savepoint with progress on stderr, and
 * prints its location alone on stdout and the command that restores it on stderr.
 *
 * @example
 * ```ts
 * import { stop } from "./stop.ts";
 * console.assert(stop.name === "stop");
 * ```
 */
export const stop: Command = {
  name: "stop",
  summary: "stop a job with a savepoint and print its location",
  help: `Usage: weir stop <job> --savepoint DIR [--drain] [--timeout MS] [--url URL] [--token TOKEN]

Stops <job> (id, id prefix or name) gracefully: takes a savepoint into a new directory
under DIR, ends the job, and prints the savepoint's location, alone on stdout; progress
goes to stderr, and so does the command that restores the job from it (the job's own
command line when weir run or npm start started it, with --from-savepoint). A relative
DIR is resolved against the current directory.

Options:
  --savepoint DIR  where to write the savepoint (required)
  --drain          end the sources' input first, so operators flush (windows, buffers)
                   before the savepoint; without it the job stops right at the savepoint
  --timeout MS     give up waiting after MS milliseconds (default 120000)
${API_FLAGS_HELP}`,
  flags: { ...API_FLAGS, savepoint: "string", drain: "boolean", timeout: "string" },
  async run({ positional, flags }) {
    if (positional.length !== 1) throw usage("weir stop needs exactly one <job>");
    if (typeof flags.savepoint !== "string") throw usage("weir stop needs --savepoint DIR (where to write the savepoint)");
    const target = targetDirectory(flags.savepoint, "Option --savepoint");
    const timeoutMs = intFlag(flags, "timeout", 1, 86_400_000) ?? 120_000;
    const drain = flags.drain === true;
    const api = clientFor(flags);
    const job = await api.findJob(positional[0]);
    const restore = await restoreCommandFor(api, job);
    const { "request-id": requestId } = await api.request<{ "request-id": string }>("POST", `/jobs/${job.id}/stop`, { targetDirectory: target, drain });
    const location = await awaitSavepoint(api, job, requestId, { label: drain ? "Draining and stopping" : "Stopping", timeoutMs });
    process.stderr.write(`Job ${job.name} (${job.id}) stopped with a savepoint\n`);
    say(location);
    process.stderr.write(`Restore with: ${restore(location)}\n`);
    return 0;
  },
};
