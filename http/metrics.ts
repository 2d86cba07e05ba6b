/**
 * GET /metrics in the Prometheus text exposition format (version 0.0.4): one HELP and
 * TYPE line per family, then its samples for every job.
 * @module
 */
import { skippedRecords } from "../connectors/source_metrics.ts";
import type { JobHandle } from "../runtime/job_handle.ts";
import type { JobBackpressure } from "./backpressure.ts";

/** The content type Prometheus expects for the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string | number>;

/** Collects samples grouped by family so every family is declared once. */
class Families {
  readonly #families = new Map<string, { help: string; type: string; lines: string[] }>();

  add(name: string, type: "counter" | "gauge", help: string, labels: Labels, value: number): void {
    let f = this.#families.get(name);
    if (!f) this.#families.set(name, (f = { help, type, lines: [] }));
    f.lines.push(`${name}${renderLabels(labels)} ${renderValue(value)}`);
  }

  render(): string {
    let out = "";
    for (const [name, f] of this.#families) out += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n${f.lines.join("\n")}\n`;
    return out;
  }
}

function renderLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${String(v).replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`);
  return parts.length > 0 ? `{${parts.join(",")}}` : "";
}

function renderValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  return String(v);
}

/**
 * Renders the metrics of `jobs`; `backpressure` holds the latest ratios per job id.
 *
 * @example
 * ```ts
 * import { renderMetrics } from "./metrics.ts";
 * console.assert(renderMetrics([], new Map()) === "");
 * ```
 */
export function renderMetrics(jobs: readonly JobHandle[], backpressure: ReadonlyMap<string, JobBackpressure>): string {
  const m = new Families();
  for (const job of jobs) {
    const j = { job_id: job.id, job_name: job.name };
    m.add("weir_job_status", "gauge", "1 for the job's current status.", { ...j, status: job.status }, 1);
    m.add("weir_job_restarts_total", "counter", "Restarts by the restart strategy.", j, job.restarts);
    const stats = job.checkpointStats();
    const c = stats.counts;
    m.add("weir_checkpoints_total", "counter", "Checkpoints by outcome.", { ...j, result: "completed" }, c.completed);
    m.add("weir_checkpoints_total", "counter", "Checkpoints by outcome.", { ...j, result: "failed" }, c.failed);
    m.add("weir_checkpoints_triggered_total", "counter", "Checkpoints and savepoints triggered.", j, c.total);
    m.add("weir_checkpoints_in_progress", "gauge", "Checkpoints in flight.", j, c.in_progress);
    m.add("weir_checkpoints_restored_total", "counter", "Restores from a checkpoint or savepoint.", j, c.restored);
    const latest = stats.latest.completed;
    if (latest) {
      m.add("weir_checkpoint_last_id", "gauge", "Id of the latest completed checkpoint.", j, latest.id);
      m.add("weir_checkpoint_last_duration_ms", "gauge", "End-to-end duration of the latest completed checkpoint.", j, latest.end_to_end_duration);
      m.add("weir_checkpoint_last_size_bytes", "gauge", "State size of the latest completed checkpoint.", j, latest.state_size);
      // Flink's lastCheckpointSize beside lastCheckpointFullSize: less than the state size for incremental checkpoints.
      m.add("weir_checkpoint_last_checkpointed_size_bytes", "gauge", "Bytes the latest completed checkpoint wrote (checkpointed_size).", j, latest.checkpointed_size);
      m.add("weir_checkpoint_last_persisted_data_bytes", "gauge", "In-flight data persisted by the latest completed checkpoint.", j, latest.persisted_data);
    }
    for (const [stat, value] of Object.entries(stats.summary.end_to_end_duration)) {
      m.add("weir_checkpoint_duration_ms", "gauge", "End-to-end duration of completed checkpoints (min, max, avg, percentiles).", { ...j, stat }, value);
    }
    for (const s of skippedRecords(job.name)) {
      m.add("weir_source_records_skipped_total", "counter", "Bad records a source skipped (skipBadRecords).", { ...j, uid: s.uid }, s.count);
    }
    const bp = backpressure.get(job.id);
    for (const v of job.vertices()) {
      const bpVertex = bp?.vertices.find((x) => x.id === v.id);
      for (const s of v.subtasks) {
        const l = { ...j, vertex_id: v.id, operator: v.name, subtask: s.index };
        m.add("weir_records_in_total", "counter", "Records received by a subtask.", l, s.recordsIn);
        m.add("weir_records_out_total", "counter", "Records emitted by a subtask.", l, s.recordsOut);
        m.add("weir_subtask_queued_batches", "gauge", "Data batches queued on a subtask's input channels.", l, s.queuedBatches);
        m.add("weir_subtask_output_buffered", "gauge", "Items waiting for credit in a subtask's output buffers.", l, s.outputBuffered);
        m.add("weir_subtask_busy_ms_total", "counter", "Milliseconds a subtask spent processing.", l, s.busyMs);
        m.add("weir_subtask_backpressured_ms_total", "counter", "Milliseconds a subtask waited for output credit.", l, s.backpressuredMs);
        m.add("weir_subtask_input_watermark_ms", "gauge", "Event time reaching a subtask (Flink's currentInputWatermark), ms; -Inf before any watermark.", l, s.inputWatermark);
        m.add("weir_late_records_dropped_total", "counter", "Records later than their windows' allowed lateness, dropped (no late side output).", l, s.lateRecordsDropped);
        const r = bpVertex?.subtasks.find((x) => x.subtask === s.index);
        if (r) {
          m.add("weir_subtask_backpressure_ratio", "gauge", "Share of the last sampling window spent backpressured.", l, r.ratio);
          m.add("weir_subtask_busy_ratio", "gauge", "Share of the last sampling window spent busy.", l, r.busyRatio);
          m.add("weir_subtask_idle_ratio", "gauge", "Share of the last sampling window spent idle.", l, r.idleRatio);
        }
      }
    }
  }
  return m.render();
}
