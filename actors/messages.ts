/**
 * What travels between actors. Data moves as batches (plain arrays of records); events
 * (barriers, end of partition) are small objects that travel in-band in the same queue,
 * or, for unaligned barriers, on the receiver's priority lane.
 * @module
 */
import { WeirError } from "../errors.ts";

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
