/**
 * Why a checkpoint did not complete. Stable strings: they appear in stats, in the REST
 * API's failure_message and in logs (Flink's CheckpointFailureReason, lower-cased).
 */
export type CheckpointFailureReason =
  | "checkpoint_expired"
  | "checkpoint_subsumed"
  | "checkpoint_declined"
  | "storage_failed"
  | "channel_state_too_large"
  | "declined_task_not_ready"
  /** A trigger request found the queue full (Flink's TOO_MANY_CHECKPOINT_REQUESTS). */
  | "too_many_checkpoint_requests"
  | "job_failover"
  | "job_canceled"
  | "job_finished"
  | "coordinator_failed";
