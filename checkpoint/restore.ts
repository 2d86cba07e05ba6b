/**
 * Loads a completed checkpoint and cuts it into what each new subtask restores: operator
 * state by uid (keyed state by key group range, operator lists dealt round-robin).
 * Channel state is routed by channel_state_restore.ts.
 * @module
 */
import { decode } from "../codec/cbor.ts";
import { WeirError } from "../errors.ts";
import type { OperatorSnapshot, RestoredState } from "../dataflow/operator.ts";
import type { KeyGroupRange } from "../state/key_group.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { type CheckpointMetadata, joinKey, readMetadata } from "./metadata.ts";
import type { SubtaskStateFile } from "./pending_snapshot.ts";

/** A checkpoint read back from storage. */
export interface LoadedCheckpoint {
  metadata: CheckpointMetadata;
  /** Where it was read from (directory key or path). */
  location: string;
  files: SubtaskStateFile[];
  /**
   * Its sink transactions are known committed (a stop-with-savepoint restored by a new job
   * run; see RestoredState.transactionsCommitted). The job master decides: it knows the run.
   */
  transactionsCommitted: boolean;
}

/** What one new subtask restores (its in-flight records come from routeChannelState). */
export interface SubtaskRestore {
  operators: Map<string, RestoredState>;
}

/** Reads metadata and every state file it names; a missing or corrupt file is an error naming it. */
export async function loadCheckpoint(storage: StorageAdapter, dir: string): Promise<LoadedCheckpoint> {
  const metadata = await readMetadata(storage, dir);
  const files: SubtaskStateFile[] = [];
  for (const ref of metadata.subtasks) {
    const key = joinKey(dir, ref.file);
    const bytes = await storage.get(key);
    if (!bytes) {
      throw new WeirError("checkpoint_corrupt", `Checkpoint ${metadata.checkpointId} is missing state file ${key} in ${storage.description}`);
    }
    const file = decode<SubtaskStateFile>(bytes, `state file ${key}`);
    if (!file || typeof file !== "object" || file.checkpointId !== metadata.checkpointId || typeof file.operators !== "object") {
      throw new WeirError("checkpoint_corrupt", `State file ${key} does not belong to checkpoint ${metadata.checkpointId}`);
    }
    files.push(file);
  }
  return { metadata, location: dir, files, transactionsCommitted: false };
}

/** Restores operator state of one uid for one new subtask. */
function operatorState(
  loaded: LoadedCheckpoint,
  uid: string,
  newIndex: number,
  newParallelism: number,
  range: KeyGroupRange,
): RestoredState | undefined {
  const holders = loaded.files.filter((f) => uid in f.operators);
  if (holders.length === 0) return undefined;
  holders.sort((a, b) => a.subtaskIndex - b.subtaskIndex);
  const oldParallelism = holders.length;
  const keyed: RestoredState["keyed"] = [];
  const operator: unknown[] = [];
  let dealt = 0;
  for (const f of holders) {
    const snap = decode<OperatorSnapshot>(f.operators[uid], `state of operator "${uid}"`);
    if (snap.keyed && f.keyGroupRange.end >= range.start && f.keyGroupRange.start <= range.end) keyed.push(snap.keyed);
    if (oldParallelism === newParallelism) {
      if (f.subtaskIndex === newIndex && snap.operator) operator.push(...snap.operator);
    } else {
      for (const e of snap.operator ?? []) if (dealt++ % newParallelism === newIndex) operator.push(e);
    }
  }
  return { keyed, operator, checkpointId: loaded.metadata.checkpointId, transactionsCommitted: loaded.transactionsCommitted };
}

/** What one new subtask of a vertex restores. */
export function stateForSubtask(
  loaded: LoadedCheckpoint,
  vertex: { id: string; uids: string[]; parallelism: number },
  index: number,
  range: KeyGroupRange,
): SubtaskRestore {
  const operators = new Map<string, RestoredState>();
  for (const uid of vertex.uids) {
    const s = operatorState(loaded, uid, index, vertex.parallelism, range);
    if (s) operators.set(uid, s);
  }
  return { operators };
}

/** Refuses a restore that would lose state: unknown uids, or channel state on a changed graph. */
export function checkCompatible(
  loaded: LoadedCheckpoint,
  vertices: { id: string; uids: string[]; parallelism: number }[],
  allowNonRestoredState: boolean,
  maxParallelism: number,
): void {
  // Keyed state is filed by key group; another maxParallelism files the same key elsewhere.
  if (loaded.metadata.maxParallelism !== maxParallelism) {
    throw new WeirError(
      "incompatible_restore",
      `Checkpoint ${loaded.metadata.checkpointId} was taken with maxParallelism ${loaded.metadata.maxParallelism}; the job has maxParallelism ${maxParallelism}, and keyed state cannot move between them`,
    );
  }
  const known = new Set(vertices.flatMap((v) => v.uids));
  if (!allowNonRestoredState) {
    for (const v of loaded.metadata.vertices) {
      for (const uid of v.uids) {
        if (!known.has(uid)) {
          throw new WeirError(
            "state_not_restored",
            `Checkpoint ${loaded.metadata.checkpointId} has state for operator uid "${uid}" that the job does not contain (set allowNonRestoredState to skip it)`,
          );
        }
      }
    }
  }
  const hasChannelState = loaded.files.some((f) => f.inputChannels.length > 0 || f.outputChannels.length > 0);
  if (!hasChannelState) return;
  // Another parallelism is fine (channel_state_restore.ts routes the records); another graph is not.
  for (const old of loaded.metadata.vertices) {
    const now = vertices.find((v) => v.id === old.id);
    if (!now || now.uids.join(",") !== old.uids.join(",")) {
      throw new WeirError(
        "incompatible_restore",
        `Checkpoint ${loaded.metadata.checkpointId} holds in-flight channel state (unaligned) and cannot be restored onto a changed graph (vertex ${old.id}); take a savepoint instead`,
      );
    }
  }
}
