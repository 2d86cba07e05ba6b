/**
 * The jobs of this process that the REST API can see. A job joins when it is started with
 * `http` options; ended jobs stay listed (Flink lists finished jobs too) up to a bound.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { JobHandle } from "../runtime/job_handle.ts";
import type { JobStatus } from "../runtime/job_status.ts";

/** A failure the job went through: a restart's cause, or the error that ended it. */
export interface JobException {
  timestamp: number;
  name: string;
  message: string;
  /** "restart" when the restart strategy recovered from it, "terminal" when it ended the job. */
  kind: "restart" | "terminal";
}

interface Entry {
  job: JobHandle;
  endTime: number;
  exceptions: JobException[];
  /** When the job first entered each status (job clock, epoch ms): Flink's `timestamps`. */
  timestamps: Partial<Record<JobStatus, number>>;
  /** When it entered its current status (job clock, epoch ms). */
  statusSince: number;
}

const TERMINAL: ReadonlySet<JobStatus> = new Set(["FINISHED", "CANCELED", "FAILED", "STOPPED"]);
/** Ended jobs kept for listing; older ones are forgotten so a long-lived process stays bounded. */
const ENDED_JOBS_MAX = 64;
/** Exceptions kept per job. */
const EXCEPTIONS_MAX = 50;

/** Whether a job status is final. */
export function isTerminal(status: JobStatus): boolean {
  return TERMINAL.has(status);
}

/**
 * Jobs by id, in start order.
 *
 * @example
 * ```ts
 * import { JobRegistry } from "./registry.ts";
 * const registry = new JobRegistry();
 * console.assert(registry.list().length === 0);
 * ```
 */
export class JobRegistry {
  readonly #jobs = new Map<string, Entry>();
  readonly #listeners = new Set<(job: JobHandle) => void>();

  /** Calls `listener` for every job added from now on; returns the function that stops it. */
  onJob(listener: (job: JobHandle) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Adds a job (again: no-op) and records its failures from now on. */
  add(job: JobHandle): void {
    if (this.#jobs.has(job.id)) return;
    const entry: Entry = { job, endTime: -1, exceptions: [], timestamps: { CREATED: job.startTime }, statusSince: job.now() };
    entry.timestamps[job.status] ??= job.now();
    this.#jobs.set(job.id, entry);
    job.on((e) => {
      if (e.type === "restarting") this.#record(entry, e.error, "restart");
      if (e.type === "status") {
        entry.timestamps[e.status] ??= job.now();
        entry.statusSince = job.now();
      }
      if (e.type === "status" && isTerminal(e.status)) entry.endTime = job.now();
    });
    job.done.then((result) => {
      if (entry.endTime < 0) entry.endTime = job.now();
      if (result.error) this.#record(entry, result.error, "terminal");
    });
    this.#forgetOldEnded();
    for (const l of this.#listeners) l(job);
  }

  #record(entry: Entry, error: Error, kind: JobException["kind"]): void {
    entry.exceptions.push({ timestamp: entry.job.now(), name: error.name, message: error.message, kind });
    if (entry.exceptions.length > EXCEPTIONS_MAX) entry.exceptions.shift();
  }

  #forgetOldEnded(): void {
    const ended = [...this.#jobs.values()].filter((e) => isTerminal(e.job.status));
    for (const e of ended.slice(0, Math.max(0, ended.length - ENDED_JOBS_MAX))) this.#jobs.delete(e.job.id);
  }

  /** The job with this id; throws `job_not_found`. */
  job(jobId: string): JobHandle {
    // Flink reads a job id as hex in either case (JobID.fromHexString); weir's are lower case.
    const entry = this.#jobs.get(jobId) ?? this.#jobs.get(jobId.toLowerCase());
    if (!entry) throw new WeirError("job_not_found", `Job "${jobId}" not found`);
    return entry.job;
  }

  /** Every job, in start order. */
  list(): JobHandle[] {
    return [...this.#jobs.values()].map((e) => e.job);
  }

  /** When the job ended (job clock, epoch ms), or -1 while it runs. */
  endTime(jobId: string): number {
    return this.#jobs.get(jobId)?.endTime ?? -1;
  }

  /** When the job entered the status it is in (job clock, epoch ms). */
  statusSince(jobId: string): number {
    return this.#jobs.get(jobId)?.statusSince ?? -1;
  }

  /** When the job first entered each status it went through (job clock, epoch ms). */
  timestamps(jobId: string): Partial<Record<JobStatus, number>> {
    return { ...this.#jobs.get(jobId)?.timestamps };
  }

  /** The job's recorded failures, oldest first. */
  exceptions(jobId: string): JobException[] {
    return [...(this.#jobs.get(jobId)?.exceptions ?? [])];
  }
}

/** The registry of this process; every job started with `http` options joins it. */
export const jobRegistry: JobRegistry = new JobRegistry();
