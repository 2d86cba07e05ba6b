/**
 * A transport between threads (the main thread and Workers): channel ends opened in this
 * thread are delivered to directly; a message for an end in another thread is encoded
 * (actors/wire.ts) and posted to that thread's port, every message queued for one port in
 * one turn going as one postMessage with its buffers transferred. Order per channel holds
 * (a port delivers in order); credit and priority barriers are the channel classes' own
 * (actors/input_channel.ts, output_channel.ts), so flow control holds across threads.
 *
 * Workers post every frame to the main thread, which relays a message whose end is not
 * opened there to the thread `threadOf` names (a Worker → main → Worker hop): two Worker
 * hosts of one job exchange channels that way. Each message carries the subtask of the end
 * it is for, so the relay needs no parsing of keys and no decoding of the bytes; order per
 * channel holds because each hop is one ordered port.
 * @module
 */
import { WeirError } from "../../errors.ts";
import type { Scheduler } from "../../actors/time.ts";
import { type ChannelAddress, channelKey, type CreditMessage, type DataMessage, type Link, type LinkHandlers, type SubtaskAddress, type Transport } from "../../actors/transport.ts";
import { decodeMessage, encodeMessage } from "../../actors/wire.ts";
import { systemScheduler } from "../system.ts";

/** What a port needs: Worker, MessagePort and a worker's `self` all have it. */
export interface PortLike {
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

/**
 * One posted frame: messages of several channels, each [direction (0 to receiver, 1 to
 * sender), channel key, bytes, vertex id and subtask index of the end it is for, and 1
 * once relayed].
 */
export interface ThreadFrame {
  t: "weir-data";
  m: [dir: 0 | 1, key: string, bytes: Uint8Array, vertexId: string, subtaskIndex: number, relayed?: 1][];
}

/** Options of {@link WorkerThreadTransport}. */
export interface WorkerThreadTransportOptions {
  /** Runs the flush of queued messages on a later turn (the system scheduler unless set). */
  scheduler?: Scheduler;
  /** The thread that hosts a subtask's end when it is not opened here. */
  threadOf(subtask: SubtaskAddress): string;
}

/**
 * See the module documentation.
 *
 * @example
 * ```ts
 * import { WorkerThreadTransport } from "./transport.ts";
 * const t = new WorkerThreadTransport({ threadOf: () => "main" });
 * console.assert(t.name === "worker-thread");
 * ```
 */
export class WorkerThreadTransport implements Transport {
  readonly name = "worker-thread";
  readonly #options: WorkerThreadTransportOptions;
  readonly #ends = [new Map<string, LinkHandlers<DataMessage>>(), new Map<string, LinkHandlers<CreditMessage>>()] as const;
  readonly #peers = new Map<string, PortLike>();
  readonly #outbox = new Map<string, ThreadFrame["m"]>();
  #scheduled = false;
  /** Messages posted and not yet flushed. */
  queued = 0;
  /** Messages this thread passed on to another thread (the main thread's relay). */
  relayed = 0;

  constructor(options: WorkerThreadTransportOptions) {
    this.#options = options;
  }

  /** The thread that hosts a subtask's end when it is not opened here (the option's answer). */
  threadOf(subtask: SubtaskAddress): string {
    return this.#options.threadOf(subtask);
  }

  /** Where messages for ends in thread `id` go (a later call for `id` replaces the port). */
  addPeer(id: string, port: PortLike): void {
    this.#peers.set(id, port);
  }

  /**
   * A frame arrived from another thread: delivers its messages to the ends opened here,
   * relays those for an end in a thread this one has a port to, and drops the rest (their
   * end closed: an earlier attempt's). A message is relayed at most once: a relayed one
   * whose end is gone is dropped where it lands, else two threads that each think the
   * other holds a closed end would pass it back and forth forever.
   */
  receive(frame: ThreadFrame): void {
    for (const entry of frame.m) {
      const [dir, key, bytes, vertexId, subtaskIndex, relayed] = entry;
      const end = this.#ends[dir].get(key) as LinkHandlers<unknown> | undefined;
      if (end) {
        end.deliver(decodeMessage(bytes));
        continue;
      }
      if (relayed === 1) continue;
      const to = this.#options.threadOf({ vertexId, subtaskIndex });
      if (!this.#peers.has(to)) continue;
      this.relayed++;
      this.#enqueue(to, [dir, key, bytes, vertexId, subtaskIndex, 1]);
    }
  }

  openSender(address: ChannelAddress, handlers: LinkHandlers<CreditMessage>): Link<DataMessage> {
    const key = channelKey(address);
    if (this.#ends[1].has(key)) throw new WeirError("invariant_broken", `Channel ${key} was opened twice by its sender`);
    this.#ends[1].set(key, handlers);
    return this.#link(0, key, address.receiver, handlers) as Link<DataMessage>;
  }

  openReceiver(address: ChannelAddress, handlers: LinkHandlers<DataMessage>): Link<CreditMessage> {
    const key = channelKey(address);
    if (this.#ends[0].has(key)) throw new WeirError("invariant_broken", `Channel ${key} was opened twice by its receiver`);
    this.#ends[0].set(key, handlers);
    return this.#link(1, key, address.sender, handlers) as Link<CreditMessage>;
  }

  #link(dir: 0 | 1, key: string, other: SubtaskAddress, self: LinkHandlers<never>): Link<DataMessage | CreditMessage> {
    let closed = false;
    const own = dir === 0 ? 1 : 0;
    return {
      send: (m) => {
        if (closed) return;
        const local = this.#ends[dir].get(key) as LinkHandlers<unknown> | undefined;
        if (local) return local.deliver(m);
        const to = this.#options.threadOf(other);
        const port = this.#peers.get(to);
        if (!port) return self.failed(new WeirError("transport_failed", `Channel ${key}: no port to thread ${to}`));
        this.#enqueue(to, [dir, key, encodeMessage(m), other.vertexId, other.subtaskIndex]);
      },
      close: () => {
        closed = true;
        if (this.#ends[own].get(key) === self) this.#ends[own].delete(key);
      },
    };
  }

  #enqueue(to: string, entry: ThreadFrame["m"][number]): void {
    let box = this.#outbox.get(to);
    if (!box) this.#outbox.set(to, (box = []));
    box.push(entry);
    this.queued++;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    (this.#options.scheduler ?? systemScheduler).defer(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    for (const [to, m] of this.#outbox) {
      this.#outbox.delete(to);
      this.queued -= m.length;
      const frame: ThreadFrame = { t: "weir-data", m };
      this.#peers.get(to)!.postMessage(frame, m.map((e) => e[2].buffer as ArrayBuffer));
    }
  }
}
