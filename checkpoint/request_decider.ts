/**
 * Which checkpoint starts next, and when (Flink's `CheckpointRequestDecider`): the queue of
 * requested checkpoints and savepoints, the periodic trigger's pause, and the rules that
 * hold a request back — at most `maxConcurrent` in flight, nothing beside a savepoint, and
 * the final checkpoint alone once every input ended.
 * @module
 */
import type { CheckpointConfig } from "./config.ts";
import type { Pending, TriggerRequest } from "./coordinator_types.ts";

/**
 * Trigger requests queued at most (Flink's `CheckpointRequestDecider` holds 1000): a client
 * that triggers faster than checkpoints complete gets refusals, not hours of queued work.
 */
export const MAX_QUEUED_REQUESTS = 1000;

/**
 * The coordinator's queue of trigger requests and its decisions; it starts nothing
 * itself. Requests start in the order they came.
 *
 * @example
 * ```ts
 * import { CheckpointRequestDecider } from "./request_decider.ts";
 * const decider = new CheckpointRequestDecider({ interval: 100, minPause: 50, maxConcurrent: 1 });
 * decider.push({ type: "CHECKPOINT", final: false, resolve: () => {} });
 * const pending = new Map();
 * console.assert(decider.next(pending, false)?.type === "CHECKPOINT" && decider.next(pending, false) === undefined);
 * decider.completed(1000);
 * console.assert(decider.periodicWait(1020, pending) === 30); // the rest of the minimum pause
 * ```
 */
export class CheckpointRequestDecider {
  readonly #config: Pick<CheckpointConfig, "interval" | "minPause" | "maxConcurrent">;
  #queue: TriggerRequest[] = [];
  #lastCompletedAt = -Infinity;

  constructor(config: Pick<CheckpointConfig, "interval" | "minPause" | "maxConcurrent">) {
    this.#config = config;
  }

  /** Queues a request behind the others. */
  push(r: TriggerRequest): void {
    this.#queue.push(r);
  }

  /** Whether the queue holds MAX_QUEUED_REQUESTS already: a new request is refused. */
  get full(): boolean {
    return this.#queue.length >= MAX_QUEUED_REQUESTS;
  }

  /** Empties the queue, returning what it held (to be rejected). */
  takeAll(): TriggerRequest[] {
    return this.#queue.splice(0);
  }

  /** A final checkpoint or a stop-with-savepoint is queued. */
  get endingQueued(): boolean {
    return this.#queue.some((r) => r.final || r.terminate);
  }

  /** A checkpoint completed at `now` (ms): the periodic trigger pauses at least minPause after it. */
  completed(now: number): void {
    this.#lastCompletedAt = now;
  }

  /**
   * The request at the head of the queue if it may start now, removed from the queue. The
   * final checkpoint waits for the drained input and every other checkpoint; others wait
   * for a free slot and for savepoints.
   */
  next(pending: ReadonlyMap<number, Pending>, inputEnded: boolean): TriggerRequest | undefined {
    const head = this.#queue[0];
    if (head === undefined) return undefined;
    if (head.final ? pending.size > 0 || !inputEnded : !this.#slotFree(pending)) return undefined;
    return this.#queue.shift();
  }

  /**
   * How long the periodic trigger due at `now` waits before it tries again: the rest of
   * the minimum pause after the last completed checkpoint, a whole interval while no slot
   * is free, or 0 (it starts one now).
   */
  periodicWait(now: number, pending: ReadonlyMap<number, Pending>): number {
    const pauseLeft = this.#lastCompletedAt + this.#config.minPause - now;
    if (pauseLeft > 0) return pauseLeft;
    return this.#slotFree(pending) ? 0 : this.#config.interval;
  }

  /**
   * Fewer than maxConcurrent in flight and no savepoint among them: while a savepoint is in
   * flight nothing else starts, since a later unaligned barrier would overtake its aligned
   * one (and a stop-with-savepoint ends the job anyway).
   */
  #slotFree(pending: ReadonlyMap<number, Pending>): boolean {
    if (pending.size >= this.#config.maxConcurrent) return false;
    for (const p of pending.values()) if (p.barrier.type === "SAVEPOINT" || p.final) return false;
    return true;
  }
}
