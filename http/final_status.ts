/**
 * Which clients still wait for a job's final answer: a trigger whose outcome nobody has
 * read yet (a stop-with-savepoint polled by `weir stop`), or a cancel whose terminal status
 * nobody has seen. The server of an ended job stays up until these were served or a grace
 * period passed, so a job that ends with its savepoint still reports where it is.
 * @module
 */

/**
 * Pending final reads per job.
 *
 * @example
 * ```ts
 * import { FinalStatusReads } from "./final_status.ts";
 * const reads = new FinalStatusReads();
 * reads.expect("job", "trigger:savepoint/1");
 * const served = reads.whenServed("job", 5_000);
 * reads.served("job", "trigger:savepoint/1");
 * await served;
 * ```
 */
export class FinalStatusReads {
  readonly #pending = new Map<string, Set<string>>();
  readonly #waiters = new Map<string, Set<() => void>>();

  /** A client will come back for `key` of this job (a trigger's outcome, the final status). */
  expect(jobId: string, key: string): void {
    let keys = this.#pending.get(jobId);
    if (!keys) this.#pending.set(jobId, (keys = new Set()));
    keys.add(key);
  }

  /** The client got what it came back for. */
  served(jobId: string, key: string): void {
    const keys = this.#pending.get(jobId);
    if (!keys?.delete(key) || keys.size > 0) return;
    this.#pending.delete(jobId);
    for (const wake of this.#waiters.get(jobId) ?? []) wake();
    this.#waiters.delete(jobId);
  }

  /** Whether some client still waits for an answer about this job. */
  pending(jobId: string): boolean {
    return (this.#pending.get(jobId)?.size ?? 0) > 0;
  }

  /**
   * Resolves once every expected read of the job was served, or after `graceMs` (wall
   * time: HTTP clients live in it, not in the job's clock); forgets the job either way.
   */
  whenServed(jobId: string, graceMs: number): Promise<void> {
    if (!this.pending(jobId)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let waiters = this.#waiters.get(jobId);
      if (!waiters) this.#waiters.set(jobId, (waiters = new Set()));
      const wake = () => {
        clearTimeout(timer);
        waiters!.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters!.delete(wake);
        this.#pending.delete(jobId);
        resolve();
      }, graceMs);
      waiters.add(wake);
    });
  }
}
