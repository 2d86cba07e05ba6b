/**
 * The metadata file of a checkpoint or savepoint: writing it is the commit point.
 * Operators are listed by uid (not by position) with the files of their subtasks, so a
 * restore can map state onto a changed graph or parallelism.
 * @module
 */
import { decode, encode } from "../codec/cbor.ts";
import { WeirError } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";

/** One subtask's state file. */
export interface SubtaskFileRef {
  vertexId: string;
  subtaskIndex: number;
  /** Key relative to the checkpoint directory. */
  file: string;
  stateSize: number;
}

export interface CheckpointMetadata {
  magic: "weir-checkpoint";
  jobName: string;
  jobId: string;
  checkpointId: number;
  type: "CHECKPOINT" | "SAVEPOINT";
  unaligned: boolean;
  triggerTimestamp: number;
  completedTimestamp: number;
  maxParallelism: number;
  /**
   * Written by a stop-with-savepoint: the job ended with it and its sinks committed what it
   * pre-committed (a crash before they did is finished by the same run, from its run
   * marker). A new run restoring it must not commit those transactions again. Absent in
   * metadata of older versions: treated as false (commit again, idempotently).
   */
  terminal?: boolean;
  /** Vertices with the uids chained in them, in chain order. */
  vertices: { id: string; name: string; parallelism: number; uids: string[] }[];
  subtasks: SubtaskFileRef[];
}

export const METADATA_FILE = "_metadata";

export function encodeMetadata(m: CheckpointMetadata): Uint8Array {
  return encode(m);
}

/** Reads and checks a metadata file; names the file in every error. */
export async function readMetadata(storage: StorageAdapter, dir: string): Promise<CheckpointMetadata> {
  const key = joinKey(dir, METADATA_FILE);
  const bytes = await storage.get(key);
  if (!bytes) throw new WeirError("checkpoint_not_found", `No checkpoint metadata at ${key} in ${storage.description}`);
  const m = decode<CheckpointMetadata>(bytes, `checkpoint metadata ${key}`);
  if (m === null || typeof m !== "object" || m.magic !== "weir-checkpoint" || !Array.isArray(m.subtasks) || !Array.isArray(m.vertices)) {
    throw new WeirError("checkpoint_corrupt", `Checkpoint metadata ${key} in ${storage.description} is not a weir checkpoint`);
  }
  return m;
}

/**
 * The checkpoint directory a restore path names: the directory itself, or its
 * `_metadata` file (Flink accepts either for `-s`/`execution.savepoint.path`). Works on
 * paths and storage keys alike; a trailing separator is ignored; "" is the storage root.
 *
 * @example
 * ```ts
 * import { checkpointDirOf } from "./metadata.ts";
 * console.assert(checkpointDirOf("/sp/savepoint-1/_metadata") === "/sp/savepoint-1");
 * console.assert(checkpointDirOf("/sp/savepoint-1/") === "/sp/savepoint-1");
 * console.assert(checkpointDirOf("_metadata") === "");
 * ```
 */
export function checkpointDirOf(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/[\\/]+$/, "") : path;
  const m = /(^|[\\/])_metadata$/.exec(trimmed);
  if (!m) return trimmed;
  const dir = trimmed.slice(0, m.index);
  // "/_metadata" names the file system root, not the storage root.
  return dir === "" && m[1] !== "" ? m[1] : dir;
}

/** A key inside a checkpoint directory; "" is the storage root (a savepoint opened at its path). */
export function joinKey(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

/** Directory of checkpoint n of a job run. */
export function checkpointDir(jobName: string, jobId: string, id: number): string {
  return `${jobName}/${jobId}/chk-${id}`;
}

/** The ids of completed checkpoints of a job run (those with metadata), ascending. */
export async function listCompleted(storage: StorageAdapter, jobName: string, jobId: string): Promise<number[]> {
  const prefix = `${jobName}/${jobId}/chk-`;
  const ids: number[] = [];
  for (const key of await storage.list(prefix)) {
    const m = /^chk-(\d+)\/_metadata$/.exec(key.slice(prefix.length - 4));
    if (m) ids.push(Number(m[1]));
  }
  return ids.sort((a, b) => a - b);
}

/**
 * The highest checkpoint id a job run ever used, complete or not. A run resumed after a
 * crash continues above it, so that no new checkpoint writes into a half-written
 * directory of the crashed run (whose sink transactions may bear the same id).
 */
export async function highestCheckpointId(storage: StorageAdapter, jobName: string, jobId: string): Promise<number> {
  const prefix = `${jobName}/${jobId}/chk-`;
  let max = 0;
  for (const key of await storage.list(prefix)) {
    const m = /^(\d+)\//.exec(key.slice(prefix.length));
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max;
}
