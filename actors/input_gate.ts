/**
 * All input channels of one subtask, and what the barrier handler may do to them.
 * @module
 */
import { assert } from "../errors.ts";
import type { InputChannel } from "./input_channel.ts";
import type { ChannelStateItem } from "./messages.ts";
import type { SubtaskAddress } from "./transport.ts";

/**
 * What checkpointing may do to a subtask's inputs, and nothing more (Flink's
 * `CheckpointableInput`): block a channel and resume consumption (alignment), read the
 * data a priority barrier overtook (channel state), and convert a queued in-band barrier
 * into an overtaken one (a switch to unaligned). Channels are numbered 0..inputCount-1.
 */
export interface CheckpointableInput {
  readonly inputCount: number;
  /** The channel's end of partition was consumed: nothing more comes on it. */
  isEnded(channel: number): boolean;
  /** Stops consuming the channel until resumeAll() (aligned: its barrier arrived). */
  block(channel: number): void;
  /** Consumption resumes on every channel (the alignment ended). */
  resumeAll(): void;
  /**
   * The unconsumed data batches a priority barrier overtook on the channel, with the
   * watermark events between them: those queued with a sequence number below `overtakes`
   * (its mark), restored state included.
   */
  overtakenData(channel: number, overtakes: number): ChannelStateItem[];
  /**
   * If the in-band barrier of `checkpointId` is queued on the channel, withdraws it and
   * returns the data batches (and watermark events) queued ahead of it, now overtaken; else undefined.
   */
  convertToPriority(channel: number, checkpointId: number): ChannelStateItem[] | undefined;
  /** The subtask at the other end of the channel, recorded with its channel state. */
  peer(channel: number): SubtaskAddress;
}

/**
 * The input gate of a subtask: its input channels in order, which of them ended or are
 * blocked, and which to read next (round robin; restored channel state first).
 *
 * Flink: `CheckpointedInputGate` over a `SingleInputGate`/`UnionInputGate`.
 *
 * @example
 * ```ts
 * import { InputGate } from "./input_gate.ts";
 * const gate = new InputGate();
 * gate.connected();
 * console.assert(gate.inputCount === 0 && gate.next() === -1);
 * ```
 */
export class InputGate implements CheckpointableInput {
  readonly channels: InputChannel[] = [];
  #blocked: boolean[] = [];
  #ended: boolean[] = [];
  #endedCount = 0;
  #next = 0;
  /** Until no channel holds restored channel state any more. */
  #replaying = true;

  get inputCount(): number {
    return this.channels.length;
  }

  /** Adds a channel during wiring; its inputIndex must be its place here. */
  add(channel: InputChannel): void {
    assert(channel.inputIndex === this.channels.length, () => `Input channel ${channel.inputIndex} added as input ${this.channels.length}`);
    this.channels.push(channel);
  }

  /** Called once every channel was added. */
  connected(): void {
    this.#blocked = this.channels.map(() => false);
    this.#ended = this.channels.map(() => false);
  }

  isEnded(channel: number): boolean {
    return this.#ended[channel];
  }

  isBlocked(channel: number): boolean {
    return this.#blocked[channel];
  }

  /** Marks a channel ended; returns true when every channel has. */
  endOfPartition(channel: number): boolean {
    assert(!this.#ended[channel], () => `Input channel ${channel} ended twice`);
    this.#ended[channel] = true;
    this.#endedCount++;
    return this.#endedCount === this.channels.length;
  }

  /** The channel to read next, or -1: restored channel state first, then round robin over channels that are neither ended nor blocked. */
  next(): number {
    const channels = this.channels;
    const n = channels.length;
    if (this.#replaying) {
      for (let c = 0; c < n; c++) {
        if (channels[c].restoredBatches > 0 && !this.#ended[c] && !this.#blocked[c]) return c;
      }
      this.#replaying = false;
    }
    for (let k = 0; k < n; k++) {
      const c = (this.#next + k) % n;
      if (!this.#ended[c] && !this.#blocked[c] && channels[c].length > 0) return c;
    }
    return -1;
  }

  /** The channel read last was `c`: the next read starts after it. */
  read(c: number): void {
    this.#next = (c + 1) % this.channels.length;
  }

  block(channel: number): void {
    this.#blocked[channel] = true;
  }

  resumeAll(): void {
    this.#blocked.fill(false);
  }

  overtakenData(channel: number, overtakes: number): ChannelStateItem[] {
    return this.channels[channel].overtakenData(overtakes).batches;
  }

  convertToPriority(channel: number, checkpointId: number): ChannelStateItem[] | undefined {
    const ch = this.channels[channel];
    const { batches, barrierIndex } = ch.overtakenData(Infinity, checkpointId);
    if (barrierIndex < 0) return undefined;
    ch.removeQueued(barrierIndex);
    return batches;
  }

  peer(channel: number): SubtaskAddress {
    return this.channels[channel].address.sender;
  }

  /** Data batches queued on every channel, restored ones included. */
  get queuedBatches(): number {
    let n = 0;
    for (const c of this.channels) n += c.queuedBatches;
    return n;
  }

  /** Stops receiving on every channel. */
  close(): void {
    for (const c of this.channels) c.close();
  }
}
