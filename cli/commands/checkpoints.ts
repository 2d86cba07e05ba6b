/**
 * `weir checkpoints <job>`: the checkpoint history as a table.
 * @module
 */
import type { CheckpointStatsSnapshot } from "../../checkpoint/stats.ts";
import { usage } from "../args.ts";
import { API_FLAGS, API_FLAGS_HELP, type Command, clientFor, say } from "../command.ts";
import { bytes, duration, table } from "../format.ts";

/**
 * Prints the job's checkpoint history, newest first: id, type, status, duration, size (the
 * full state, Flink's `state_size`), what the checkpoint wrote (`checkpointed_size`: less
 * for an incremental one) and in-flight bytes (data an unaligned checkpoint persisted),
 * with failure reasons.
 *
 * @example
 * ```ts
 * import { checkpoints } from "./checkpoints.ts";
 * console.assert(checkpoints.name === "checkpoints");
 * ```
 */
export const checkpoints: Command = {
  name: "checkpoints",
  summary: "show a job's checkpoint history",
  help: `Usage: weir checkpoints <job> [--json] [--url URL]

Shows the checkpoint history of <job> (id, id prefix or name), newest first:
id, type, status, duration, size (the full state), written (what the checkpoint
wrote: less than size for an incremental one) and in-flight bytes.

Options:
  --json         print GET /jobs/:jobid/checkpoints as JSON
${API_FLAGS_HELP}`,
  flags: { ...API_FLAGS, json: "boolean" },
  async run({ positional, flags }) {
    if (positional.length !== 1) throw usage("weir checkpoints needs exactly one <job>");
    const api = clientFor(flags);
    const job = await api.findJob(positional[0]);
    const stats = await api.get<CheckpointStatsSnapshot>(`/jobs/${job.id}/checkpoints`);
    if (flags.json) {
      say(JSON.stringify(stats, null, 2));
      return 0;
    }
    const c = stats.counts;
    say(`Job ${job.name} (${job.id}): ${c.completed} completed, ${c.failed} failed, ${c.in_progress} in progress, ${c.restored} restored`);
    if (stats.history.length === 0) {
      say("No checkpoints yet");
      return 0;
    }
    const rows = stats.history.map((h) => [
      String(h.id),
      h.checkpoint_type,
      h.status,
      h.status === "IN_PROGRESS" ? "-" : duration(h.end_to_end_duration),
      bytes(h.state_size),
      h.status === "COMPLETED" ? bytes(h.checkpointed_size) : "-",
      bytes(h.persisted_data),
      h.failure_message ?? "",
    ]);
    say(table(["ID", "TYPE", "STATUS", "DURATION", "SIZE", "WRITTEN", "IN-FLIGHT", "FAILURE"], rows).replace(/ +$/gm, ""));
    return 0;
  },
};
