import { assert } from "../errors.ts";
import { type Barrier, type ChannelItem, type ChannelStateItem, isBatch, sliceBatch, unknownEvent } from "./messages.ts";

/** How many queue items a priority barrier overtook when it was put on the channel. */
export interface OvertakeMark {
  count: number;
}

/** The two ends a channel talks to: the receiver's wake-up and the sender's. */
export interface ChannelEndpoint {
  /** Called when the actor may have become runnable. */
  wake(): void;
  /** The subtask behind the endpoint (vertex id and subtask index), recorded with channel state. */
  readonly vertexId?: string;
  readonly index?: number;
}

/** The vertex id and subtask index of an endpoint; "?" and -1 for an anonymous one (tests). */
export function endpointId(e: ChannelEndpoint): { vertexId: string; subtaskIndex: number } {
  return { vertexId: e.vertexId ?? "?", subtaskIndex: e.index ?? -1 };
}

/**
 * One sender subtask → one receiver subtask, with credit-based flow control. The
 * receiver's queue holds at most `capacity` data batches (events do not take credit);
 * what the sender emits beyond that waits in its output buffer (`pending`), and while
 * anything waits there the sender is backpressured and does not run.
 */
export class Channel {
  readonly capacity: number;
  readonly sender: ChannelEndpoint;
  readonly receiver: ChannelEndpoint;
  /** Index of this channel among the receiver's inputs. */
  readonly inputIndex: number;
  /** Receiver side, in order. The first batch may be partly consumed (see `headOffset`). */
  readonly queue: ChannelItem[] = [];
  /** Records of queue[0] already consumed. */
  headOffset = 0;
  /** Data batches in `queue` that took credit (restored channel state does not). */
  creditedBatches = 0;
  /**
   * Restored channel state items (batches and the watermarks between them) still at the
   * front of the queue, replayed before new data.
   */
  restoredBatches = 0;
  /** Sender side: the output buffer of items that found no credit yet. */
  readonly pending: ChannelItem[] = [];
  /** Called with a barrier that left `pending` for the queue (aligned-with-timeout bookkeeping). */
  onBarrierDelivered: ((b: Barrier) => void) | undefined;

  constructor(sender: ChannelEndpoint, receiver: ChannelEndpoint, inputIndex: number, capacity: number) {
    this.sender = sender;
    this.receiver = receiver;
    this.inputIndex = inputIndex;
    this.capacity = capacity;
  }

  /** True while the sender has items that found no credit. */
  get backpressured(): boolean {
    return this.pending.length > 0;
  }

  /** Sender: sends an item, or buffers it if there is no credit. */
  send(item: ChannelItem): void {
    if (this.pending.length === 0 && (!isBatch(item) || this.creditedBatches < this.capacity)) {
      this.#enqueue(item);
      this.receiver.wake();
    } else {
      this.pending.push(item);
    }
  }

  /** Sender: removes an item (a barrier about to overtake) from the output buffer. */
  removePending(index: number): void {
    assert(index >= 0 && index < this.pending.length, () => `Output buffer has no item ${index} (holds ${this.pending.length})`);
    this.pending.splice(index, 1);
  }

  #enqueue(item: ChannelItem): void {
    this.queue.push(item);
    if (isBatch(item)) {
      this.creditedBatches++;
      assert(this.creditedBatches <= this.capacity, () => `Channel queue holds ${this.creditedBatches} batches, over its capacity ${this.capacity}`);
    }
  }

  /** Receiver: the next item without consuming it. */
  peek(): ChannelItem | undefined {
    return this.queue[0];
  }

  /** Receiver: removes the head item; returns credit to the sender. */
  shift(): ChannelItem | undefined {
    const item = this.queue.shift();
    this.headOffset = 0;
    if (item !== undefined) for (const m of this.#marks) if (m.count > 0) m.count--;
    if (item === undefined) return item;
    if (this.restoredBatches > 0) {
      // Restored items took no credit.
      this.restoredBatches--;
    } else if (isBatch(item)) {
      this.creditedBatches--;
      // The receiver's side of the credit account: it never returns credit it was not given.
      assert(this.creditedBatches >= 0, () => `Channel returned credit it never granted (credited batches ${this.creditedBatches})`);
      this.#refill();
    }
    return item;
  }

  /** Moves pending items into the queue while there is credit, waking the sender when it drained. */
  #refill(): void {
    if (this.pending.length === 0) return;
    let moved = false;
    while (this.pending.length > 0) {
      const next = this.pending[0];
      if (isBatch(next) && this.creditedBatches >= this.capacity) break;
      this.pending.shift();
      this.#enqueue(next);
      moved = true;
      if (!isBatch(next) && next.kind === "barrier") this.onBarrierDelivered?.(next);
    }
    if (moved) this.receiver.wake();
    if (this.pending.length === 0) this.sender.wake();
  }

  /**
   * Boundaries of priority barriers put on this channel and not yet handled by the
   * receiver: how many queue items each overtook. Removing queue items keeps them exact.
   */
  readonly #marks: OvertakeMark[] = [];

  /** Sender: marks what a priority barrier overtakes as it is put on the receiver's priority lane. */
  markOvertaken(): OvertakeMark {
    const m = { count: this.queue.length };
    this.#marks.push(m);
    return m;
  }

  /** Receiver: the barrier of this mark was handled; returns how many queue items it overtook. */
  releaseMark(mark: OvertakeMark): number {
    const i = this.#marks.indexOf(mark);
    if (i >= 0) this.#marks.splice(i, 1);
    assert(mark.count <= this.queue.length, () => `Barrier overtook ${mark.count} items but the queue holds ${this.queue.length}`);
    return mark.count;
  }

  /** Receiver: removes an in-band event (a barrier overtaken by a switch to unaligned). */
  removeQueued(index: number): void {
    this.queue.splice(index, 1);
    for (const m of this.#marks) if (m.count > index) m.count--;
  }

  /** Receiver: puts restored input channel state at the front, after what was restored before and ahead of anything new. */
  restore(items: ChannelStateItem[]): void {
    this.queue.splice(this.restoredBatches, 0, ...items);
    this.restoredBatches += items.length;
  }

  /**
   * Receiver: the unconsumed data batches among the first `limit` queue items, with the
   * watermark events between them in order: the data a priority barrier overtook when it
   * was put on this channel. Barriers of other
   * checkpoints in between are skipped (they belong to checkpoints of their own); the scan
   * stops at end of partition, or at the in-band barrier of checkpoint `stopAt`, whose
   * index is then returned (else -1).
   */
  overtakenData(limit = this.queue.length, stopAt?: number): { batches: ChannelStateItem[]; barrierIndex: number } {
    const batches: ChannelStateItem[] = [];
    const n = Math.min(limit, this.queue.length);
    for (let i = 0; i < n; i++) {
      const item = this.queue[i];
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

  /** Data batches queued, counting restored ones. */
  get queuedBatches(): number {
    return this.creditedBatches + this.restoredBatches;
  }
}
