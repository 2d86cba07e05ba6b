/**
 * The output side of a subtask: its output gates, and what goes out through them besides
 * the checkpoint barriers — records, watermarks and idleness (never backwards, never
 * repeated), partly filled batches when their buffer timeout runs out, and end of
 * partition. It also counts the time the subtask spends backpressured.
 * @module
 */
import type { EndOfPartition } from "../actors/messages.ts";
import type { OutputGate } from "../actors/output_gate.ts";
import type { Timer } from "../actors/time.ts";
import { OperatorError } from "../errors.ts";
import type { PriorityMessage } from "./priority_message.ts";

const END_OF_PARTITION: EndOfPartition = Object.freeze({ kind: "eop" });

/** What the output side needs from its subtask actor. */
export interface OutputOwner {
  readonly alive: boolean;
  now(): number;
  /** Runs fn after delayMs unless the actor stopped by then. */
  timer(delayMs: number, fn: () => void): Timer;
  post(message: PriorityMessage): void;
}

/**
 * Flink's `RecordWriterOutput` with the `OutputFlusher`, for one subtask: the gates are
 * filled by the chain's end and flushed at the end of actor steps or on one timer of the
 * subtask for the earliest record still waiting its buffer timeout.
 *
 * @example
 * ```ts
 * import { SubtaskOutput } from "./subtask_output.ts";
 * const counters = { recordsOut: 0, backpressuredMs: 0 };
 * const owner = { alive: true, now: () => 0, timer: () => ({ cancel() {} }), post() {} };
 * const output = new SubtaskOutput(owner, counters);
 * output.emit([1, 2, 3]); // no gates (a sink): counted, sent nowhere
 * console.assert(counters.recordsOut === 3 && !output.blocked);
 * ```
 */
export class SubtaskOutput {
  /** One gate per outgoing edge, added by the subtask builder. */
  readonly gates: OutputGate[] = [];
  readonly #owner: OutputOwner;
  readonly #counters: { recordsOut: number; backpressuredMs: number };
  /** The last watermark sent downstream, and whether this subtask told downstream it is idle. */
  #watermarkOut = -Infinity;
  #idleOut = false;
  /** The call that sends output batches whose buffer timeout runs out, and when it is due. */
  #flushTimer: Timer | undefined;
  #flushTimerAt = Infinity;
  /** When a gate ran out of credit while the subtask had data to process, or -1. */
  #backpressuredSince = -1;

  constructor(owner: OutputOwner, counters: { recordsOut: number; backpressuredMs: number }) {
    this.#owner = owner;
    this.#counters = counters;
  }

  /** Some gate waits for credit from downstream. */
  get blocked(): boolean {
    const gates = this.gates;
    for (let i = 0; i < gates.length; i++) if (gates[i].backpressured) return true;
    return false;
  }

  /** Like {@link blocked}, and a subtask held back by it starts counting backpressured time. */
  holdsBack(): boolean {
    if (!this.blocked) return false;
    if (this.#backpressuredSince < 0) this.#backpressuredSince = this.#owner.now();
    return true;
  }

  /** Credit may have come back: stops counting backpressured time once no gate waits. */
  creditChanged(): void {
    if (this.#backpressuredSince >= 0 && !this.blocked) {
      this.#counters.backpressuredMs += this.#owner.now() - this.#backpressuredSince;
      this.#backpressuredSince = -1;
    }
  }

  /** Backpressured time of a wait that has not ended yet, in ms up to `now`. */
  backpressuredSoFar(now: number): number {
    return this.#backpressuredSince >= 0 ? now - this.#backpressuredSince : 0;
  }

  /**
   * Records from the end of the chain, to every gate.
   * @throws {OperatorError} when a keyBy key selector (the only user code run here) throws.
   */
  emit(values: unknown[]): void {
    if (values.length === 0) return;
    this.#counters.recordsOut += values.length;
    let i = 0;
    try {
      for (; i < this.gates.length; i++) this.gates[i].emit(values);
    } catch (e) {
      const { name, uid } = this.gates[i].target;
      throw new OperatorError(`keyBy key selector of ${name}`, uid, e);
    }
  }

  /**
   * Sends a watermark downstream after the records before it; never backwards. +Infinity
   * says a source ended (its event time is over) before its end of partition, which comes
   * only with the job's end: downstream leaves the channel out of its minimum.
   */
  watermark(watermark: number): void {
    if (!(watermark > this.#watermarkOut)) return;
    this.#watermarkOut = watermark;
    if (this.#idleOut) this.status(false);
    for (const g of this.gates) g.broadcastEvent({ kind: "watermark", timestamp: watermark });
  }

  /** The last watermark sent downstream (-Infinity before any; +Infinity once event time ended). */
  get watermarkSent(): number {
    return this.#watermarkOut;
  }

  /** Tells downstream this subtask became idle or active again, once per change. */
  status(idle: boolean): void {
    if (idle === this.#idleOut) return;
    this.#idleOut = idle;
    for (const g of this.gates) g.broadcastEvent({ kind: "watermarkStatus", idle });
  }

  /**
   * Sends output batches as each gate's buffer timeout says (OutputGate.endOfStep) and
   * keeps one timer for the earliest record still waiting. A step that took only a slice
   * of a batch (`sliced`: more of it follows at once) leaves the batches of gates without
   * a timeout to fill up, so that slicing by time does not shrink what travels on
   * channels; barriers, watermarks and end of input flush before they go out.
   */
  endOfStep(started: number, sliced: boolean): void {
    const gates = this.gates;
    let due = Infinity;
    let now = -1;
    for (let i = 0; i < gates.length; i++) {
      const g = gates[i];
      if (g.bufferTimeoutMs === 0) {
        if (!sliced) g.flush();
        continue;
      }
      if (now < 0) now = this.#owner.now();
      due = Math.min(due, g.endOfStep(started, now));
    }
    if (due !== this.#flushTimerAt) this.#scheduleFlush(due);
  }

  #scheduleFlush(due: number): void {
    this.#flushTimer?.cancel();
    this.#flushTimer = undefined;
    this.#flushTimerAt = due;
    if (due === Infinity || !this.#owner.alive) return;
    this.#flushTimer = this.#owner.timer(Math.max(0, due - this.#owner.now()), () => {
      this.#flushTimer = undefined;
      this.#flushTimerAt = Infinity;
      // The end of the step that serves this message sends what is due.
      this.#owner.post({ kind: "flushOutput" });
    });
  }

  /** End of input: what every gate holds goes out, then end of partition after it. */
  endOfPartition(): void {
    for (const g of this.gates) g.flush();
    for (const g of this.gates) g.broadcastEvent(END_OF_PARTITION);
  }

  /** The subtask stopped: the gates close (their timer is the owner's, cancelled with its others). */
  close(): void {
    for (const g of this.gates) g.close();
  }
}
