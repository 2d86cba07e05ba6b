/**
 * The in-memory transport: both ends of every channel in one thread, messages handed
 * over synchronously inside `send`, by reference (records are not copied: the output
 * gate already gave each receiver its own). The default of every job.
 * @module
 */
import { assert } from "../errors.ts";
import { type ChannelAddress, channelKey, type CreditMessage, type DataMessage, type Link, type LinkHandlers, type Transport } from "./transport.ts";

/** Both ends of one channel as opened so far. */
interface Pair {
  sender?: LinkHandlers<CreditMessage>;
  receiver?: LinkHandlers<DataMessage>;
  /** The receiver closed: what its sender still sends is dropped. */
  receiverClosed?: boolean;
}

/**
 * Delivers each message synchronously to the other end of its channel. Sending to an end
 * that was never opened fails loudly (a wiring bug); sending after either end closed is
 * dropped (the attempt is over).
 *
 * @example
 * ```ts
 * import { MemoryTransport } from "./memory_transport.ts";
 * const t = new MemoryTransport();
 * const address = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "b", subtaskIndex: 0 }, inputIndex: 0, capacity: 4 };
 * const got: unknown[] = [];
 * const out = t.openSender(address, { deliver() {}, failed() {} });
 * t.openReceiver(address, { deliver: (m) => got.push(m), failed() {} });
 * out.send({ kind: "item", seq: 0, item: [1, 2] });
 * console.assert(got.length === 1);
 * ```
 */
export class MemoryTransport implements Transport {
  readonly name = "memory";
  readonly #pairs = new Map<string, Pair>();

  /** Channels with an end still open (tests check that a stopped attempt closed its links). */
  get openChannels(): number {
    return this.#pairs.size;
  }

  openSender(address: ChannelAddress, handlers: LinkHandlers<CreditMessage>): Link<DataMessage> {
    const key = channelKey(address);
    const pair = this.#pair(key);
    assert(pair.sender === undefined, () => `Channel ${key} was opened twice by its sender`);
    pair.sender = handlers;
    let closed = false;
    return {
      send: (m) => {
        if (closed || pair.receiverClosed) return;
        const r = pair.receiver;
        assert(r !== undefined, () => `Channel ${key} has no receiver: its sender sent before the receiver opened`);
        r.deliver(m);
      },
      close: () => {
        closed = true;
        pair.sender = undefined;
        if (pair.receiver === undefined) this.#pairs.delete(key);
      },
    };
  }

  openReceiver(address: ChannelAddress, handlers: LinkHandlers<DataMessage>): Link<CreditMessage> {
    const key = channelKey(address);
    const pair = this.#pair(key);
    assert(pair.receiver === undefined, () => `Channel ${key} was opened twice by its receiver`);
    pair.receiver = handlers;
    let closed = false;
    return {
      send: (m) => {
        // A sender that closed (its attempt stopped) hears no more credit.
        if (!closed) pair.sender?.deliver(m);
      },
      close: () => {
        closed = true;
        pair.receiver = undefined;
        pair.receiverClosed = true;
        if (pair.sender === undefined) this.#pairs.delete(key);
      },
    };
  }

  #pair(key: string): Pair {
    let p = this.#pairs.get(key);
    if (!p) this.#pairs.set(key, (p = {}));
    return p;
  }
}
