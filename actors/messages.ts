/**
 * What travels between actors. Data moves as batches (plain arrays of records); events
 * (barriers, end of partition) are small objects that travel in-band in the same queue,
 * or, for unaligned barriers, on the receiver's priority lane.
 * @module
 */

/** A batch of records; never empty, never mutated after it was sent. */
export type Batch = unknown[];

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

/** An element of a channel queue. */
export type ChannelItem = Batch | Barrier | EndOfPartition;

export function isBatch(item: ChannelItem): item is Batch {
  return Array.isArray(item);
}
