/**
 * The live figures of one subtask as the job's overview, REST metrics and backpressure
 * show them; read the same way in the master's process and on a remote host, which sends
 * them to the master (runtime/remote/messages.ts `metrics`).
 * @module
 */
import type { Subtask } from "./subtask.ts";

/** Per-subtask live figures (counters since the attempt started; times in ms). */
export interface SubtaskMetrics {
  index: number;
  recordsIn: number;
  recordsOut: number;
  busyMs: number;
  backpressuredMs: number;
  /** Data batches queued on the subtask's input channels. */
  queuedBatches: number;
  /** Items waiting for credit in its output buffers. */
  outputBuffered: number;
  barrierState: string;
  /** Checkpoints still being collected here. */
  pendingSnapshots: number;
  /** Records too late for their windows and dropped (no late side output), Flink's numLateRecordsDropped. */
  lateRecordsDropped: number;
  /** Event time reaching the subtask and sent on, in ms (Subtask.inputWatermark, outputWatermark); -Infinity before any. */
  inputWatermark: number;
  outputWatermark: number;
}

/** A subtask's figures now. */
export function subtaskMetrics(s: Subtask): SubtaskMetrics {
  return {
    index: s.index,
    ...s.countersNow(),
    queuedBatches: s.inputs.queuedBatches,
    outputBuffered: s.gates.reduce((n, g) => n + g.buffered, 0),
    barrierState: s.barrierState,
    pendingSnapshots: s.pendingSnapshots,
    lateRecordsDropped: s.lateRecordsDropped,
    inputWatermark: s.inputWatermark,
    outputWatermark: s.outputWatermark,
  };
}

/**
 * A remote subtask's figures before its host reported any (Flink shows a deploying task's counters as 0).
 *
 * @example
 * ```ts
 * import { zeroMetrics } from "./subtask_metrics.ts";
 * console.assert(zeroMetrics(2).index === 2 && zeroMetrics(2).recordsIn === 0);
 * ```
 */
export function zeroMetrics(index: number): SubtaskMetrics {
  return { index, recordsIn: 0, recordsOut: 0, busyMs: 0, backpressuredMs: 0, queuedBatches: 0, outputBuffered: 0, barrierState: "", pendingSnapshots: 0, lateRecordsDropped: 0, inputWatermark: -Infinity, outputWatermark: -Infinity };
}
