import { assert } from "../errors.ts";

/** What an input event changed at a subtask: its watermark advanced, or it became idle or active. */
export interface ValveOutput {
  watermark?: number;
  idle?: boolean;
}

/**
 * A subtask's event time from its input channels (Flink's `StatusWatermarkValve`): the
 * minimum of the channels' watermarks, leaving out idle channels and ended ones; it never
 * goes backwards. When every channel still open is idle, the subtask is idle and its
 * watermark stays. A channel at +Infinity comes from a finished source (its event time is
 * over, its end of partition comes with the job's end): it is left out as an ended one is,
 * and once every channel is at +Infinity or ended, so is the subtask's watermark.
 *
 * @example
 * ```ts
 * import { WatermarkValve } from "./watermark_valve.ts";
 * const valve = new WatermarkValve(2);
 * console.assert(valve.watermark(0, 10).watermark === undefined); // channel 1 holds it back
 * console.assert(valve.status(1, true).watermark === 10);         // unless it is idle
 * const union = new WatermarkValve(2);
 * console.assert(union.watermark(1, Infinity).watermark === undefined); // a finished input
 * console.assert(union.watermark(0, 7).watermark === 7);                // holds nothing back
 * ```
 */
export class WatermarkValve {
  readonly #watermarks: number[];
  readonly #idle: boolean[];
  readonly #ended: boolean[];
  #current = -Infinity;
  #allIdle = false;

  constructor(channels: number) {
    this.#watermarks = new Array(channels).fill(-Infinity);
    this.#idle = new Array(channels).fill(false);
    this.#ended = new Array(channels).fill(false);
  }

  /** The subtask's watermark so far (-Infinity before any). */
  get current(): number {
    return this.#current;
  }

  /** A watermark arrived on `channel`; a watermark also says the channel is active. */
  watermark(channel: number, timestamp: number): ValveOutput {
    assert(typeof timestamp === "number" && !Number.isNaN(timestamp), () => `Watermark on channel ${channel} is not a number: ${timestamp}`);
    if (timestamp > this.#watermarks[channel]) this.#watermarks[channel] = timestamp;
    if (this.#idle[channel]) return this.status(channel, false);
    return this.#recompute();
  }

  /** `channel` became idle or active. */
  status(channel: number, idle: boolean): ValveOutput {
    this.#idle[channel] = idle;
    return this.#recompute();
  }

  /** `channel` ended: it no longer holds the watermark back. */
  ended(channel: number): ValveOutput {
    this.#ended[channel] = true;
    return this.#recompute();
  }

  #recompute(): ValveOutput {
    let min = Infinity;
    let open = 0;
    let active = 0;
    let finished = 0;
    for (let c = 0; c < this.#watermarks.length; c++) {
      if (this.#ended[c]) continue;
      // An idle channel at +Infinity does not keep the others from being all idle.
      if (this.#watermarks[c] === Infinity) {
        finished++;
        continue;
      }
      open++;
      if (this.#idle[c]) continue;
      active++;
      if (this.#watermarks[c] < min) min = this.#watermarks[c];
    }
    const out: ValveOutput = {};
    const allIdle = open > 0 && active === 0;
    if (allIdle !== this.#allIdle) out.idle = this.#allIdle = allIdle;
    // End of input (every channel ended) is the subtask's business: it advances to +Infinity then.
    if (active > 0 && min > this.#current) out.watermark = this.#current = min;
    else if (open === 0 && finished > 0 && this.#current < Infinity) out.watermark = this.#current = Infinity;
    return out;
  }
}
