/**
 * Checkpoint statistics in the shape of Flink's REST API (GET /jobs/:id/checkpoints and
 * …/checkpoints/details/:id), so the same object serves job.checkpointStats() and HTTP.
 * @module
 */
import type { SubtaskAck } from "../runtime/subtask_host.ts";
import type { CheckpointFailureReason } from "./failure_reason.ts";

export type CheckpointStatus = "IN_PROGRESS" | "COMPLETED" | "FAILED";
export type CheckpointKind = "CHECKPOINT" | "UNALIGNED_CHECKPOINT" | "SAVEPOINT";

/** Per-subtask detail of one checkpoint. */
export interface SubtaskCheckpointStats {
  index: number;
  status: "completed" | "pending_or_failed";
  ack_timestamp?: number;
  end_to_end_duration?: number;
  state_size?: number;
  checkpointed_size?: number;
  persisted_data?: number;
  alignment: { duration: number; persisted: number };
  /**
   * Flink's sync (snapshot on the subtask) and async (write to storage) durations, ms; and
   * weir's `longest_step` (ms, to 0.01): the longest the async part held the subtask's records
   * up at once, since it runs in slices on the subtask's own thread (issue 10's pause).
   */
  checkpoint: { sync: number; async: number; longest_step: number };
  start_delay: number;
  unaligned_checkpoint: boolean;
}

/** Per-operator (job vertex) detail of one checkpoint. */
export interface TaskCheckpointStats {
  id: string;
  name: string;
  status: CheckpointStatus;
  latest_ack_timestamp: number;
  state_size: number;
  checkpointed_size: number;
  persisted_data: number;
  end_to_end_duration: number;
  num_subtasks: number;
  num_acknowledged_subtasks: number;
  alignment_duration_max: number;
  start_delay_max: number;
  unaligned_subtasks: number;
  subtasks: SubtaskCheckpointStats[];
}

/** One checkpoint, as GET …/checkpoints/details/:id returns it. */
export interface CheckpointDetails {
  id: number;
  status: CheckpointStatus;
  is_savepoint: boolean;
  checkpoint_type: CheckpointKind;
  trigger_timestamp: number;
  latest_ack_timestamp: number;
  state_size: number;
  checkpointed_size: number;
  persisted_data: number;
  end_to_end_duration: number;
  alignment_buffered: number;
  num_subtasks: number;
  num_acknowledged_subtasks: number;
  failure_timestamp?: number;
  failure_message?: string;
  failure_reason?: CheckpointFailureReason;
  external_path?: string;
  discarded: boolean;
  tasks: Record<string, TaskCheckpointStats>;
}

/** min/max/avg/percentiles of one figure over completed checkpoints. */
export interface StatsSummary {
  min: number;
  max: number;
  avg: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
}

/** What GET /jobs/:id/checkpoints returns. */
export interface CheckpointStatsSnapshot {
  counts: { restored: number; total: number; in_progress: number; completed: number; failed: number };
  summary: {
    checkpointed_size: StatsSummary;
    state_size: StatsSummary;
    end_to_end_duration: StatsSummary;
    persisted_data: StatsSummary;
    alignment_buffered: StatsSummary;
  };
  latest: {
    completed: CheckpointDetails | null;
    savepoint: CheckpointDetails | null;
    failed: CheckpointDetails | null;
    restored: { id: number; restore_timestamp: number; is_savepoint: boolean; external_path: string } | null;
  };
  history: CheckpointDetails[];
}

/** The vertices a checkpoint spans: id, name, parallelism. */
export interface VertexInfo {
  id: string;
  name: string;
  parallelism: number;
}

const HISTORY_MAX = 100;
const SAMPLE_KEYS = ["checkpointed_size", "state_size", "end_to_end_duration", "persisted_data", "alignment_buffered"] as const;
const SUMMARY_WINDOW = 1000;

/** Keeps counts, a bounded history and summaries of checkpoint figures. */
export class CheckpointStatsTracker {
  #history: CheckpointDetails[] = [];
  #byId = new Map<number, CheckpointDetails>();
  #counts = { restored: 0, total: 0, in_progress: 0, completed: 0, failed: 0 };
  #samples = { checkpointed_size: [] as number[], state_size: [] as number[], end_to_end_duration: [] as number[], persisted_data: [] as number[], alignment_buffered: [] as number[] };
  #latestCompleted: CheckpointDetails | null = null;
  #latestSavepoint: CheckpointDetails | null = null;
  #latestFailed: CheckpointDetails | null = null;
  #restored: CheckpointStatsSnapshot["latest"]["restored"] = null;

  /** Records a new pending checkpoint. */
  triggered(id: number, kind: CheckpointKind, timestampMs: number, vertices: VertexInfo[]): CheckpointDetails {
    // Flink reports whole milliseconds; strictly typed clients parse them as integers.
    const timestamp = Math.round(timestampMs);
    const tasks: Record<string, TaskCheckpointStats> = {};
    let n = 0;
    for (const v of vertices) {
      n += v.parallelism;
      tasks[v.id] = {
        id: v.id,
        name: v.name,
        status: "IN_PROGRESS",
        latest_ack_timestamp: 0,
        state_size: 0,
        checkpointed_size: 0,
        persisted_data: 0,
        end_to_end_duration: 0,
        num_subtasks: v.parallelism,
        num_acknowledged_subtasks: 0,
        alignment_duration_max: 0,
        start_delay_max: 0,
        unaligned_subtasks: 0,
        subtasks: Array.from({ length: v.parallelism }, (_, index) => ({
          index,
          status: "pending_or_failed" as const,
          alignment: { duration: 0, persisted: 0 },
          checkpoint: { sync: 0, async: 0, longest_step: 0 },
          start_delay: 0,
          unaligned_checkpoint: false,
        })),
      };
    }
    const d: CheckpointDetails = {
      id,
      status: "IN_PROGRESS",
      is_savepoint: kind === "SAVEPOINT",
      checkpoint_type: kind,
      trigger_timestamp: timestamp,
      latest_ack_timestamp: 0,
      state_size: 0,
      checkpointed_size: 0,
      persisted_data: 0,
      end_to_end_duration: 0,
      alignment_buffered: 0,
      num_subtasks: n,
      num_acknowledged_subtasks: 0,
      discarded: false,
      tasks,
    };
    this.#byId.set(id, d);
    this.#history.unshift(d);
    if (this.#history.length > HISTORY_MAX) {
      // The oldest entry leaves the history; one still in progress stays findable until it ends.
      const old = this.#history.pop()!;
      if (old.status !== "IN_PROGRESS") this.#byId.delete(old.id);
    }
    this.#counts.total++;
    this.#counts.in_progress++;
    return d;
  }

  /** Folds one subtask's ack into the checkpoint's figures. */
  acknowledged(ack: SubtaskAck): void {
    const d = this.#byId.get(ack.checkpointId);
    if (!d) return;
    const t = d.tasks[ack.vertexId];
    const s = t?.subtasks[ack.subtaskIndex];
    if (!t || !s || s.status === "completed") return;
    const ackTimestamp = Math.round(ack.ackTimestamp);
    const fullSize = ack.fullStateSize ?? ack.stateSize;
    const written = ack.checkpointedSize ?? ack.stateSize;
    const e2e = Math.max(0, ackTimestamp - d.trigger_timestamp);
    const alignmentMs = Math.round(ack.alignmentDurationMs);
    const startDelayMs = Math.round(ack.startDelayMs);
    Object.assign(s, {
      status: "completed",
      ack_timestamp: ackTimestamp,
      end_to_end_duration: e2e,
      state_size: fullSize,
      checkpointed_size: written,
      persisted_data: ack.persistedData,
      alignment: { duration: alignmentMs, persisted: ack.persistedData },
      checkpoint: { sync: Math.round(ack.syncDurationMs ?? 0), async: Math.round(ack.asyncDurationMs ?? 0), longest_step: Math.round((ack.longestStepMs ?? 0) * 100) / 100 },
      start_delay: startDelayMs,
      unaligned_checkpoint: ack.unaligned,
    });
    t.num_acknowledged_subtasks++;
    t.latest_ack_timestamp = Math.max(t.latest_ack_timestamp, ackTimestamp);
    t.state_size += fullSize;
    t.checkpointed_size += written;
    t.persisted_data += ack.persistedData;
    t.end_to_end_duration = Math.max(t.end_to_end_duration, e2e);
    t.alignment_duration_max = Math.max(t.alignment_duration_max, alignmentMs);
    t.start_delay_max = Math.max(t.start_delay_max, startDelayMs);
    if (ack.unaligned) t.unaligned_subtasks++;
    if (t.num_acknowledged_subtasks === t.num_subtasks) t.status = "COMPLETED";
    d.num_acknowledged_subtasks++;
    d.latest_ack_timestamp = Math.max(d.latest_ack_timestamp, ackTimestamp);
    // In progress, Flink reports the latest ack's time since the trigger (PendingCheckpointStats).
    d.end_to_end_duration = Math.max(d.end_to_end_duration, e2e);
    d.state_size += fullSize;
    d.checkpointed_size += written;
    d.persisted_data += ack.persistedData;
    d.alignment_buffered += ack.persistedData;
    // A checkpoint that switched to unaligned anywhere is reported as unaligned (as Flink does).
    if (ack.unaligned && d.checkpoint_type === "CHECKPOINT") d.checkpoint_type = "UNALIGNED_CHECKPOINT";
  }

  completed(id: number, completedAtMs: number, externalPath: string): CheckpointDetails | undefined {
    const completedAt = Math.round(completedAtMs);
    const d = this.#byId.get(id);
    if (!d || d.status !== "IN_PROGRESS") return d;
    d.status = "COMPLETED";
    this.#forgetIfEvicted(d);
    d.external_path = externalPath;
    d.end_to_end_duration = Math.max(0, completedAt - d.trigger_timestamp);
    d.latest_ack_timestamp = Math.max(d.latest_ack_timestamp, completedAt);
    this.#counts.in_progress--;
    this.#counts.completed++;
    for (const k of SAMPLE_KEYS) {
      const arr = this.#samples[k];
      arr.push(d[k]);
      if (arr.length > SUMMARY_WINDOW) arr.shift();
    }
    if (d.is_savepoint) this.#latestSavepoint = d;
    else this.#latestCompleted = d;
    return d;
  }

  failed(id: number, failedAtMs: number, reason: CheckpointFailureReason, message: string): CheckpointDetails | undefined {
    const failedAt = Math.round(failedAtMs);
    const d = this.#byId.get(id);
    if (!d || d.status !== "IN_PROGRESS") return d;
    d.status = "FAILED";
    this.#forgetIfEvicted(d);
    d.failure_timestamp = failedAt;
    d.failure_reason = reason;
    d.failure_message = message;
    d.discarded = true;
    d.end_to_end_duration = Math.max(0, failedAt - d.trigger_timestamp);
    for (const t of Object.values(d.tasks)) if (t.status === "IN_PROGRESS") t.status = "FAILED";
    this.#counts.in_progress--;
    this.#counts.failed++;
    this.#latestFailed = d;
    return d;
  }

  #forgetIfEvicted(d: CheckpointDetails): void {
    if (!this.#history.includes(d)) this.#byId.delete(d.id);
  }

  /** Marks a completed checkpoint deleted from storage (subsumed). */
  discarded(id: number): void {
    const d = this.#byId.get(id);
    if (d) d.discarded = true;
  }

  restored(id: number, timestamp: number, isSavepoint: boolean, externalPath: string): void {
    this.#counts.restored++;
    this.#restored = { id, restore_timestamp: Math.round(timestamp), is_savepoint: isSavepoint, external_path: externalPath };
  }

  details(id: number): CheckpointDetails | undefined {
    return this.#byId.get(id);
  }

  snapshot(): CheckpointStatsSnapshot {
    const s = this.#samples;
    return structuredClone({
      counts: { ...this.#counts },
      summary: {
        checkpointed_size: summarize(s.checkpointed_size),
        state_size: summarize(s.state_size),
        end_to_end_duration: summarize(s.end_to_end_duration),
        persisted_data: summarize(s.persisted_data),
        alignment_buffered: summarize(s.alignment_buffered),
      },
      latest: {
        completed: this.#latestCompleted,
        savepoint: this.#latestSavepoint,
        failed: this.#latestFailed,
        restored: this.#restored,
      },
      history: this.#history,
    });
  }
}

/** Nearest-rank percentiles; all zero when there is no sample. */
export function summarize(values: readonly number[]): StatsSummary {
  if (values.length === 0) return { min: 0, max: 0, avg: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  let sum = 0;
  for (const v of sorted) sum += v;
  return { min: sorted[0], max: sorted[sorted.length - 1], avg: sum / sorted.length, p50: at(0.5), p90: at(0.9), p95: at(0.95), p99: at(0.99), p999: at(0.999) };
}
