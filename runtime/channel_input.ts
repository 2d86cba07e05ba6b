/**
 * The data input of a subtask fed by channels: takes the next item of the input gate
 * and handles it by kind — a slice of a record batch through the chain, a barrier to the
 * checkpointing half, end of partition, and watermarks and idleness through the
 * subtask's watermark valve.
 * @module
 */
import type { InputGate } from "../actors/input_gate.ts";
import { type Batch, type ChannelStateItem, isBatch, sliceBatch, unknownEvent, type Barrier } from "../actors/messages.ts";
import type { OperatorChain } from "./operator_chain.ts";
import type { StepSlice } from "./step_slice.ts";
import { type ValveOutput, WatermarkValve } from "./watermark_valve.ts";

/** What the channel input tells the checkpointing half of its subtask (SubtaskCheckpoints). */
export interface ConsumedInput {
  /** Pre-barrier data (or a watermark event) consumed from a channel, for channel state. */
  consumed(channel: number, item: ChannelStateItem): void;
  inBandBarrier(channel: number, barrier: Barrier): void;
  endOfPartition(channel: number): void;
}

/** What a channel input works with. */
export interface ChannelInputInit {
  inputs: InputGate;
  chain: OperatorChain;
  /** Sizes the synchronous slices of a batch by time (shared with the subtask, which reports each step's duration). */
  slice: StepSlice;
  checkpoints: ConsumedInput;
  counters: { recordsIn: number };
  /** Tells downstream the subtask became idle or active (SubtaskOutput.status). */
  status(idle: boolean): void;
  /** Every input channel ended. */
  endOfInput(): void | Promise<void>;
}

/**
 * Flink's `StreamTaskNetworkInput` with its `StatusWatermarkValve`: every event kind on a
 * channel is handled by name, and a kind nobody handles fails loudly (`unknownEvent`).
 * Async operators take one record per step, synchronous ones a slice sized by time, so
 * that a priority barrier can overtake the rest of a batch.
 *
 * @example
 * ```ts
 * import { InputGate } from "../actors/input_gate.ts";
 * import { ChannelInput } from "./channel_input.ts";
 * import { OperatorChain } from "./operator_chain.ts";
 * import { StepSlice } from "./step_slice.ts";
 * const inputs = new InputGate(); // no channels: nothing to read
 * const chain = new OperatorChain([], undefined, () => {});
 * const checkpoints = { consumed() {}, inBandBarrier() {}, endOfPartition() {} };
 * const input = new ChannelInput({ inputs, chain, slice: new StepSlice(2, 4), checkpoints, counters: { recordsIn: 0 }, status() {}, endOfInput() {} });
 * input.connected();
 * console.assert(input.read() === undefined && !input.sliced);
 * ```
 */
export class ChannelInput {
  /** The last read took a slice of a batch and left the rest for the next step. */
  sliced = false;
  readonly #init: ChannelInputInit;
  /** Event time from the inputs (watermarks, idleness), sized once the channels are connected. */
  #valve = new WatermarkValve(0);

  constructor(init: ChannelInputInit) {
    this.#init = init;
  }

  /** Called once every channel is connected. */
  connected(): void {
    this.#valve = new WatermarkValve(this.#init.inputs.inputCount);
  }

  /** The subtask's event time from its input channels (WatermarkValve.current). */
  get watermark(): number {
    return this.#valve.current;
  }

  /** A channel holds something to read and is not blocked by an alignment. */
  get readable(): boolean {
    return this.#init.inputs.next() >= 0;
  }

  /** Takes and handles the next item of the input gate, or a slice of its batch. */
  read(): void | Promise<void> {
    this.sliced = false;
    const { inputs, chain, checkpoints } = this.#init;
    const c = inputs.next();
    if (c < 0) return;
    inputs.read(c);
    const channel = inputs.channels[c];
    const item = channel.peek()!;
    if (isBatch(item)) {
      let values: Batch;
      const slice = chain.isAsync ? 1 : this.#init.slice.records;
      const left = item.length - channel.headOffset;
      if (left > slice) {
        values = sliceBatch(item, channel.headOffset, channel.headOffset + slice);
        channel.headOffset += slice;
        this.sliced = !chain.isAsync;
      } else {
        values = channel.headOffset > 0 ? sliceBatch(item, channel.headOffset) : item;
        channel.shift();
      }
      checkpoints.consumed(c, values);
      this.#init.counters.recordsIn += values.length;
      this.#init.slice.took(values.length);
      return chain.process(values);
    }
    channel.shift();
    switch (item.kind) {
      case "barrier":
        return checkpoints.inBandBarrier(c, item);
      case "eop": {
        const all = inputs.endOfPartition(c);
        checkpoints.endOfPartition(c);
        if (all) return this.#init.endOfInput();
        return this.#valveChanged(this.#valve.ended(c));
      }
      case "watermark":
        checkpoints.consumed(c, item);
        return this.#valveChanged(this.#valve.watermark(c, item.timestamp));
      case "watermarkStatus":
        checkpoints.consumed(c, item);
        return this.#valveChanged(this.#valve.status(c, item.idle));
      default:
        return unknownEvent(item);
    }
  }

  /**
   * The inputs' event time changed: an assigner in the chain makes its own, else it goes
   * down the chain. The end of event time (+Infinity: every input finished) goes on through
   * an assigner too, as Flink's `TimestampsAndWatermarksOperator` passes `MAX_WATERMARK` on.
   */
  #valveChanged(out: ValveOutput): void | Promise<void> {
    const { chain, status } = this.#init;
    if (chain.generatesWatermarks) return out.watermark === Infinity ? chain.advanceWatermark(Infinity) : undefined;
    if (out.idle === true) status(true);
    if (out.watermark !== undefined) return chain.advanceWatermark(out.watermark);
    if (out.idle === false) status(false);
  }
}
