import type { Partitioning } from "../actors/output_gate.ts";
import type { Sink, Source, StreamOperator } from "./operator.ts";

/** How a transformation reads its input. */
export type InputPartitioning = "forward" | "rebalance" | "broadcast" | { keySelector: (value: unknown) => unknown };

/** One node of the logical graph the user builds. */
export interface Transformation {
  id: number;
  uid: string;
  name: string;
  /** Operator kind for generated uids and names ("map", "reduce", …). */
  kind: string;
  parallelism: number | undefined;
  source?: Source;
  sink?: Sink;
  /** Creates a fresh operator instance per subtask. */
  createOperator?: () => StreamOperator;
  input?: { id: number; partitioning: InputPartitioning | undefined };
  /**
   * A union (kind "union") has no operator and no vertex of its own: its consumers read
   * from each of these inputs (Flink's virtual union node).
   */
  unionOf?: { id: number; partitioning: InputPartitioning | undefined }[];
  /**
   * The user's code of the operator (its functions' source text; a source's or sink's
   * class), part of a generated uid (see uid_hash.ts).
   */
  code?: string;
  /** Set when the user gave the uid (generated uids change with the graph). */
  uidGiven: boolean;
  /** Keeps this operator out of its predecessor's chain. */
  disableChaining: boolean;
  /** The buffer timeout of this operator's output edges (ms, 0 or -1); the environment's when unset. */
  bufferTimeout?: number;
  /** Names of side outputs someone consumes (getSideOutput); see side_output.ts. */
  sideOutputs?: Set<string>;
  /** The record type its producer declared (`stream.returns(name)`, a source's `recordType`), checked by union. */
  declaredType?: string;
}

/** Options every operator accepts. */
export interface OperatorOptions {
  /** Stable id for state: savepoints map state to operators by uid. */
  uid?: string;
  /** Display name. */
  name?: string;
  parallelism?: number;
  /** Start a new chain here (own subtask actor). */
  disableChaining?: boolean;
  /**
   * This operator's buffer timeout, overriding the environment's `bufferTimeout` for the
   * records it sends to the next vertex (Flink's `DataStream#setBufferTimeout`): ms a record
   * may wait in a partly filled batch, 0 after every step, -1 only when full.
   */
  bufferTimeout?: number;
}

export type { Partitioning };
