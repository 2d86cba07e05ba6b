/**
 * The messages of a subtask's priority lane: checkpoint control from the job (trigger,
 * complete, abort), priority barriers from input channels, and the subtask's own timers.
 * They are always served before data (Flink's mailbox control actions).
 * @module
 */
import type { Barrier } from "../actors/messages.ts";
import type { CheckpointFailureReason } from "../checkpoint/failure_reason.ts";
import { WeirError } from "../errors.ts";

/** Control messages: always served before data. */
export type PriorityMessage =
  | { kind: "trigger"; barrier: Barrier }
  /** `overtakes`: the sequence number below which the channel's queued items are the barrier's in-flight data. */
  | { kind: "barrier"; barrier: Barrier; channel: number; overtakes: number }
  | { kind: "complete"; checkpointId: number; final: boolean }
  | { kind: "abort"; checkpointId: number; reason: CheckpointFailureReason }
  | { kind: "alignmentTimeout"; checkpointId: number }
  | { kind: "outputTimeout"; checkpointId: number }
  | { kind: "endInput" }
  | { kind: "finalSnapshot"; barrier: Barrier }
  | { kind: "resume" }
  /** Processing time reached an operator's timer (or an assigner's periodic emit). */
  | { kind: "processingTime" }
  /** A record waited its buffer timeout in a partly filled output batch: the step's end sends it. */
  | { kind: "flushOutput" };

/**
 * The default branch of the priority-lane switch: a message kind nobody handles fails
 * loudly instead of falling through into another's handling.
 * @throws {WeirError} `invariant_broken`, always.
 *
 * @example
 * ```ts
 * import { unknownPriorityMessage } from "./priority_message.ts";
 * let code = "";
 * try {
 *   unknownPriorityMessage({ kind: "retired" } as never);
 * } catch (e) {
 *   code = (e as { code: string }).code;
 * }
 * console.assert(code === "invariant_broken");
 * ```
 */
export function unknownPriorityMessage(m: never): never {
  throw new WeirError("invariant_broken", `Unknown priority message kind ${JSON.stringify((m as { kind?: unknown })?.kind)}`);
}
