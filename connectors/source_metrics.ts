/**
 * Counters that sources keep beside the runtime's own (records in and out): bad records
 * skipped with `skipBadRecords`, per job name and source uid, for GET /metrics.
 * @module
 */

const skipped = new Map<string, { jobName: string; uid: string; count: number }>();

/**
 * Adds n skipped records for a source.
 *
 * @example
 * ```ts
 * import { countSkippedRecords, skippedRecords } from "./source_metrics.ts";
 * countSkippedRecords("doc-job", "files", 2);
 * console.assert(skippedRecords("doc-job")[0].count === 2);
 * ```
 */
export function countSkippedRecords(jobName: string, uid: string, n: number): void {
  if (n <= 0) return;
  const key = `${jobName}\u0000${uid}`;
  const entry = skipped.get(key);
  if (entry) entry.count += n;
  else skipped.set(key, { jobName, uid, count: n });
}

/** Skipped records of a job's sources, by uid (counted in this process). */
export function skippedRecords(jobName: string): { uid: string; count: number }[] {
  return [...skipped.values()].filter((e) => e.jobName === jobName).map(({ uid, count }) => ({ uid, count }));
}
