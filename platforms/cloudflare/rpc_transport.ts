/**
 * A transport whose channel ends live in different Durable Objects: the messages of a
 * channel travel as bounded binary frames, one call from object to object at a time.
 * @module
 */
import type { Batch, ChannelItem } from "../../actors/messages.ts";
import { isBatch } from "../../actors/messages.ts";
import {
  type ChannelAddress,
  channelKey,
  type CreditMessage,
  type DataMessage,
  type Link,
  type LinkHandlers,
  type SubtaskAddress,
  type Transport,
} from "../../actors/transport.ts";
import { decode, encode } from "../../codec/cbor.ts";
import { WeirError, invalidOption } from "../../errors.ts";

/** Cloudflare's limit on one RPC message. */
export const RPC_MESSAGE_BYTES_MAX = 32 * 1024 * 1024;
/** Bytes per frame by default: well below {@link RPC_MESSAGE_BYTES_MAX}, with room for the envelope. */
export const FRAME_BYTES_DEFAULT = 8 * 1024 * 1024;
/** Messages an end that is not open yet may have waiting for it. */
const PENDING_MESSAGES_MAX = 4096;

/** Options of {@link DurableObjectRpcTransport}. */
export interface DurableObjectRpcTransportOptions {
  /** The name of the object this transport runs in (where frames for its ends arrive). */
  self: string;
  /** The name of the object that hosts a subtask of a job. */
  placement(jobId: string, subtask: SubtaskAddress): string;
  /**
   * Delivers a frame to the named object (its transport's {@link DurableObjectRpcTransport.receive});
   * resolves once the object took it, rejects when the call failed.
   */
  call(object: string, frame: Uint8Array): Promise<void>;
  /** Bytes per frame (default 8 MiB; at most 32 MiB, Cloudflare's RPC message limit). */
  frameBytesMax?: number;
  /**
   * The epoch this object's channel ends belong to (on Cloudflare: the job master's
   * incarnation, since attempt numbers, and so channel keys, start again at 0 when the
   * master restarts). Frames carry the sender's epoch; a frame of another epoch is refused
   * (`receive` throws `host_failed`), which fails the stale sender's ends. Unset: no check.
   */
  epoch?: () => string | undefined;
}

/** A message on the wire: direction (0 data to the receiver, 1 credit to the sender), channel key, message. */
type WireMessage = [dir: 0 | 1, key: string, message: unknown];

/** A frame: the sender's object name, then whole encoded messages, or one part of a large one. */
interface Frame {
  from: string;
  epoch?: string;
  messages?: Uint8Array[];
  part?: { id: number; index: number; count: number; bytes: Uint8Array };
}

interface Outbox {
  messages: Uint8Array[];
  /** The local ends whose messages the queued frames carry (told when a call fails). */
  ends: Set<LinkHandlers<never>>;
  bytes: number;
  inFlight: boolean;
  scheduled: boolean;
}

/** Figures of a transport, for the bench and the tests. */
export interface RpcTransportStats {
  /** Calls made (one frame each). */
  calls: number;
  /** Bytes of frames sent. */
  bytes: number;
  /** Messages sent, data batches among them, and the records those carried. */
  messages: number;
  batches: number;
  records: number;
  /** The largest frame sent, in bytes. */
  largestFrameBytes: number;
}

/**
 * The Durable Object RPC transport (issue 14): implements the {@link Transport} contract
 * (actors/transport.ts) for channel ends hosted in different objects. Each object runs one
 * instance; `openSender`/`openReceiver` register its local ends, and the messages they send
 * go to the object hosting the other end (`placement`) in frames: everything queued for
 * one object is coalesced into one call, at most one call per destination is in flight
 * (so a channel's order holds, and while a call travels the next frame fills: about
 * `capacity` batches per call under load, ~1,000 records each with the default batch
 * size), and a frame stays under `frameBytesMax` (a larger message is cut into parts and
 * joined before delivery; a batch never arrives in parts). Credit flows back the same way,
 * so a sender never has more batches in flight than its receiver granted, across objects.
 * A call that fails calls `failed` on every local end whose messages it carried: the job
 * attempt fails, as the contract says; nothing is retried (a retry could duplicate).
 * Flink's counterpart: the netty shuffle's `NettyMessage` frames and `PartitionRequestClient`.
 *
 * @throws {WeirError} `invalid_option` for a frame size outside 1 KiB..32 MiB.
 * @example
 * ```ts
 * import { DurableObjectRpcTransport } from "./rpc_transport.ts";
 * // Two "objects" in one process, calling each other directly.
 * const objects = new Map<string, DurableObjectRpcTransport>();
 * const make = (self: string) => new DurableObjectRpcTransport({
 *   self, placement: (_job, s) => s.vertexId, call: (to, frame) => Promise.resolve(objects.get(to)!.receive(frame)),
 * });
 * objects.set("a", make("a"));
 * objects.set("b", make("b"));
 * const address = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "b", subtaskIndex: 0 }, inputIndex: 0, capacity: 2 };
 * const got: unknown[] = [];
 * objects.get("b")!.openReceiver(address, { deliver: (m) => got.push(m), failed() {} });
 * objects.get("a")!.openSender(address, { deliver() {}, failed() {} }).send({ kind: "item", seq: 0, item: [1, 2, 3] });
 * await new Promise((r) => setTimeout(r, 10));
 * console.assert(got.length === 1);
 * ```
 */
export class DurableObjectRpcTransport implements Transport {
  readonly name = "durable-object-rpc";
  readonly stats: RpcTransportStats = { calls: 0, bytes: 0, messages: 0, batches: 0, records: 0, largestFrameBytes: 0 };
  readonly #options: DurableObjectRpcTransportOptions;
  readonly #frameBytesMax: number;
  /** Local ends by direction and channel key: receivers get data (0), senders get credit (1). */
  readonly #ends = [new Map<string, LinkHandlers<DataMessage>>(), new Map<string, LinkHandlers<CreditMessage>>()] as const;
  readonly #closed = [new Set<string>(), new Set<string>()] as const;
  readonly #pending = [new Map<string, unknown[]>(), new Map<string, unknown[]>()] as const;
  readonly #outboxes = new Map<string, Outbox>();
  readonly #parts = new Map<string, Uint8Array[]>();
  #partId = 0;

  constructor(options: DurableObjectRpcTransportOptions) {
    const max = options.frameBytesMax ?? FRAME_BYTES_DEFAULT;
    if (!Number.isInteger(max) || max < 1024 || max > RPC_MESSAGE_BYTES_MAX) {
      throw invalidOption("frameBytesMax", max, `must be an integer between 1024 and ${RPC_MESSAGE_BYTES_MAX} (Cloudflare's RPC message limit)`);
    }
    this.#options = options;
    this.#frameBytesMax = max;
  }

  /** Messages queued for other objects or riding a call now: 0 when nothing is in flight from here. */
  get pending(): number {
    let n = 0;
    for (const box of this.#outboxes.values()) n += box.messages.length + (box.inFlight || box.scheduled ? 1 : 0);
    return n;
  }

  openSender(address: ChannelAddress, handlers: LinkHandlers<CreditMessage>): Link<DataMessage> {
    const key = channelKey(address);
    this.#open(1, key, handlers as LinkHandlers<unknown>);
    const to = this.#options.placement(address.jobId, address.receiver);
    return this.#link(0, key, to, handlers as LinkHandlers<never>);
  }

  openReceiver(address: ChannelAddress, handlers: LinkHandlers<DataMessage>): Link<CreditMessage> {
    const key = channelKey(address);
    this.#open(0, key, handlers as LinkHandlers<unknown>);
    const to = this.#options.placement(address.jobId, address.sender);
    return this.#link(1, key, to, handlers as LinkHandlers<never>);
  }

  #open(dir: 0 | 1, key: string, handlers: LinkHandlers<unknown>): void {
    const ends = this.#ends[dir] as Map<string, LinkHandlers<unknown>>;
    if (ends.has(key)) throw new WeirError("invariant_broken", `Channel ${key} was opened twice on ${this.#options.self}`);
    ends.set(key, handlers);
    this.#closed[dir].delete(key);
    const waiting = this.#pending[dir].get(key);
    if (waiting) {
      this.#pending[dir].delete(key);
      for (const m of waiting) handlers.deliver(m);
    }
  }

  #link(dir: 0 | 1, key: string, to: string, end: LinkHandlers<never>): Link<never> {
    let closed = false;
    const localDir = dir === 0 ? 1 : 0;
    return {
      send: (message: DataMessage | CreditMessage) => {
        if (closed) return;
        this.#enqueue(to, encode([dir, key, toWire(message)] satisfies WireMessage, `a message on channel ${key}`), end);
        this.stats.messages++;
        if (message.kind === "item" && isBatch(message.item)) {
          this.stats.batches++;
          this.stats.records += message.item.length;
        }
      },
      close: () => {
        closed = true;
        this.#ends[localDir].delete(key);
        this.#closed[localDir].add(key);
        this.#pending[localDir].delete(key);
      },
    } as Link<never>;
  }

  #enqueue(to: string, message: Uint8Array, end: LinkHandlers<never>): void {
    let box = this.#outboxes.get(to);
    if (!box) this.#outboxes.set(to, (box = { messages: [], ends: new Set(), bytes: 0, inFlight: false, scheduled: false }));
    box.messages.push(message);
    box.bytes += message.byteLength;
    box.ends.add(end);
    // Everything sent in this synchronous step goes in one frame.
    if (!box.inFlight && !box.scheduled) {
      box.scheduled = true;
      queueMicrotask(() => {
        box.scheduled = false;
        void this.#flush(to, box);
      });
    }
  }

  async #flush(to: string, box: Outbox): Promise<void> {
    while (box.messages.length > 0 && !box.inFlight) {
      const frames = this.#frames(box);
      const ends = box.ends;
      box.ends = new Set();
      box.inFlight = true;
      try {
        for (const frame of frames) {
          this.stats.calls++;
          this.stats.bytes += frame.byteLength;
          if (frame.byteLength > this.stats.largestFrameBytes) this.stats.largestFrameBytes = frame.byteLength;
          await this.#options.call(to, frame);
        }
      } catch (e) {
        box.inFlight = false;
        const error = new WeirError("job_failed", `A call from ${this.#options.self} to ${to} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
        for (const end of ends) end.failed(error);
        return;
      }
      box.inFlight = false;
    }
  }

  /** Takes what fits in one frame from the outbox (a too-large message alone, in parts). */
  #frames(box: Outbox): Uint8Array[] {
    const envelope = 64 + this.#options.self.length;
    const first = box.messages[0];
    if (first.byteLength + envelope > this.#frameBytesMax) {
      box.messages.shift();
      box.bytes -= first.byteLength;
      const partBytes = this.#frameBytesMax - envelope - 64;
      const count = Math.ceil(first.byteLength / partBytes);
      const id = this.#partId++;
      const frames: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        frames.push(encode({ from: this.#options.self, epoch: this.#options.epoch?.(), part: { id, index: i, count, bytes: first.subarray(i * partBytes, (i + 1) * partBytes) } } satisfies Frame, "a frame"));
      }
      return frames;
    }
    const taken: Uint8Array[] = [];
    let bytes = envelope;
    while (box.messages.length > 0 && bytes + box.messages[0].byteLength + 8 <= this.#frameBytesMax) {
      const m = box.messages.shift()!;
      bytes += m.byteLength + 8;
      box.bytes -= m.byteLength;
      taken.push(m);
    }
    return [encode({ from: this.#options.self, epoch: this.#options.epoch?.(), messages: taken } satisfies Frame, "a frame")];
  }

  /**
   * A frame from another object's transport: delivers its messages to the local ends, in
   * order, synchronously. Messages for an end that is not open yet wait for it (bounded);
   * those for a closed end are dropped (its attempt is over).
   * @throws {WeirError} `storage_corrupt` for a frame that does not decode; `host_failed` for a
   *   frame of another epoch (see the `epoch` option); `invariant_broken`
   *   when too many messages wait for an end that never opened. The caller answers the call
   *   with the error, which fails the sender's attempt.
   */
  receive(bytes: Uint8Array): void {
    const frame = decode<Frame>(bytes, "a transport frame");
    const epoch = this.#options.epoch?.();
    if (epoch !== undefined && frame.epoch !== epoch) {
      throw new WeirError("host_failed", `A frame from ${frame.from} of epoch ${frame.epoch ?? "(none)"} reached ${this.#options.self}, which runs epoch ${epoch}: the sender runs a job master's earlier incarnation`);
    }
    if (frame.part) {
      const { id, index, count } = frame.part;
      const k = `${frame.from}/${id}`;
      let parts = this.#parts.get(k);
      if (!parts) this.#parts.set(k, (parts = []));
      parts[index] = frame.part.bytes;
      if (parts.filter(Boolean).length < count) return;
      this.#parts.delete(k);
      const whole = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
      let at = 0;
      for (const p of parts) {
        whole.set(p, at);
        at += p.byteLength;
      }
      this.#deliver(whole);
      return;
    }
    for (const m of frame.messages ?? []) this.#deliver(m);
  }

  #deliver(bytes: Uint8Array): void {
    const [dir, key, wire] = decode<WireMessage>(bytes, "a transport message");
    const message = fromWire(wire);
    const end = (this.#ends[dir] as Map<string, LinkHandlers<unknown>>).get(key);
    if (end) return end.deliver(message);
    if (this.#closed[dir].has(key)) return;
    let waiting = this.#pending[dir].get(key);
    if (!waiting) this.#pending[dir].set(key, (waiting = []));
    if (waiting.length >= PENDING_MESSAGES_MAX) {
      throw new WeirError("invariant_broken", `Channel ${key} has ${waiting.length} messages waiting on ${this.#options.self} for an end that never opened`);
    }
    waiting.push(message);
  }
}

/** Batches carry their record timestamps as a property, which CBOR arrays cannot: wrap them. */
function toWire(m: DataMessage | CreditMessage): unknown {
  if (m.kind === "item" && isBatch(m.item)) {
    const ts = (m.item as Batch).timestamps;
    return ts ? { kind: "item", seq: m.seq, batch: m.item, timestamps: ts } : { kind: "item", seq: m.seq, batch: m.item };
  }
  return m;
}

function fromWire(w: unknown): DataMessage | CreditMessage {
  const m = w as { kind: string; seq: number; batch?: unknown[]; timestamps?: number[]; item?: ChannelItem };
  if (m.kind === "item" && m.batch) {
    const batch = m.batch as Batch;
    if (m.timestamps) batch.timestamps = m.timestamps;
    return { kind: "item", seq: m.seq, item: batch };
  }
  return w as DataMessage | CreditMessage;
}
