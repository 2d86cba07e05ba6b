/**
 * A mailbox that runs its tasks one at a time in arrival order, also across awaits.
 * @module
 */

/**
 * Serializes the work of a Durable Object's calls. A Durable Object's input gate opens at
 * every await on I/O, so two calls can interleave there; a subtask must see its messages
 * one after another, in order, as an actor does (DESIGN.md, core idea 1). Each task starts
 * when the previous one settled; a task that throws rejects its own promise only.
 *
 * @example
 * ```ts
 * import { Mailbox } from "./mailbox.ts";
 * const box = new Mailbox();
 * const seen: number[] = [];
 * await Promise.all([
 *   box.post(async () => { await new Promise((r) => setTimeout(r, 5)); seen.push(1); }),
 *   box.post(() => { seen.push(2); }),
 * ]);
 * console.assert(seen.join() === "1,2");
 * ```
 */
export class Mailbox {
  #tail: Promise<unknown> = Promise.resolve();
  #queued = 0;

  /** Tasks posted and not yet settled. */
  get queued(): number {
    return this.#queued;
  }

  /** Runs `task` after every task posted before it; resolves or rejects with its outcome. */
  post<T>(task: () => T | Promise<T>): Promise<T> {
    this.#queued++;
    const run = this.#tail.then(task);
    this.#tail = run.then(() => this.#queued--, () => this.#queued--);
    return run;
  }
}
