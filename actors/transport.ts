/**
 * The transport seam: how the two sides of a channel talk when they may live in different
 * threads, processes or Durable Objects. A channel is one sender subtask → one receiver
 * subtask; its output side ({@link OutputChannel}, owned by the sender) and its input side
 * ({@link InputChannel}, owned by the receiver) share no object: they exchange the
 * messages below through a {@link Transport}. The in-memory transport
 * (`memory_transport.ts`) hands them over synchronously; a Worker-thread or Durable-Object
 * RPC transport encodes them (`serializing_transport.ts` is the reference) and delivers
 * them later.
 *
 * ## The contract a transport implements (tests/actors/transport_conformance.ts checks it)
 *
 * 1. **Addressing.** `openSender(address)` and `openReceiver(address)` are called once each
 *    per channel, by the side that hosts that end, in any order, before any message is
 *    sent. Two opens with the same {@link channelKey} are the two ends of one channel.
 *    The address carries the job id and the execution attempt: a message of an earlier
 *    attempt must never reach a later one (a restart opens new links; the old ones are
 *    closed and whatever they still carry is dropped).
 * 2. **Order.** Messages of one channel and one direction arrive in the order they were
 *    sent, each exactly once, priority barriers included: a priority barrier overtakes
 *    data in the *receiver's queue* and in the *sender's output buffer*, never on the wire.
 *    Messages of different channels may be delivered in any order relative to each other.
 *    A transport may deliver synchronously inside `send` (in-memory) or later; it may
 *    coalesce the messages of one link into one network call, as long as their order holds.
 * 3. **Serializable messages.** Everything in a {@link DataMessage} or {@link CreditMessage}
 *    is plain data that `codec/cbor.ts` encodes (records included): no functions, no
 *    shared objects. A receiver must not assume it sees the sender's objects. A transport
 *    with a size limit per call (a Durable Object RPC carries at most 32 MiB) splits a
 *    large message into frames and joins them before delivery; a batch never arrives in
 *    parts.
 * 4. **Credit.** The sender starts with `address.capacity` credit. Every `item` message
 *    whose item is a data batch spends one; events (barriers, end of partition) spend
 *    none. The receiver returns one credit per credited batch it consumed (restored
 *    channel state never took credit and returns none), in `credit` messages, which a
 *    transport may coalesce by summing. So a sender never has more batches in flight or
 *    queued at the receiver than it was granted, and a receiver that stops consuming
 *    stops its sender (backpressure reaches the source, hop by hop).
 * 5. **Failure.** A transport that cannot deliver a message (a failed RPC, a dead worker,
 *    a message that does not encode) calls `failed(error)` on the handlers of the side
 *    that sent it, or throws from `send`. Either fails the job attempt; the job master
 *    restarts every subtask from the latest completed checkpoint. A transport never drops
 *    or duplicates a message silently, and never delivers after `close()`.
 *
 * Flink's counterpart: the netty shuffle (`PartitionRequestClient`, `CreditBasedPartitionRequestClientHandler`,
 * `AddCredit`/`BufferResponse` messages; FLIP-76 for priority events and their sequence numbers).
 * @module
 */
import type { Barrier, ChannelItem } from "./messages.ts";

/** A subtask: the vertex id and the index of the subtask among the vertex's parallel instances. */
export interface SubtaskAddress {
  readonly vertexId: string;
  readonly subtaskIndex: number;
}

/** Names one channel of one execution attempt; the same on both ends. */
export interface ChannelAddress {
  readonly jobId: string;
  /** The execution attempt (0, 1, … per restart): links of different attempts never meet. */
  readonly attempt: number;
  readonly sender: SubtaskAddress;
  readonly receiver: SubtaskAddress;
  /** Index of this channel among the receiver's input channels. */
  readonly inputIndex: number;
  /** Batches the receiver queues at most: the sender's initial credit (≥ 1). */
  readonly capacity: number;
}

/**
 * Sender → receiver.
 * - `item`: an in-band batch or event, numbered per channel from 0 (`seq`) in sending order.
 * - `priority`: a barrier for the receiver's priority lane (unaligned checkpoints). It
 *   overtakes the items with `seq < overtakes` that the receiver has not consumed when it
 *   handles the barrier: those are the channel's in-flight data of that checkpoint.
 */
export type DataMessage =
  | { readonly kind: "item"; readonly seq: number; readonly item: ChannelItem }
  | { readonly kind: "priority"; readonly barrier: Barrier; readonly overtakes: number };

/** Receiver → sender: `batches` more data batches may be sent (≥ 1). */
export interface CreditMessage {
  readonly kind: "credit";
  readonly batches: number;
}

/** What a side of a channel hands its transport when it opens its link. */
export interface LinkHandlers<M> {
  /** A message from the other side arrived (in order). May run inside `send` of the other side. */
  deliver(message: M): void;
  /** A message this side sent could not be delivered: the job attempt fails with `error`. */
  failed(error: unknown): void;
}

/** One side's end of a channel: sends messages of one direction. */
export interface Link<M> {
  /**
   * Hands a message to the transport. It must not be mutated afterwards.
   * @throws anything: a message that cannot be sent at all (the caller's step fails, and with it the attempt).
   */
  send(message: M): void;
  /** No more sends; messages still in flight to or from this end are dropped. Idempotent. */
  close(): void;
}

/**
 * Carries the messages of channels between subtasks. One transport serves every channel
 * of a job (and of its later attempts); see the module documentation for the contract.
 */
export interface Transport {
  /** For messages and logs: "memory", "serializing", "durable-object-rpc", … */
  readonly name: string;
  /** Opens the sender's end; `handlers` receive the receiver's credit. */
  openSender(address: ChannelAddress, handlers: LinkHandlers<CreditMessage>): Link<DataMessage>;
  /** Opens the receiver's end; `handlers` receive the sender's items and priority barriers. */
  openReceiver(address: ChannelAddress, handlers: LinkHandlers<DataMessage>): Link<CreditMessage>;
}

/**
 * The key that identifies a channel on both ends: job, attempt, sender, receiver and input
 * index. Transports use it to pair `openSender` with `openReceiver`.
 *
 * @example
 * ```ts
 * import { channelKey } from "./transport.ts";
 * const key = channelKey({ jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "b", subtaskIndex: 1 }, inputIndex: 0, capacity: 8 });
 * console.assert(key === "j/0/a-0>b-1/0");
 * ```
 */
export function channelKey(a: ChannelAddress): string {
  return `${a.jobId}/${a.attempt}/${a.sender.vertexId}-${a.sender.subtaskIndex}>${a.receiver.vertexId}-${a.receiver.subtaskIndex}/${a.inputIndex}`;
}
