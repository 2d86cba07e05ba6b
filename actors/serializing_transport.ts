/**
 * A transport that behaves like one between threads, processes or Durable Objects while
 * staying in one process: every message is encoded to bytes (`wire.ts`), split into
 * frames of at most `maxFrameBytes`, and decoded and delivered on later turns of the
 * scheduler, one frame per turn. Nothing the sender holds reaches the receiver, so it
 * proves that channels share no objects and that every message and record serializes;
 * it is also the reference for a Worker-thread or Durable-Object-RPC transport.
 * @module
 */
import { assert, WeirError } from "../errors.ts";
import type { Scheduler } from "./time.ts";
import { type ChannelAddress, channelKey, type CreditMessage, type DataMessage, type Link, type LinkHandlers, type Transport } from "./transport.ts";
import { type ChannelMessage, decodeMessage, encodeMessage } from "./wire.ts";

/** A Durable Object RPC carries at most 32 MiB; frames stay well below it. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** How a SerializingTransport delivers. */
export interface SerializingTransportOptions {
  /** Delivers every frame on a later turn (defer()); the simulator passes its own. */
  scheduler: Scheduler;
  /** Largest frame in bytes (≥ 16); a larger message travels as several frames, joined before delivery. */
  maxFrameBytes?: number;
}

/** One direction of one channel: frames in flight, in order. */
class Lane<M extends ChannelMessage> {
  readonly frames: { bytes: Uint8Array; last: boolean }[] = [];
  /** Frames of a message received so far. */
  readonly parts: Uint8Array[] = [];
  /** Where messages go once the other side opened. */
  to: LinkHandlers<M> | undefined;
  /** Who hears that a message could not be delivered. */
  from: LinkHandlers<ChannelMessage> | undefined;
  closed = false;
}

/** The two directions of one channel. */
interface Pair {
  data: Lane<DataMessage>;
  credit: Lane<CreditMessage>;
}

/** What crossed a SerializingTransport so far. */
export interface SerializingStats {
  messages: number;
  frames: number;
  bytes: number;
}

/**
 * Encodes, frames and delivers asynchronously; see the module documentation. Order holds
 * per channel and direction (each turn delivers the oldest frame of its lane).
 *
 * @example
 * ```ts
 * import { SerializingTransport } from "./serializing_transport.ts";
 * const turns: (() => void)[] = [];
 * const t = new SerializingTransport({ scheduler: { defer: (fn) => void turns.push(fn), after: () => ({ cancel() {} }) } });
 * const address = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "b", subtaskIndex: 0 }, inputIndex: 0, capacity: 4 };
 * const got: unknown[] = [];
 * const out = t.openSender(address, { deliver() {}, failed() {} });
 * t.openReceiver(address, { deliver: (m) => got.push(m), failed() {} });
 * const batch = [{ n: 1 }];
 * out.send({ kind: "item", seq: 0, item: batch });
 * console.assert(got.length === 0 && t.inFlight === 1); // not yet: delivered on a later turn
 * while (turns.length > 0) turns.shift()!();
 * const m = got[0] as { item: unknown[] };
 * console.assert(m.item.length === 1 && m.item[0] !== batch[0]); // a decoded copy
 * ```
 */
export class SerializingTransport implements Transport {
  readonly name = "serializing";
  readonly stats: SerializingStats = { messages: 0, frames: 0, bytes: 0 };
  readonly #scheduler: Scheduler;
  readonly #maxFrameBytes: number;
  readonly #pairs = new Map<string, Pair>();
  #inFlight = 0;

  constructor(options: SerializingTransportOptions) {
    this.#scheduler = options.scheduler;
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    assert(Number.isInteger(this.#maxFrameBytes) && this.#maxFrameBytes >= 16, () => `maxFrameBytes ${options.maxFrameBytes} is not an integer >= 16`);
  }

  /** Frames sent and not yet delivered or dropped. */
  get inFlight(): number {
    return this.#inFlight;
  }

  openSender(address: ChannelAddress, handlers: LinkHandlers<CreditMessage>): Link<DataMessage> {
    const pair = this.#pair(address);
    assert(pair.data.from === undefined, () => `Channel ${channelKey(address)} was opened twice by its sender`);
    pair.data.from = handlers as LinkHandlers<ChannelMessage>;
    pair.credit.to = handlers;
    return this.#link(pair.data, address);
  }

  openReceiver(address: ChannelAddress, handlers: LinkHandlers<DataMessage>): Link<CreditMessage> {
    const pair = this.#pair(address);
    assert(pair.data.to === undefined, () => `Channel ${channelKey(address)} was opened twice by its receiver`);
    pair.data.to = handlers;
    pair.credit.from = handlers as LinkHandlers<ChannelMessage>;
    return this.#link(pair.credit, address);
  }

  #pair(address: ChannelAddress): Pair {
    const key = channelKey(address);
    let p = this.#pairs.get(key);
    if (!p) this.#pairs.set(key, (p = { data: new Lane(), credit: new Lane() }));
    return p;
  }

  #link<M extends ChannelMessage>(lane: Lane<M>, address: ChannelAddress): Link<M> {
    const key = channelKey(address);
    return {
      send: (m) => {
        if (lane.closed) return;
        // Throws on a record that does not encode: the sender's step fails, as it would before an RPC.
        const bytes = encodeMessage(m);
        this.stats.messages++;
        this.stats.bytes += bytes.length;
        const max = this.#maxFrameBytes;
        for (let at = 0; at < bytes.length || at === 0; at += max) {
          lane.frames.push({ bytes: bytes.subarray(at, at + max), last: at + max >= bytes.length });
          this.stats.frames++;
          this.#inFlight++;
          this.#scheduler.defer(() => this.#deliverOne(lane, key));
        }
      },
      close: () => {
        this.#closeBoth(key);
      },
    };
  }

  /** Closing either end ends the channel for both: nothing more is delivered either way. */
  #closeBoth(key: string): void {
    const pair = this.#pairs.get(key);
    if (!pair) return;
    this.#pairs.delete(key);
    for (const lane of [pair.data, pair.credit] as Lane<ChannelMessage>[]) {
      lane.closed = true;
      this.#inFlight -= lane.frames.length;
      lane.frames.length = 0;
      lane.parts.length = 0;
    }
  }

  #deliverOne<M extends ChannelMessage>(lane: Lane<M>, key: string): void {
    const frame = lane.frames.shift();
    if (frame === undefined || lane.closed) return;
    this.#inFlight--;
    assert(this.#inFlight >= 0, () => `SerializingTransport counts ${this.#inFlight} frames in flight`);
    lane.parts.push(frame.bytes);
    if (!frame.last) return;
    const bytes = joinFrames(lane.parts);
    lane.parts.length = 0;
    let message: M;
    try {
      message = decodeMessage(bytes) as M;
    } catch (e) {
      return lane.from?.failed(e);
    }
    const to = lane.to;
    if (to === undefined) {
      return lane.from?.failed(new WeirError("transport_failed", `Channel ${key} has no receiving end for a ${message.kind} message`));
    }
    try {
      to.deliver(message);
    } catch (e) {
      // The receiving side refused it (an assertion): its attempt fails.
      to.failed(e);
    }
  }
}

function joinFrames(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
