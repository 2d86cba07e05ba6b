/**
 * `weir cancel <job>`: cancel a job and wait until it ended.
 * @module
 */
import { WeirError } from "../../errors.ts";
import { intFlag, usage } from "../args.ts";
import { API_FLAGS, API_FLAGS_HELP, type Command, clientFor, say } from "../command.ts";
import { duration, pause, progress } from "../format.ts";

const POLL_MS = 100;

/**
 * Cancels over PATCH /jobs/:jobid?mode=cancel, then polls the job until it is CANCELED.
 * The job's server closes shortly after its job ended, so a vanished server counts as done.
 *
 * @example
 * ```ts
 * import { cancel } from "./cancel.ts";
 * console.assert(cancel.name === "cancel");
 * ```
 */
export const cancel: Command = {
  name: "cancel",
  summary: "cancel a running job",
  help: `Usage: weir cancel <job> [--timeout MS] [--url URL] [--token TOKEN]

Cancels <job> (id, id prefix or name): its subtasks stop at once and nothing more is
committed. Its checkpoints are kept, so it can be restored with restoreFrom.

Options:
  --timeout MS   give up waiting after MS milliseconds (default 30000)
${API_FLAGS_HELP}`,
  flags: { ...API_FLAGS, timeout: "string" },
  async run({ positional, flags }) {
    if (positional.length !== 1) throw usage("weir cancel needs exactly one <job>");
    const timeoutMs = intFlag(flags, "timeout", 1, 86_400_000) ?? 30_000;
    const api = clientFor(flags);
    const job = await api.findJob(positional[0]);
    await api.request("PATCH", `/jobs/${job.id}?mode=cancel`);
    const p = progress(`Canceling job ${job.name}`);
    const deadline = performance.now() + timeoutMs;
    try {
      for (;;) {
        let status: string;
        try {
          status = (await api.get<{ state: string }>(`/jobs/${job.id}`)).state;
        } catch (e) {
          if (e instanceof WeirError && e.code === "api_unreachable") status = "CANCELED";
          else throw e;
        }
        if (status === "CANCELED") break;
        if (status === "FINISHED" || status === "FAILED" || status === "STOPPED") throw new WeirError("job_not_running", `Job ${job.name} ended ${status} before the cancel took effect`);
        if (performance.now() > deadline) throw new WeirError("timeout", `Job ${job.name} still ${status} after ${duration(timeoutMs)}`);
        await pause(POLL_MS);
      }
    } finally {
      p.done();
    }
    say(`Job ${job.name} (${job.id}) canceled`);
    return 0;
  },
};
