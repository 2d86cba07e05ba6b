/**
 * The job-level metrics of GET /jobs/:jobid/metrics, by Flink's names (its JobManager job
 * metric group: restarts, uptime, checkpoint counts and the last checkpoint's figures).
 * @module
 */
import type { JobHandle } from "../runtime/job_handle.ts";
import { isTerminal } from "./registry.ts";

/**
 * The job's metrics now: `numRestarts`; `uptime` (ms in RUNNING since it last entered it,
 * `statusSince`; 0 in any other status) and `downtime` (ms in RESTARTING, else 0), both
 * -1 once the job ended (Flink's NO_LONGER_RUNNING);
 * `numberOfCompletedCheckpoints`, `numberOfFailedCheckpoints`,
 * `numberOfInProgressCheckpoints`, `totalNumberOfCheckpoints`; `lastCheckpointDuration`
 * (ms), `lastCheckpointSize` (bytes this checkpoint wrote), `lastCheckpointFullSize`
 * (bytes of the whole state), `lastCheckpointRestoreTimestamp` (epoch ms, -1 if none), as
 * Flink 1.19 names them.
 */
export function jobMetricValues(job: JobHandle, statusSince: number): Record<string, number> {
  const stats = job.checkpointStats();
  const last = stats.latest.completed;
  const now = job.now();
  const since = Math.max(0, Math.round(now - statusSince));
  // Flink's gauges answer NO_LONGER_RUNNING (-1) once the job ended.
  const ended = isTerminal(job.status);
  return {
    numRestarts: job.restarts,
    uptime: ended ? -1 : job.status === "RUNNING" ? since : 0,
    downtime: ended ? -1 : job.status === "RESTARTING" ? since : 0,
    numberOfCompletedCheckpoints: stats.counts.completed,
    numberOfFailedCheckpoints: stats.counts.failed,
    numberOfInProgressCheckpoints: stats.counts.in_progress,
    totalNumberOfCheckpoints: stats.counts.total,
    lastCheckpointDuration: last?.end_to_end_duration ?? -1,
    lastCheckpointSize: last?.checkpointed_size ?? -1,
    lastCheckpointFullSize: last?.state_size ?? -1,
    lastCheckpointRestoreTimestamp: stats.latest.restored?.restore_timestamp ?? -1,
  };
}
