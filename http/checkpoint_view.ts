/**
 * Checkpoint statistics in Flink's shape: moved to checkpoint/flink_view.ts, since
 * `job.checkpointStats()` and the REST API return the same object.
 * @module
 */
export { flinkCheckpoint, flinkCheckpointStats, flinkTaskDetails } from "../checkpoint/flink_view.ts";
