/**
 * The sender's side of a channel: the credit the receiver granted, the output buffer of
 * items that found none, sequence numbers, and the priority send of barriers that
 * overtake that buffer.
 * @module
 */
import { assert } from "../errors.ts";
import { type Barrier, type ChannelItem, type ChannelStateItem, isBatch } from "./messages.ts";
import type { ChannelAddress, CreditMessage, DataMessage, Link, Transport } from "./transport.ts";

/** What an output channel needs from the subtask that owns it. */
export interface OutputChannelOwner {
  /** The output buffer drained: the owner may run again. */
  wake(): void;
  /** The transport failed; the job attempt fails. */
  fail(error: unknown): void;
}

/**
 * The output side of one channel, owned by the sending subtask. A batch goes on the wire
 * when the sender holds credit and nothing waits before it; otherwise it waits in the
 * output buffer (`buffered`), and while anything waits there the sender is backpressured.
 * Events take no credit but keep their place behind buffered data.
 *
 * Flink: `PipelinedSubpartition` (credit, backlog, `addPriorityEvent`) — FLIP-76 for
 * priority barriers and the sequence numbers that mark what they overtook.
 *
 * @example
 * ```ts
 * import { InputChannel } from "./input_channel.ts";
 * import { OutputChannel } from "./output_channel.ts";
 * import { MemoryTransport } from "./memory_transport.ts";
 * const t = new MemoryTransport();
 * const address = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "b", subtaskIndex: 0 }, inputIndex: 0, capacity: 1 };
 * let overtakes = -1;
 * const owner = { wake() {}, priorityBarrier(_c: number, _b: unknown, seq: number) { overtakes = seq; }, fail(e: unknown) { throw e; } };
 * const input = new InputChannel(address, t, owner);
 * const output = new OutputChannel(address, t, owner);
 * output.send([1]);
 * output.send([2]); // buffered: no credit
 * const barrier = { kind: "barrier" as const, checkpointId: 1, timestamp: 0, type: "CHECKPOINT" as const, exactlyOnce: true, unaligned: true, alignedTimeoutMs: 0 };
 * const outputState = output.sendPriority(barrier);
 * console.assert(outputState?.length === 1 && (outputState[0] as number[])[0] === 2); // [2] overtaken in the buffer
 * console.assert(overtakes === 1 && input.overtakenData(overtakes).batches.length === 1); // [1] overtaken in the queue
 * ```
 */
export class OutputChannel {
  readonly address: ChannelAddress;
  /** Batches the sender may still put on the wire. */
  #credit: number;
  /** Items that found no credit yet, in order. */
  readonly #buffer: ChannelItem[] = [];
  /** Sequence number of the next item put on the wire. */
  #nextSeq = 0;
  readonly #owner: OutputChannelOwner;
  readonly #link: Link<DataMessage>;
  /** Called with a barrier that left the output buffer for the wire (aligned-with-timeout bookkeeping). */
  onBarrierDelivered: ((b: Barrier) => void) | undefined;

  constructor(address: ChannelAddress, transport: Transport, owner: OutputChannelOwner) {
    assert(Number.isInteger(address.capacity) && address.capacity >= 1, () => `Channel capacity ${address.capacity} is not a positive integer`);
    this.address = address;
    this.#credit = address.capacity;
    this.#owner = owner;
    this.#link = transport.openSender(address, { deliver: (m) => this.#onCredit(m), failed: (e) => owner.fail(e) });
  }

  /** True while items wait in the output buffer for credit. */
  get backpressured(): boolean {
    return this.#buffer.length > 0;
  }

  /** Items waiting in the output buffer. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Credit left: batches the sender may put on the wire before the receiver returns some. */
  get credit(): number {
    return this.#credit;
  }

  /** Sends an item, or buffers it if it must wait for credit; returns true if it went on the wire now. */
  send(item: ChannelItem): boolean {
    if (this.#buffer.length === 0 && (this.#credit > 0 || !isBatch(item))) {
      this.#transmit(item);
      return true;
    }
    this.#buffer.push(item);
    return false;
  }

  /** True while `item` waits in the output buffer. */
  isBuffered(item: ChannelItem): boolean {
    return this.#buffer.includes(item);
  }

  /**
   * Sends a barrier on the receiver's priority lane, overtaking the output buffer, and
   * returns the data batches it overtook there, with the watermark events between them
   * in order (this channel's output channel state;
   * they are still sent afterwards, behind the barrier). With `inBand`, the in-band
   * barrier that waited in the buffer is withdrawn and only what was ahead of it is
   * overtaken (aligned-with-timeout switching to unaligned); undefined if it already left.
   */
  sendPriority(barrier: Barrier, inBand?: Barrier): ChannelStateItem[] | undefined {
    const end = inBand === undefined ? this.#buffer.length : this.#buffer.indexOf(inBand);
    if (end < 0) return undefined;
    const overtaken: ChannelStateItem[] = [];
    for (let i = 0; i < end; i++) {
      const item = this.#buffer[i];
      if (isBatch(item) || item.kind === "watermark" || item.kind === "watermarkStatus") overtaken.push(item);
    }
    if (inBand !== undefined) this.#buffer.splice(end, 1);
    // What went on the wire before now is ahead of the barrier in the receiver's queue, unless consumed by then.
    this.#link.send({ kind: "priority", barrier, overtakes: this.#nextSeq });
    return overtaken;
  }

  #transmit(item: ChannelItem): void {
    if (isBatch(item)) {
      this.#credit--;
      assert(this.#credit >= 0, () => `Channel ${this.address.sender.vertexId}-${this.address.sender.subtaskIndex} sent a batch without credit`);
    }
    this.#link.send({ kind: "item", seq: this.#nextSeq++, item });
  }

  #onCredit(m: CreditMessage): void {
    assert(m.kind === "credit" && Number.isInteger(m.batches) && m.batches >= 1, () => `Channel received a bad credit message ${JSON.stringify(m)}`);
    this.#credit += m.batches;
    assert(this.#credit <= this.address.capacity, () => `Channel credit ${this.#credit} exceeds its capacity ${this.address.capacity}: the receiver returned credit it never granted`);
    const buffer = this.#buffer;
    if (buffer.length === 0) return;
    while (buffer.length > 0) {
      const next = buffer[0];
      if (isBatch(next) && this.#credit === 0) break;
      buffer.shift();
      this.#transmit(next);
      if (!isBatch(next) && next.kind === "barrier") this.onBarrierDelivered?.(next);
    }
    if (buffer.length === 0) this.#owner.wake();
  }

  /** Stops sending: what is still in flight is dropped. */
  close(): void {
    this.#link.close();
  }
}
