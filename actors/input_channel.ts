/**
 * The receiver's side of a channel: its queue of batches and in-band events, the credit it
 * returns as it consumes, restored channel state replayed first, and priority barriers
 * handed to its owner's priority lane with the sequence number that marks what they
 * overtook.
 * @module
 */
import { assert } from "../errors.ts";
import { type Barrier, type ChannelItem, type ChannelStateItem, isBatch, sliceBatch, unknownEvent } from "./messages.ts";
import type { ChannelAddress, CreditMessage, DataMessage, Link, Transport } from "./transport.ts";


/** Items spliced into the queue per call (see restore()). */
const SPLICE_STEP = 8192;
/** What an input channel needs from the subtask that owns it. */
export interface InputChannelOwner {
  /** The channel may have made the owner runnable (new data). */
  wake(): void;
  /**
   * A priority barrier arrived: the owner puts it on its priority lane. `overtakes` is the
   * sequence number below which queued items are that barrier's in-flight data.
   */
  priorityBarrier(inputIndex: number, barrier: Barrier, overtakes: number): void;
  /** The transport failed; the job attempt fails. */
  fail(error: unknown): void;
}

/** Sequence number of restored channel state: before anything of this attempt. */
const RESTORED_SEQ = -1;

/** One credit message, shared: messages are never mutated after they were sent. */
const ONE_CREDIT: CreditMessage = Object.freeze({ kind: "credit", batches: 1 });

/**
 * The input side of one channel, owned by the receiving subtask. It holds at most
 * `address.capacity` credited batches (the sender's credit bounds them); restored channel
 * state comes first and takes no credit.
 *
 * Flink: `RemoteInputChannel` (credit, sequence numbers) with `ChannelStatePersister`'s view
 * of what a priority barrier overtook (FLIP-76).
 *
 * @example
 * ```ts
 * import { InputChannel } from "./input_channel.ts";
 * import { OutputChannel } from "./output_channel.ts";
 * import { MemoryTransport } from "./memory_transport.ts";
 * const t = new MemoryTransport();
 * const address = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "b", subtaskIndex: 0 }, inputIndex: 0, capacity: 1 };
 * const owner = { wake() {}, priorityBarrier() {}, fail(e: unknown) { throw e; } };
 * const input = new InputChannel(address, t, owner);
 * const output = new OutputChannel(address, t, owner);
 * output.send([1, 2]);
 * output.send([3]); // no credit left: waits in the sender's output buffer
 * console.assert(input.queuedBatches === 1 && output.backpressured);
 * input.shift(); // returns credit: [3] moves over
 * console.assert((input.peek() as number[])[0] === 3 && !output.backpressured);
 * ```
 */
export class InputChannel {
  readonly address: ChannelAddress;
  /** Index of this channel among the receiver's inputs. */
  readonly inputIndex: number;
  readonly capacity: number;
  /** Records of the head batch already consumed. */
  headOffset = 0;
  /** Data batches queued that took credit (restored channel state does not). */
  creditedBatches = 0;
  /**
   * Restored channel state items (batches and the watermarks between them) still at the
   * front of the queue, replayed before new data.
   */
  restoredBatches = 0;
  readonly #items: ChannelItem[] = [];
  /** Sequence number of each queued item (RESTORED_SEQ for restored state). */
  readonly #seqs: number[] = [];
  /** The sequence number the next item must carry: the transport keeps a channel's order. */
  #nextSeq = 0;
  readonly #owner: InputChannelOwner;
  readonly #link: Link<CreditMessage>;

  constructor(address: ChannelAddress, transport: Transport, owner: InputChannelOwner) {
    assert(Number.isInteger(address.capacity) && address.capacity >= 1, () => `Channel capacity ${address.capacity} is not a positive integer`);
    this.address = address;
    this.inputIndex = address.inputIndex;
    this.capacity = address.capacity;
    this.#owner = owner;
    this.#link = transport.openReceiver(address, { deliver: (m) => this.#deliver(m), failed: (e) => owner.fail(e) });
  }

  #deliver(m: DataMessage): void {
    switch (m.kind) {
      case "item": {
        assert(m.seq === this.#nextSeq, () => `Channel ${this.#name()} received item ${m.seq}, expected ${this.#nextSeq}: the transport reordered or lost one`);
        this.#nextSeq++;
        this.#items.push(m.item);
        this.#seqs.push(m.seq);
        if (isBatch(m.item)) {
          this.creditedBatches++;
          assert(this.creditedBatches <= this.capacity, () => `Channel ${this.#name()} holds ${this.creditedBatches} batches, over its capacity ${this.capacity}: the sender spent credit it was not granted`);
        }
        this.#owner.wake();
        return;
      }
      case "priority":
        assert(m.overtakes <= this.#nextSeq, () => `Priority barrier ${m.barrier.checkpointId} on channel ${this.#name()} overtakes item ${m.overtakes}, which has not arrived (next ${this.#nextSeq})`);
        this.#owner.priorityBarrier(this.inputIndex, m.barrier, m.overtakes);
        return;
      default:
        return unknownEvent(m);
    }
  }

  #name(): string {
    const { sender: s, receiver: r } = this.address;
    return `${s.vertexId}-${s.subtaskIndex}>${r.vertexId}-${r.subtaskIndex}`;
  }

  /** Items queued (batches and events). */
  get length(): number {
    return this.#items.length;
  }

  /** Data batches queued, counting restored ones. */
  get queuedBatches(): number {
    return this.creditedBatches + this.restoredBatches;
  }

  /** The next item without consuming it. */
  peek(): ChannelItem | undefined {
    return this.#items[0];
  }

  /** Removes the head item; a credited batch returns its credit to the sender. */
  shift(): ChannelItem | undefined {
    const item = this.#items.shift();
    if (item === undefined) return undefined;
    this.#seqs.shift();
    this.headOffset = 0;
    if (this.restoredBatches > 0) {
      // Restored items took no credit.
      this.restoredBatches--;
    } else if (isBatch(item)) {
      this.creditedBatches--;
      // The receiver's side of the credit account: it never returns credit it was not given.
      assert(this.creditedBatches >= 0, () => `Channel ${this.#name()} returned credit it never granted (credited batches ${this.creditedBatches})`);
      this.#link.send(ONE_CREDIT);
    }
    return item;
  }

  /** Puts restored input channel state at the front, after what was restored before and ahead of anything new. */
  restore(items: ChannelStateItem[]): void {
    assert(this.restoredBatches <= this.#items.length, () => `Channel ${this.#name()} counts ${this.restoredBatches} restored items but queues ${this.#items.length}`);
    // Spliced in steps: one splice(at, 0, ...items) of a few hundred thousand items overflows the stack.
    for (let i = 0; i < items.length; i += SPLICE_STEP) {
      const step = items.slice(i, i + SPLICE_STEP);
      this.#items.splice(this.restoredBatches, 0, ...step);
      this.#seqs.splice(this.restoredBatches, 0, ...step.map(() => RESTORED_SEQ));
      this.restoredBatches += step.length;
    }
  }

  /**
   * The unconsumed data batches queued before sequence number `beforeSeq` (what a priority
   * barrier marked so overtook), with the watermark events between them in order,
   * restored state included. Barriers of other checkpoints
   * in between are skipped (they belong to checkpoints of their own); the scan stops at
   * end of partition, or at the in-band barrier of checkpoint `stopAt`, whose queue index
   * is then returned (else -1).
   */
  overtakenData(beforeSeq = Infinity, stopAt?: number): { batches: ChannelStateItem[]; barrierIndex: number } {
    const batches: ChannelStateItem[] = [];
    const items = this.#items;
    for (let i = 0; i < items.length && this.#seqs[i] < beforeSeq; i++) {
      const item = items[i];
      if (isBatch(item)) {
        batches.push(i === 0 && this.headOffset > 0 ? sliceBatch(item, this.headOffset) : item);
        continue;
      }
      switch (item.kind) {
        case "eop":
          return { batches, barrierIndex: -1 };
        case "barrier":
          if (item.checkpointId === stopAt) return { batches, barrierIndex: i };
          continue;
        case "watermark":
        case "watermarkStatus":
          batches.push(item);
          continue;
        default:
          return unknownEvent(item);
      }
    }
    return { batches, barrierIndex: -1 };
  }

  /** Removes a queued in-band event (a barrier overtaken by a switch to unaligned). */
  removeQueued(index: number): void {
    assert(index >= 0 && index < this.#items.length && !isBatch(this.#items[index]), () => `Channel ${this.#name()} has no queued event at ${index}`);
    this.#items.splice(index, 1);
    this.#seqs.splice(index, 1);
  }

  /** Stops receiving: what is still in flight is dropped. */
  close(): void {
    this.#link.close();
  }
}
