/**
 * Channel messages as bytes, for transports that cross a thread, process or Durable
 * Object boundary. Records go through `codec/cbor.ts` (registered classes come back as
 * their class), and a batch's record timestamps travel beside it (a plain CBOR array
 * would drop them).
 * @module
 */
import { decode, encode } from "../codec/cbor.ts";
import { WeirError } from "../errors.ts";
import { type Barrier, type ChannelEvent, withTimestamps } from "./messages.ts";
import type { CreditMessage, DataMessage } from "./transport.ts";

/** A message of either direction. */
export type ChannelMessage = DataMessage | CreditMessage;

/** The encoded shapes: short keys, since every batch pays for them. */
type WireForm =
  | { k: "b"; s: number; r: unknown[]; t?: number[] }
  | { k: "e"; s: number; e: ChannelEvent }
  | { k: "p"; b: Barrier; o: number }
  | { k: "c"; n: number };

/**
 * Encodes a channel message.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage } from "./wire.ts";
 * const back = decodeMessage(encodeMessage({ kind: "item", seq: 3, item: Object.assign([1, 2], { timestamps: [10, 20] }) }));
 * console.assert(back.kind === "item" && back.seq === 3);
 * ```
 * @throws {WeirError} `value_not_persistable` when a record would not read back as itself
 *   (an unregistered class instance, a function); the message names it.
 */
export function encodeMessage(m: ChannelMessage): Uint8Array {
  let w: WireForm;
  switch (m.kind) {
    case "item": {
      const item = m.item;
      if (Array.isArray(item)) {
        w = item.timestamps === undefined ? { k: "b", s: m.seq, r: item } : { k: "b", s: m.seq, r: [...item], t: item.timestamps };
      } else {
        w = { k: "e", s: m.seq, e: item };
      }
      break;
    }
    case "priority":
      w = { k: "p", b: m.barrier, o: m.overtakes };
      break;
    case "credit":
      w = { k: "c", n: m.batches };
      break;
    default:
      throw new WeirError("invariant_broken", `Unknown channel message kind ${JSON.stringify((m as { kind?: unknown }).kind)}`);
  }
  return encode(w, "an in-flight record");
}

/**
 * Decodes what encodeMessage() wrote.
 * @throws {WeirError} `transport_failed` when the bytes are not a channel message.
 */
export function decodeMessage(bytes: Uint8Array): ChannelMessage {
  let w: WireForm;
  try {
    w = decode<WireForm>(bytes, "a channel message");
  } catch (e) {
    throw new WeirError("transport_failed", `A channel message of ${bytes.length} bytes does not decode: ${(e as Error).message}`, { cause: e });
  }
  switch (w?.k) {
    case "b":
      return { kind: "item", seq: w.s, item: withTimestamps(w.r, w.t) };
    case "e":
      return { kind: "item", seq: w.s, item: w.e };
    case "p":
      return { kind: "priority", barrier: w.b, overtakes: w.o };
    case "c":
      return { kind: "credit", batches: w.n };
    default:
      throw new WeirError("transport_failed", `A channel message of ${bytes.length} bytes has unknown kind ${JSON.stringify((w as { k?: unknown })?.k)}`);
  }
}
