/** A job's lifecycle state (Flink's names). */
export type JobStatus = "CREATED" | "INITIALIZING" | "RUNNING" | "RESTARTING" | "FINISHED" | "CANCELED" | "FAILED" | "STOPPED";

/** How a job ended, as job.done resolves. */
export interface JobResult {
  status: "finished" | "stopped" | "canceled" | "failed";
  restarts: number;
  checkpoints: { completed: number; failed: number };
  /** Location of the savepoint taken by stop(). */
  savepoint?: string;
  error?: Error;
}
