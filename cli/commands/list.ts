/**
 * `weir list`: the jobs the REST API knows.
 * @module
 */
import { usage } from "../args.ts";
import type { JobRow } from "../client.ts";
import { API_FLAGS, API_FLAGS_HELP, type Command, clientFor, say } from "../command.ts";
import { duration, table } from "../format.ts";

/**
 * Lists jobs: id, name, status, start time and how long they ran.
 *
 * @example
 * ```ts
 * import { list } from "./list.ts";
 * console.assert(list.name === "list");
 * ```
 */
export const list: Command = {
  name: "list",
  summary: "list the jobs of a weir process",
  help: `Usage: weir list [--json] [--url URL]

Lists the jobs the REST API knows: id, name, status, start time and duration.

Options:
  --json         print GET /jobs as JSON
${API_FLAGS_HELP}`,
  flags: { ...API_FLAGS, json: "boolean" },
  async run({ positional, flags }) {
    if (positional.length > 0) throw usage(`weir list takes no arguments, got ${JSON.stringify(positional[0])}`);
    const api = clientFor(flags);
    const { jobs } = await api.get<{ jobs: JobRow[] }>("/jobs");
    if (flags.json) {
      say(JSON.stringify({ jobs }, null, 2));
      return 0;
    }
    if (jobs.length === 0) {
      say(`No jobs at ${api.url}`);
      return 0;
    }
    // The server's clock: "now" is its own end-time for running jobs, as far as the CLI can tell.
    const rows = jobs.map((j) => [
      j.id,
      j.name,
      // weir's own: a job stopped with a savepoint is STOPPED, as `weir run` says, not Flink's FINISHED.
      j["weir-status"] ?? j.status,
      new Date(j["start-time"]).toISOString(),
      typeof j.duration === "number" ? duration(j.duration) : j["end-time"] >= 0 ? duration(j["end-time"] - j["start-time"]) : "-",
    ]);
    say(table(["ID", "NAME", "STATUS", "STARTED", "RAN FOR"], rows));
    return 0;
  },
};
