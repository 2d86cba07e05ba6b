/**
 * The data input of a source subtask: polls its reader without ever blocking the actor.
 * A poll that returns a promise leaves the actor free to serve its priority lane
 * (barriers, notifications, cancellation); its records are processed by a later step.
 * @module
 */
import type { Timer } from "../actors/time.ts";
import type { OperatorChain } from "./operator_chain.ts";
import type { StepSlice } from "./step_slice.ts";

/** What a source input needs from its subtask actor. */
export interface SourceOwner {
  readonly alive: boolean;
  /** Runs fn after delayMs unless the actor stopped by then. */
  timer(delayMs: number, fn: () => void): Timer;
  /** Makes the actor runnable again (a poll settled, a reader's wait is over). */
  wake(): void;
  fail(error: unknown): void;
}

/** What a source input works with besides its owner. */
export interface SourceInputInit {
  chain: OperatorChain;
  /** Sizes the synchronous polls by time (shared with the subtask, which reports each step's duration). */
  slice: StepSlice;
  /** Records a poll takes at most. */
  batchSize: number;
  counters: { recordsIn: number };
  /** The reader returned null: it has no more records (event time ended in the chain first). */
  readerEnded(): void;
}

/**
 * Flink's `StreamTaskSourceInput` over a FLIP-27 `SourceReader`: the reader signals
 * availability (an empty poll and its `waitMs`, or a pending promise), the task never
 * blocks on it. Records a settled poll returned count in the reader's position already,
 * so the subtask processes them before any control message (see {@link polled}).
 *
 * @example
 * ```ts
 * import { OperatorChain } from "./operator_chain.ts";
 * import { SourceInput } from "./source_input.ts";
 * import { StepSlice } from "./step_slice.ts";
 * let left = [1, 2, 3];
 * const reader = { poll: (max: number) => (left.length === 0 ? null : left.splice(0, max)), position: () => 0 };
 * const ctx = { name: "src", uid: "src", objectReuse: true } as never;
 * const out: unknown[] = [];
 * const chain = new OperatorChain([], { reader: reader as never, ctx }, (v) => out.push(...v));
 * let ended = false;
 * const owner = { alive: true, timer: () => ({ cancel() {} }), wake() {}, fail() {} };
 * const slice = new StepSlice(2, 4);
 * const input = new SourceInput(owner, { chain, slice, batchSize: 2, counters: { recordsIn: 0 }, readerEnded: () => (ended = true) });
 * while (input.pollable) input.poll();
 * console.assert(out.length === 3 && ended);
 * ```
 */
export class SourceInput {
  /** The last poll took a full slice smaller than a batch: more is probably ready right away. */
  sliced = false;
  readonly #owner: SourceOwner;
  readonly #chain: OperatorChain;
  readonly #slice: StepSlice;
  readonly #counters: { recordsIn: number };
  readonly #readerEnded: () => void;
  readonly #batchSize: number;
  /** The reader ended, or the subtask's input did: nothing more is read. */
  #done = false;
  /** An empty poll: the reader's wait (waitMs) runs before the next one. */
  #waiting = false;
  /** A poll that has not settled. */
  #pending = false;
  /** What a settled poll returned (null: the reader ended), for the next step. */
  #polled: unknown[] | null | undefined;

  constructor(owner: SourceOwner, init: SourceInputInit) {
    this.#owner = owner;
    this.#chain = init.chain;
    this.#slice = init.slice;
    this.#batchSize = init.batchSize;
    this.#counters = init.counters;
    this.#readerEnded = init.readerEnded;
  }

  /** A settled poll's records wait for the next step. */
  get polled(): boolean {
    return this.#polled !== undefined;
  }

  /** The reader may be polled now. */
  get pollable(): boolean {
    return !this.#done && !this.#waiting && !this.#pending && this.#polled === undefined;
  }

  /** End of input: no more polls, and a poll still pending is dropped when it settles (the position snapshotted before excludes it). */
  end(): void {
    this.#done = true;
  }

  /** Polls the reader for up to a slice of records (one when the chain is async) and processes them. */
  poll(): void | Promise<void> {
    this.sliced = false;
    const max = this.#chain.isAsync ? 1 : this.#slice.records;
    const polled = this.#chain.poll(max);
    if (!(polled instanceof Promise)) {
      this.sliced = polled !== null && polled.length === max && max < this.#batchSize;
      return this.#process(polled);
    }
    this.#pending = true;
    polled.then(
      (batch) => {
        this.#pending = false;
        if (!this.#owner.alive || this.#done) return;
        this.#polled = batch;
        this.#owner.wake();
      },
      (e) => {
        this.#pending = false;
        this.#owner.fail(e);
      },
    );
  }

  /** Processes what a settled poll returned. */
  processPolled(): void | Promise<void> {
    const batch = this.#polled as unknown[] | null;
    this.#polled = undefined;
    return this.#process(batch);
  }

  #process(batch: unknown[] | null): void | Promise<void> {
    if (batch === null) {
      this.#done = true;
      // No more records: event time ends for what follows (Flink's MAX_WATERMARK from a
      // finished source), so a union or connect downstream goes on with its other inputs
      // rather than wait until every source of the job has ended.
      const fired = this.#chain.advanceWatermark(Infinity);
      if (fired instanceof Promise) return fired.then(() => this.#readerEnded());
      this.#readerEnded();
      return;
    }
    if (batch.length === 0) {
      this.#waiting = true;
      const wait = Math.max(1, this.#chain.source!.reader.waitMs?.() ?? 1);
      this.#owner.timer(wait, () => {
        this.#waiting = false;
        this.#owner.wake();
      });
      return;
    }
    this.#counters.recordsIn += batch.length;
    this.#slice.took(batch.length);
    return this.#chain.process(batch);
  }
}
