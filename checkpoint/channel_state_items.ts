/**
 * How one channel-state item is stored: a batch without timestamps as before (an encoded
 * record array, so older checkpoints read the same), a timestamped batch with its
 * timestamps, and a watermark event as itself. One item per entry keeps the order of
 * records and watermarks that an unaligned checkpoint overtook.
 * @module
 */
import { type ChannelStateItem, isBatch, withTimestamps } from "../actors/messages.ts";
import { decode, encode, encodeRecords } from "../codec/cbor.ts";
import { WeirError } from "../errors.ts";

interface TimedBatchEntry {
  kind: "timed";
  records: unknown[];
  timestamps: number[];
}

/**
 * Encodes a channel-state item.
 *
 * @example
 * ```ts
 * import { decodeChannelItem, encodeChannelItem } from "./channel_state_items.ts";
 * const back = decodeChannelItem(encodeChannelItem({ kind: "watermark", timestamp: 5 }));
 * console.assert(!Array.isArray(back) && back.kind === "watermark");
 * ```
 * @throws {WeirError} `value_not_persistable` naming a record's type that would not
 */
export function encodeChannelItem(item: ChannelStateItem): Uint8Array {
  if (!isBatch(item)) return encode(item, "a watermark event");
  if (item.timestamps === undefined) return encodeRecords(item);
  const entry: TimedBatchEntry = { kind: "timed", records: [...item], timestamps: item.timestamps };
  return encode(entry, "an in-flight record");
}

/**
 * Decodes what encodeChannelItem() wrote (or a plain record batch of an older checkpoint).
 * @throws {WeirError} `storage_corrupt` when the bytes hold none of these
 */
export function decodeChannelItem(bytes: Uint8Array, what = "channel state"): ChannelStateItem {
  const v = decode<unknown>(bytes, what);
  if (Array.isArray(v)) return v;
  const o = v as { kind?: unknown } | null;
  switch (o?.kind) {
    case "timed": {
      const t = o as TimedBatchEntry;
      return withTimestamps(t.records, t.timestamps);
    }
    case "watermark":
    case "watermarkStatus":
      return o as ChannelStateItem;
    default:
      throw new WeirError("storage_corrupt", `Cannot decode ${what}: not a record batch or watermark event (kind ${JSON.stringify(o?.kind)})`);
  }
}
