/**
 * The control plane between the job master and a remote host (a worker thread, another
 * process, a Durable Object): what the master asks a host to do, and what the host's
 * subtasks report back. Everything here is plain data that `codec/cbor.ts` encodes, so a
 * message crosses postMessage, an RPC or HTTP as bytes (control_wire.ts).
 *
 * Flink's counterparts: `TaskExecutorGateway` (submitTask, triggerCheckpoint,
 * confirmCheckpoint, abortCheckpoint, cancelTask) and `JobMasterGateway`
 * (acknowledgeCheckpoint, declineCheckpoint, updateTaskExecutionState).
 * /work/wt/_notes/remote_contract.md has the protocol as a table.
 * @module
 */
import type { Barrier } from "../../actors/messages.ts";
import type { SubtaskAddress } from "../../actors/transport.ts";
import type { CheckpointFailureReason } from "../../checkpoint/failure_reason.ts";
import type { CheckpointHome } from "../../checkpoint/restore.ts";
import type { PlainTuning } from "../subtask_builder.ts";
import type { SubtaskAck } from "../subtask_host.ts";
import type { SubtaskMetrics } from "../subtask_metrics.ts";

/**
 * Where a checkpoint's state files go: `"job"` — the host writes them into the job's
 * storage itself; `{ directory, dir }` — the host opens the directory path (a savepoint's
 * target directory) and writes them under `dir` there itself; `"master"` — the host sends
 * the bytes to the master (`writeState`), which writes them where only it can (a savepoint
 * into storage given in code, or a host that cannot open the directory).
 */
export type StateTarget = "job" | "master" | { directory: string; dir: string };

/** What a host checks its own graph against before it builds anything. */
export interface GraphFingerprint {
  maxParallelism: number;
  vertices: { id: string; parallelism: number; uids: string[] }[];
}

/** One subtask a host is to run. */
export interface DeployedSubtask {
  vertexId: string;
  subtaskIndex: number;
}

/**
 * What a deploy restores: where the checkpoint lives, not its state. The host reads the
 * metadata and the state files of its own subtasks there and cuts them itself
 * (checkpoint/restore_selection.ts, restore.ts, channel_state_restore.ts), so a deploy
 * stays a few hundred bytes whatever the state's size (a Durable Object RPC carries at
 * most 32 MiB).
 */
export interface DeployedRestore {
  home: CheckpointHome;
  checkpointId: number;
  /** Its sink transactions are known committed (LoadedCheckpoint.transactionsCommitted). */
  transactionsCommitted: boolean;
}

/** Master → host. Every message names the execution attempt; a host ignores other attempts'. */
export type ToHost =
  | {
    kind: "deploy";
    attempt: number;
    jobId: string;
    jobName: string;
    graph: GraphFingerprint;
    subtasks: DeployedSubtask[];
    tuning: PlainTuning;
    /** The checkpoint restored from (0: a fresh start). */
    restoredCheckpointId: number;
    /** The `description` of the master's job storage, for a host that must write to the same one. */
    storage?: string;
    /** Where the restored checkpoint is (absent: a fresh start). */
    restore?: DeployedRestore;
    /** How often the host reports its subtasks' figures, in ms of its clock (default 1000). */
    metricsIntervalMs?: number;
  }
  | { kind: "start"; attempt: number }
  | { kind: "triggerCheckpoint"; attempt: number; barrier: Barrier; target: StateTarget }
  | { kind: "snapshotAll"; attempt: number; barrier: Barrier; target: StateTarget }
  | { kind: "notifyCheckpointComplete"; attempt: number; checkpointId: number; final: boolean }
  | { kind: "notifyCheckpointAborted"; attempt: number; checkpointId: number; reason: CheckpointFailureReason }
  | { kind: "endInput"; attempt: number }
  | { kind: "resumeSources"; attempt: number }
  | { kind: "stateWritten"; attempt: number; requestId: number; key: string }
  | { kind: "stateWriteFailed"; attempt: number; requestId: number; message: string }
  | { kind: "cancel"; attempt: number };

/** A remote subtask's live figures, as its host last read them. */
export interface RemoteSubtaskMetrics extends SubtaskMetrics {
  vertexId: string;
}

/** An error as it crosses the wire: enough to fail the attempt with a message naming the cause. */
export interface WireError {
  name: string;
  message: string;
  /** A WeirError's code. */
  code?: string;
}

/** Host → master. */
export type ToMaster =
  | { kind: "deployed"; attempt: number; hostId: string }
  | { kind: "acknowledge"; attempt: number; ack: SubtaskAck }
  | { kind: "decline"; attempt: number; checkpointId: number; reason: CheckpointFailureReason; message: string }
  | { kind: "failed"; attempt: number; subtaskName: string; error: WireError }
  | { kind: "sourceFinished"; attempt: number; subtask: SubtaskAddress }
  | { kind: "inputEnded"; attempt: number; subtask: SubtaskAddress }
  | { kind: "finalCommitted"; attempt: number; subtask: SubtaskAddress }
  | { kind: "metrics"; attempt: number; subtasks: RemoteSubtaskMetrics[] }
  | { kind: "writeState"; attempt: number; requestId: number; vertexId: string; subtaskIndex: number; checkpointId: number; bytes: Uint8Array };

/**
 * An error as plain data.
 *
 * @example
 * ```ts
 * import { toWireError } from "./messages.ts";
 * console.assert(toWireError(new TypeError("bad")).name === "TypeError");
 * ```
 */
export function toWireError(e: unknown): WireError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === "string" ? { name: e.name, message: e.message, code } : { name: e.name, message: e.message };
  }
  return { name: "Error", message: String(e) };
}
