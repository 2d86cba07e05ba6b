/**
 * `weir savepoint <job> <targetDirectory>`: take a savepoint and print its location.
 * @module
 */
import process from "node:process";
import { intFlag, usage } from "../args.ts";
import { API_FLAGS, API_FLAGS_HELP, type Command, clientFor, say } from "../command.ts";
import { inspect, read, rewrite } from "./savepoint_tools.ts";
import { awaitSavepoint, restoreCommandFor, targetDirectory } from "../savepoint_trigger.ts";

/**
 * Triggers a savepoint over POST /jobs/:jobid/savepoints (with `cancel-job` for --cancel),
 * polls it with progress on stderr, and prints the location alone on stdout so that
 * `$(weir savepoint …)` captures it.
 *
 * @example
 * ```ts
 * import { savepoint } from "./savepoint.ts";
 * console.assert(savepoint.name === "savepoint");
 * ```
 */
export const savepoint: Command = {
  name: "savepoint",
  summary: "take a savepoint and print its location; savepoint inspect|read|rewrite DIR look into one",
  help: `Usage: weir savepoint <job> <targetDirectory> [--cancel] [--timeout MS] [--url URL] [--token TOKEN]
       weir savepoint inspect DIR [--json]
       weir savepoint read DIR --uid U [--state S] [--key K]
       weir savepoint rewrite DIR --out DIR2 [--drop-uid U] [--rename-uid A=B] [--max-parallelism N]
(a job named inspect, read or rewrite is given by its id in the first form)

Takes a savepoint of <job> (id, id prefix or name) into a new directory under
<targetDirectory> and prints its location, alone on stdout; progress goes to stderr.
A relative <targetDirectory> is resolved against the current directory. The command
that restores from it (weir run FILE --from-savepoint LOCATION, or the job's restoreFrom
option) goes to stderr. Also: weir savepoint inspect|read|rewrite (see their --help).

Options:
  --cancel       end the job once the savepoint completed (as weir stop does)
  --timeout MS   give up waiting after MS milliseconds (default 120000)
${API_FLAGS_HELP}`,
  flags: { ...API_FLAGS, cancel: "boolean", timeout: "string" },
  subcommands: [inspect, read, rewrite],
  async run({ positional, flags }) {
    if (positional.length !== 2) throw usage("weir savepoint needs a <job> and a <targetDirectory>");
    const target = targetDirectory(positional[1], "<targetDirectory>");
    const timeoutMs = intFlag(flags, "timeout", 1, 86_400_000) ?? 120_000;
    const cancelJob = flags.cancel === true;
    const api = clientFor(flags);
    const job = await api.findJob(positional[0]);
    const restore = await restoreCommandFor(api, job);
    const { "request-id": requestId } = await api.request<{ "request-id": string }>("POST", `/jobs/${job.id}/savepoints`, { "target-directory": target, "cancel-job": cancelJob });
    const location = await awaitSavepoint(api, job, requestId, { label: "Taking a savepoint of", timeoutMs });
    if (cancelJob) process.stderr.write(`Job ${job.name} (${job.id}) ended with its savepoint\n`);
    say(location);
    process.stderr.write(`Restore with: ${restore(location)}\n`);
    return 0;
  },
};
