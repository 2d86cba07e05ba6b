/**
 * `weir checkpoint <job>`: trigger a checkpoint and wait for it.
 * @module
 */
import type { CheckpointDetails } from "../../checkpoint/stats.ts";
import { WeirError } from "../../errors.ts";
import { intFlag, usage } from "../args.ts";
import { API_FLAGS, API_FLAGS_HELP, type Command, clientFor, say } from "../command.ts";
import { bytes, duration, pause, progress } from "../format.ts";

const POLL_MS = 100;

/**
 * Triggers a checkpoint over POST /jobs/:jobid/checkpoints, polls it with progress on
 * stderr, and prints its figures; a failed checkpoint exits 1 with the reason.
 *
 * @example
 * ```ts
 * import { checkpoint } from "./checkpoint.ts";
 * console.assert(checkpoint.name === "checkpoint");
 * ```
 */
export const checkpoint: Command = {
  name: "checkpoint",
  summary: "trigger a checkpoint and wait until it completed",
  help: `Usage: weir checkpoint <job> [--timeout MS] [--url URL] [--token TOKEN]

Triggers a checkpoint of <job> (id, id prefix or name) and waits until it completed or
failed, then prints its id, type, duration, size and in-flight bytes.

Options:
  --timeout MS   give up waiting after MS milliseconds (default 120000)
${API_FLAGS_HELP}`,
  flags: { ...API_FLAGS, timeout: "string" },
  async run({ positional, flags }) {
    if (positional.length !== 1) throw usage("weir checkpoint needs exactly one <job>");
    const timeoutMs = intFlag(flags, "timeout", 1, 86_400_000) ?? 120_000;
    const api = clientFor(flags);
    const job = await api.findJob(positional[0]);
    const { "request-id": requestId } = await api.request<{ "request-id": string }>("POST", `/jobs/${job.id}/checkpoints`);
    const p = progress(`Checkpointing job ${job.name}`);
    try {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const state = await api.get(`/jobs/${job.id}/checkpoints/${requestId}`);
        if (state.status.id === "COMPLETED") {
          p.done();
          const failure = state.operation["failure-cause"];
          if (failure) throw new WeirError("checkpoint_failed", `Checkpoint of job ${job.name} failed: ${failure.message}`);
          const d = await api.get<CheckpointDetails>(`/jobs/${job.id}/checkpoints/details/${state.operation.checkpointId}`);
          say(`Checkpoint ${d.id} completed: ${d.checkpoint_type}, ${duration(d.end_to_end_duration)}, size ${bytes(d.state_size)}, in-flight ${bytes(d.persisted_data)}`);
          return 0;
        }
        if (performance.now() > deadline) throw new WeirError("timeout", `Checkpoint of job ${job.name} still in progress after ${duration(timeoutMs)} (trigger ${requestId})`);
        await pause(POLL_MS);
      }
    } finally {
      p.done();
    }
  },
};
