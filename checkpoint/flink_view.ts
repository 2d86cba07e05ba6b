/**
 * Checkpoint statistics as Flink's REST API shows them (Flink 1.19's CheckpointingStatistics,
 * CheckpointStatistics with its `className`, TaskCheckpointStatisticsWithSubtaskDetails):
 * `job.checkpointStats()` and `job.checkpointDetails()` with tasks keyed by 32-hex vertex
 * id, Flink's extra fields (`processed_data`, `savepointFormat`, subtask `className`,
 * sync/async durations) and integral summaries. Every weir field stays as it was.
 * @module
 */
import type { CheckpointDetails, CheckpointStatsSnapshot, StatsSummary, SubtaskCheckpointStats, TaskCheckpointStats } from "./stats.ts";
import { summarize } from "./stats.ts";

/** Flink's discriminator of a checkpoint's statistics. */
const CLASS_NAME = { COMPLETED: "completed", FAILED: "failed", IN_PROGRESS: "in_progress" } as const;

/**
 * One checkpoint in Flink's shape; `hex` maps weir's vertex ids to Flink's.
 *
 * @example
 * ```ts
 * import { flinkCheckpoint } from "./flink_view.ts";
 * // flinkCheckpoint(job.checkpointDetails(1)!, hexIdsOf(job)).className → "completed"
 * ```
 */
export function flinkCheckpoint(d: CheckpointDetails, hex: ReadonlyMap<string, string>): Record<string, unknown> {
  const tasks: Record<string, unknown> = {};
  for (const [vertexId, t] of Object.entries(d.tasks)) {
    const id = hex.get(vertexId) ?? vertexId;
    tasks[id] = { ...flinkTask(d, t), vertex_id: id, subtasks: t.subtasks.map(flinkSubtask) };
  }
  const view: Record<string, unknown> = {
    className: CLASS_NAME[d.status],
    ...d,
    // weir counts the bytes a subtask buffered while aligning; Flink calls them processed.
    processed_data: d.alignment_buffered,
    tasks,
  };
  // Flink reports the format only for savepoints; weir writes them canonical.
  if (d.is_savepoint) view.savepointFormat = "CANONICAL";
  // Flink's FailedCheckpointStatistics carries these always; weir's omit them until set.
  if (d.status === "FAILED") {
    view.failure_timestamp = d.failure_timestamp ?? d.latest_ack_timestamp;
    view.failure_message = d.failure_message ?? "";
  }
  if (d.status === "COMPLETED") view.external_path = d.external_path ?? "";
  return view;
}

/** Flink's TaskCheckpointStatistics: its `id` is the checkpoint's, weir's vertex id moves to `vertex_id`. */
function flinkTask(d: CheckpointDetails, t: TaskCheckpointStats): Record<string, unknown> {
  const { subtasks: _subtasks, id: _vertex, ...rest } = t;
  const buffered = t.subtasks.reduce((n, s) => n + (s.persisted_data ?? 0), 0);
  return { ...rest, id: d.id, alignment_buffered: buffered, processed_data: buffered };
}

/** Flink's SubtaskCheckpointStatistics: `completed` with its figures, or `pending`. */
function flinkSubtask(s: SubtaskCheckpointStats): Record<string, unknown> {
  if (s.status !== "completed") return { className: "pending", index: s.index, status: s.status };
  return {
    className: "completed",
    ...s,
    alignment: { ...s.alignment, buffered: s.alignment.persisted, processed: s.alignment.persisted },
    checkpoint: s.checkpoint ?? { sync: 0, async: 0 },
    aborted: false,
  };
}

/**
 * GET …/checkpoints/details/:id/subtasks/:vertexid: one task of one checkpoint with every
 * subtask and min/max/avg summaries of their figures.
 *
 * @example
 * ```ts
 * import { flinkTaskDetails } from "./flink_view.ts";
 * // flinkTaskDetails(details, "v1", hexId).summary.start_delay.max
 * ```
 */
export function flinkTaskDetails(d: CheckpointDetails, t: TaskCheckpointStats, hexId: string): Record<string, unknown> {
  const done = t.subtasks.filter((s) => s.status === "completed");
  const sum = (pick: (s: SubtaskCheckpointStats) => number) => integral(summarize(done.map(pick)));
  return {
    ...flinkTask(d, t),
    vertex_id: hexId,
    subtasks: t.subtasks.map(flinkSubtask),
    summary: {
      state_size: sum((s) => s.state_size ?? 0),
      checkpointed_size: sum((s) => s.checkpointed_size ?? 0),
      end_to_end_duration: sum((s) => s.end_to_end_duration ?? 0),
      checkpoint_duration: { sync: sum((s) => s.checkpoint?.sync ?? 0), async: sum((s) => s.checkpoint?.async ?? 0) },
      alignment: {
        buffered: sum((s) => s.alignment.persisted),
        processed: sum((s) => s.alignment.persisted),
        persisted: sum((s) => s.alignment.persisted),
        duration: sum((s) => s.alignment.duration),
      },
      start_delay: sum((s) => s.start_delay),
    },
  };
}

/**
 * GET /jobs/:jobid/checkpoints in Flink's shape: every checkpoint through
 * {@link flinkCheckpoint}, summaries with whole-number min/avg/max and `processed_data`.
 *
 * @example
 * ```ts
 * import { flinkCheckpointStats } from "./flink_view.ts";
 * // flinkCheckpointStats(job.checkpointStats(), hexIdsOf(job)).history[0].className
 * ```
 */
export function flinkCheckpointStats(s: CheckpointStatsSnapshot, hex: ReadonlyMap<string, string>): Record<string, unknown> {
  const summary: Record<string, StatsSummary> = {};
  for (const [k, v] of Object.entries(s.summary)) summary[k] = integral(v);
  summary.processed_data = summary.alignment_buffered;
  const view = (d: CheckpointDetails | null) => (d ? flinkCheckpoint(d, hex) : null);
  return {
    counts: s.counts,
    summary,
    latest: { completed: view(s.latest.completed), savepoint: view(s.latest.savepoint), failed: view(s.latest.failed), restored: s.latest.restored },
    history: s.history.map((d) => flinkCheckpoint(d, hex)),
  };
}

/** Flink's StatsSummaryDto has whole-number min, max and avg. */
function integral(s: StatsSummary): StatsSummary {
  return { ...s, min: Math.round(s.min), max: Math.round(s.max), avg: Math.round(s.avg) };
}
