/**
 * What `weir savepoint` and `weir stop` share: the target directory as the server should
 * see it, and polling a savepoint trigger until it settled.
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { WeirError } from "../errors.ts";
import type { JobRow } from "./client.ts";
import type { ApiClient } from "./client.ts";
import { usage } from "./args.ts";
import { restoreCommand } from "./job_args.ts";
import { duration, pause, progress } from "./format.ts";

const POLL_MS = 100;

/**
 * The target directory to send: a relative one is resolved against the CLI's working
 * directory, because the server would otherwise resolve it against its own.
 *
 * @example
 * ```ts
 * import { targetDirectory } from "./savepoint_trigger.ts";
 * console.assert(targetDirectory("/tmp/sp", "<targetDirectory>") === "/tmp/sp");
 * ```
 */
export function targetDirectory(raw: string, what: string): string {
  if (raw.trim().length === 0) throw usage(`${what} must be a directory path, got ${JSON.stringify(raw)}`);
  return isAbsolute(raw) ? raw : resolve(raw);
}

/**
 * Polls GET /jobs/:jobid/savepoints/:triggerid (with progress on stderr) until the
 * trigger settled; resolves to the savepoint's location, throws `savepoint_failed` with
 * the server's reason, `timeout` after `timeoutMs`.
 *
 * @example
 * ```ts
 * import { awaitSavepoint } from "./savepoint_trigger.ts";
 * // const location = await awaitSavepoint(api, job, requestId, { label: "Savepointing", timeoutMs: 120_000 });
 * ```
 */
export async function awaitSavepoint(api: ApiClient, job: JobRow, requestId: string, options: { label: string; timeoutMs: number }): Promise<string> {
  const p = progress(`${options.label} job ${job.name}`);
  const deadline = performance.now() + options.timeoutMs;
  try {
    for (;;) {
      let state;
      try {
        state = await api.get(`/jobs/${job.id}/savepoints/${requestId}`);
      } catch (e) {
        // A job that ends with its savepoint takes its server down about a second later.
        if (e instanceof WeirError && e.code === "api_unreachable") {
          throw new WeirError("api_unreachable", `The REST API at ${api.url} closed before it reported savepoint trigger ${requestId} of job ${job.name}; look for the savepoint in the target directory`, { cause: e });
        }
        throw e;
      }
      if (state.status?.id === "COMPLETED") {
        const failure = state.operation?.["failure-cause"];
        if (failure) throw new WeirError("savepoint_failed", `Savepoint of job ${job.name} failed: ${failure.message}`);
        const location = state.operation?.location;
        if (typeof location !== "string") throw new WeirError("api_error", `Savepoint trigger ${requestId} of job ${job.name} completed without a location`);
        return location;
      }
      if (performance.now() > deadline) throw new WeirError("timeout", `Savepoint of job ${job.name} still in progress after ${duration(options.timeoutMs)} (trigger ${requestId}); it goes on in the job`);
      await pause(POLL_MS);
    }
  } finally {
    p.done();
  }
}

/**
 * The command that restores a job from a savepoint: the job's own launch command (GET
 * /jobs/:jobid `weir-launch-command`, set by `weir run` and `npm start`) plus
 * `--from-savepoint`, or a `weir run <job file>` template when the job did not say how it
 * was started. Asked before the stop, while the job still answers.
 *
 * @example
 * ```ts
 * import { restoreCommandFor } from "./savepoint_trigger.ts";
 * // const restore = await restoreCommandFor(api, job); restore("/sp/savepoint-1")
 * ```
 */
export async function restoreCommandFor(api: ApiClient, job: JobRow): Promise<(savepoint: string) => string> {
  let launch = "weir run <job file>";
  try {
    const details = await api.get<{ "weir-launch-command"?: unknown }>(`/jobs/${job.id}`);
    if (typeof details["weir-launch-command"] === "string") launch = details["weir-launch-command"];
  } catch {
    // The hint is a courtesy: the stop itself reports any real problem with the API.
  }
  return (savepoint) => restoreCommand(launch, savepoint);
}
