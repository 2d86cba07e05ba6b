/**
 * What travels between actors. Data moves as batches (plain arrays of records); events
 * (barriers, end of partition) are small objects that travel in-band in the same queue,
 * or, for unaligned barriers, on the receiver's priority lane.
 * @module
 */
import { WeirError } from "../errors.ts";

/**
 * A batch of records; never empty, never mutated after it was sent. In a job that uses
 * event time, `timestamps` holds each record's timestamp (ms; NaN for a record without
 * one), parallel to the records: one array per batch instead of an envelope per record,
 * so that a job without event time pays nothing (Flink's `StreamRecord.timestamp`).
 * A batch a source reader returns may carry `split`, the id of the one source split its
 * records come from (see SourceReader.splits): one tag per batch, not per record, read by
 * the watermark assigner chained to the source and dropped after it.
 */
export type Batch = unknown[] & { timestamps?: number[]; split?: string };

/** What kind of snapshot a barrier asks for. */
export type CheckpointType = "CHECKPOINT" | "SAVEPOINT";

/** Checkpoint barrier n, as triggered by the coordinator. */
export interface Barrier {
  readonly kind: "barrier";
  readonly checkpointId: number;
  /** Trigger time on the coordinator's clock; alignment timeouts count from here. */
  readonly timestamp: number;
  readonly type: CheckpointType;
  /** Exactly-once with alignment, or at-least-once (barriers only counted). */
  readonly exactlyOnce: boolean;
  /** Sent on the priority lane, overtaking data. */
  readonly unaligned: boolean;
  /** Aligned-with-timeout: 0 = never switch to unaligned. */
  readonly alignedTimeoutMs: number;
  /** Stop-with-savepoint: sources emit nothing after this barrier. */
  readonly terminate?: boolean;
}

/** The last event on a channel: the sender's input ended and it emits nothing more. */
export interface EndOfPartition {
  readonly kind: "eop";
}

/**
 * Event time reached `timestamp` (ms) on this channel: no record with a smaller timestamp
 * should follow (Flink's `Watermark`). In-band, after the records it follows.
 */
export interface Watermark {
  readonly kind: "watermark";
  readonly timestamp: number;
}

/**
 * The sender became idle (emits no records or watermarks for a while) or active again
 * (Flink's `WatermarkStatus`): an idle channel does not hold back the receiver's watermark.
 */
export interface WatermarkStatus {
  readonly kind: "watermarkStatus";
  readonly idle: boolean;
}

/** An element of a channel queue. */
export type ChannelItem = Batch | Barrier | EndOfPartition | Watermark | WatermarkStatus;

/**
 * What channel state holds, in queue order: data and the event-time events between it
 * (an unaligned checkpoint must not reorder records and watermarks).
 */
export type ChannelStateItem = Batch | Watermark | WatermarkStatus;

/**
 * Records start..end of a batch with their timestamps, if it has any.
 *
 * @example
 * ```ts
 * import { type Batch, sliceBatch } from "./messages.ts";
 * const b: Batch = Object.assign(["a", "b", "c"], { timestamps: [1, 2, 3] });
 * console.assert(sliceBatch(b, 1).timestamps?.join() === "2,3");
 * ```
 */
export function sliceBatch(batch: Batch, start: number, end?: number): Batch {
  const out: Batch = batch.slice(start, end);
  if (batch.timestamps !== undefined) out.timestamps = batch.timestamps.slice(start, end);
  return out;
}

/**
 * Gives `values` the record timestamps `timestamps` (parallel to it), or none.
 *
 * @example
 * ```ts
 * import { withTimestamps } from "./messages.ts";
 * console.assert(withTimestamps([7], [1000]).timestamps?.[0] === 1000);
 * ```
 */
export function withTimestamps(values: unknown[], timestamps: number[] | undefined): Batch {
  if (timestamps !== undefined) (values as Batch).timestamps = timestamps;
  return values;
}

export function isBatch(item: ChannelItem): item is Batch {
  return Array.isArray(item);
}

/** An event: every channel item that is not a batch. */
export type ChannelEvent = Exclude<ChannelItem, Batch>;

/**
 * The default branch of a `switch` over event kinds: TypeScript refuses to compile while a
 * kind is unhandled (`event` is then not `never`), and at run time an unknown kind fails
 * loudly instead of falling into another kind's handling (a watermark taken for the end of
 * a partition would end the input silently).
 *
 * @example
 * ```ts
 * import { type ChannelEvent, unknownEvent } from "./messages.ts";
 * function describe(e: ChannelEvent): string {
 *   switch (e.kind) {
 *     case "barrier": return `barrier ${e.checkpointId}`;
 *     case "eop": return "end of partition";
 *     case "watermark": return `watermark ${e.timestamp}`;
 *     case "watermarkStatus": return e.idle ? "idle" : "active";
 *     default: return unknownEvent(e);
 *   }
 * }
 * console.assert(describe({ kind: "eop" }) === "end of partition");
 * ```
 * @throws {WeirError} `invariant_broken` always.
 */
export function unknownEvent(event: never): never {
  throw new WeirError("invariant_broken", `Unknown channel event kind ${JSON.stringify((event as { kind?: unknown })?.kind)}`);
}
