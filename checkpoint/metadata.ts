/**
 * The metadata file of a checkpoint or savepoint: writing it is the commit point.
 * Operators are listed by uid (not by position) with the files of their subtasks, so a
 * restore can map state onto a changed graph or parallelism.
 * @module
 */
import { decode, encode } from "../codec/cbor.ts";
import { WeirError } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { checksumOf } from "./checksum.ts";

/** One subtask's state file. */
export interface SubtaskFileRef {
  vertexId: string;
  subtaskIndex: number;
  /** Key relative to the checkpoint directory. */
  file: string;
  /** Bytes of the file. */
  stateSize: number;
  /** checksumOf() the file's bytes; absent only in metadata written before weir had checksums. */
  checksum?: string;
  /**
   * Storage keys of the shared files (incremental checkpoints) the state refers to, for the
   * job's SharedStateRegistry (checkpoint/shared_state.ts); absent in metadata of weir
   * before it recorded them.
   */
  shared?: string[];
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
  /** The weir version that wrote it (absent in metadata of weir before it was recorded). */
  weirVersion?: string;
  maxParallelism: number;
  /**
   * Written by a stop-with-savepoint: the job is to end with it. Its sinks commit what it
   * pre-committed after this metadata is written; once every one did, the job writes this
   * `_metadata` again with `sinksCommitted` (a crash before is finished by the same run,
   * from its run marker). A new run restoring it drops those transactions only then, and
   * otherwise commits them (idempotently). Absent in metadata of older versions: treated as
   * false (commit again, idempotently).
   */
  terminal?: boolean;
  /**
   * Written beside `terminal` by a weir that notes its sinks' commits in `sinksCommitted`:
   * only for such metadata does a missing `sinksCommitted` mean the commits may not have
   * happened. Metadata of older versions, without it, keeps their rule: a terminal
   * savepoint restored by another job run is committed.
   */
  commitsMarked?: boolean;
  /**
   * Set when a stop-with-savepoint's job ended `stopped`, every sink having committed the
   * transactions it pre-committed: `_metadata` is written again with it, in place (the
   * savepoint's files stay what they were). Without it a terminal savepoint's transactions
   * may not have been committed (the process may have died between the savepoint and the
   * sinks' commits), and a new run restoring it commits them.
   */
  sinksCommitted?: boolean;
  /** Vertices with the uids chained in them, in chain order. */
  vertices: { id: string; name: string; parallelism: number; uids: string[] }[];
  subtasks: SubtaskFileRef[];
}

export const METADATA_FILE = "_metadata";


/**
 * How `_metadata` is framed since it carries checksums: the encoded metadata as bytes and
 * the checksum of exactly those bytes, so the check never depends on re-encoding.
 */
interface MetadataFrame {
  magic: "weir-checkpoint-metadata";
  checksum: string;
  metadata: Uint8Array;
}

/**
 * The bytes of a `_metadata` file: the metadata (whose state file refs carry their
 * checksums) framed with a checksum of its own.
 *
 * @example
 * ```ts
 * import { encodeMetadata } from "./metadata.ts";
 * const bytes = encodeMetadata({ magic: "weir-checkpoint", jobName: "j", jobId: "0".repeat(32), checkpointId: 1,
 *   type: "CHECKPOINT", unaligned: false, triggerTimestamp: 0, completedTimestamp: 0, maxParallelism: 128,
 *   vertices: [], subtasks: [] });
 * console.assert(bytes.length > 0);
 * ```
 */
export function encodeMetadata(m: CheckpointMetadata): Uint8Array {
  const metadata = encode(m);
  const frame: MetadataFrame = { magic: "weir-checkpoint-metadata", checksum: checksumOf(metadata), metadata };
  return encode(frame);
}

/** A metadata file as read: `checksummed` is false for files written before weir had checksums. */
export interface MetadataRead {
  metadata: CheckpointMetadata;
  checksummed: boolean;
}

/**
 * Reads and checks a metadata file, its checksum included; names the file in every error.
 * Metadata from before checksums (an unframed `weir-checkpoint`) is accepted with
 * `checksummed: false`, so savepoints of older versions stay restorable; the caller warns.
 *
 * @throws {WeirError} `checkpoint_not_found` without the file; `checkpoint_corrupt` when
 * it is not weir metadata or does not match its checksum; `storage_corrupt` when it does
 * not decode.
 */
export async function readMetadataChecked(storage: StorageAdapter, dir: string): Promise<MetadataRead> {
  const key = joinKey(dir, METADATA_FILE);
  const bytes = await storage.get(key);
  if (!bytes) {
    throw new WeirError(
      "checkpoint_not_found",
      `No ${METADATA_FILE} in ${storage.description}${dir ? `/${dir}` : ""}, so no savepoint or checkpoint there (is the path right, and did the savepoint complete?)`,
    );
  }
  return decodeMetadata(bytes, key, storage.description);
}

/**
 * Decodes and checks the bytes of a metadata file (see readMetadataChecked); `key` and
 * `home` name the file in errors.
 *
 * @throws {WeirError} `checkpoint_corrupt` or `storage_corrupt`.
 * @example
 * ```ts
 * import { decodeMetadata, encodeMetadata } from "./metadata.ts";
 * const m = { magic: "weir-checkpoint" as const, jobName: "j", jobId: "0".repeat(32), checkpointId: 3,
 *   type: "CHECKPOINT" as const, unaligned: false, triggerTimestamp: 0, completedTimestamp: 0, maxParallelism: 128,
 *   vertices: [], subtasks: [] };
 * console.assert(decodeMetadata(encodeMetadata(m), "_metadata").metadata.checkpointId === 3);
 * ```
 */
export function decodeMetadata(bytes: Uint8Array, key: string, home?: string): MetadataRead {
  const where = `Checkpoint metadata ${key}${home ? ` in ${home}` : ""}`;
  const outer = decodeNamed<MetadataFrame | CheckpointMetadata>(bytes, where);
  let m: CheckpointMetadata = outer as CheckpointMetadata;
  let checksummed = false;
  if (outer !== null && typeof outer === "object" && outer.magic === "weir-checkpoint-metadata") {
    const frame = outer as MetadataFrame;
    if (!(frame.metadata instanceof Uint8Array) || typeof frame.checksum !== "string") throw new WeirError("checkpoint_corrupt", `${where} is not a weir checkpoint`);
    const actual = checksumOf(frame.metadata);
    if (actual !== frame.checksum) {
      throw new WeirError("checkpoint_corrupt", `${where} does not match its checksum (recorded ${frame.checksum}, found ${actual}): it changed after it was written`);
    }
    m = decodeNamed<CheckpointMetadata>(frame.metadata, where);
    checksummed = true;
  }
  if (m === null || typeof m !== "object" || m.magic !== "weir-checkpoint" || !Array.isArray(m.subtasks) || !Array.isArray(m.vertices)) {
    throw new WeirError("checkpoint_corrupt", `${where} is not a weir checkpoint`);
  }
  if (checksummed) {
    const bad = m.subtasks.find((s) => typeof s?.checksum !== "string" || typeof s.stateSize !== "number");
    if (bad) throw new WeirError("checkpoint_corrupt", `${where} has no checksum or size for state file ${JSON.stringify(bad?.file)}`);
  }
  return { metadata: m, checksummed };
}

/** Decodes, turning bytes that are no CBOR at all (a truncated file) into `checkpoint_corrupt` naming the file. */
function decodeNamed<T>(bytes: Uint8Array, where: string): T {
  try {
    return decode<T>(bytes, where);
  } catch (e) {
    if (e instanceof WeirError && e.code === "storage_corrupt") {
      throw new WeirError("checkpoint_corrupt", `${where} cannot be decoded (truncated or not a weir checkpoint): ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/** Reads and checks a metadata file (see readMetadataChecked); names the file in every error. */
export async function readMetadata(storage: StorageAdapter, dir: string): Promise<CheckpointMetadata> {
  return (await readMetadataChecked(storage, dir)).metadata;
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

/**
 * The directory path a checkpoint location names, as a user passes it: an `external_path`
 * ("file:/…", naming its storage), a directory or its `_metadata` file.
 *
 * @example
 * ```ts
 * import { checkpointPathOf } from "./metadata.ts";
 * console.assert(checkpointPathOf("file:/data/j/ab/chk-7") === "/data/j/ab/chk-7");
 * console.assert(checkpointPathOf("./sp/_metadata") === "./sp");
 * ```
 */
export function checkpointPathOf(location: string): string {
  return checkpointDirOf(location.startsWith("file:") ? location.slice(5) : location);
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
 * The highest checkpoint id a job run ever used, complete or not: in its checkpoint
 * directories and in the names of its shared state files (which start with the id they
 * were written for). A run resumed after a crash continues above it, so that no new
 * checkpoint writes into a half-written directory of the crashed run (whose sink
 * transactions may bear the same id), and no shared file of the crashed run bears the id
 * of a checkpoint that completes later (the shared state sweep deletes by id).
 */
export async function highestCheckpointId(storage: StorageAdapter, jobName: string, jobId: string): Promise<number> {
  const prefix = `${jobName}/${jobId}/chk-`;
  let max = 0;
  for (const key of await storage.list(prefix)) {
    const m = /^(\d+)\//.exec(key.slice(prefix.length));
    if (m) max = Math.max(max, Number(m[1]));
  }
  for (const key of await storage.list(`${jobName}/${jobId}/shared/`)) {
    const m = /^(\d+)-/.exec(key.slice(key.lastIndexOf("/") + 1));
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max;
}
