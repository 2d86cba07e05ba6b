/**
 * Loads a completed checkpoint and cuts it into what each new subtask restores: operator
 * state by uid (keyed state by key group range, operator lists dealt round-robin, union
 * list entries to every new subtask).
 * Channel state is routed by channel_state_restore.ts.
 * @module
 */
import { looksGenerated } from "../dataflow/uid_hash.ts";
import { decode } from "../codec/cbor.ts";
import { WeirError } from "../errors.ts";
import type { RestoredState } from "../dataflow/operator.ts";
import { BroadcastStateSnapshot } from "../state/broadcast_state.ts";
import { UnionListEntry } from "../state/union_list_state.ts";
import type { KeyGroupRange } from "../state/key_group.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { checksumOf } from "./checksum.ts";
import { decodeOperatorSnapshot, readOperatorSnapshot } from "./operator_snapshot_read.ts";
import { type CheckpointMetadata, checkpointDir, joinKey, readMetadataChecked, type SubtaskFileRef } from "./metadata.ts";
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
  /**
   * What the restore should warn about, each with a warning code: `checksums_missing`
   * (metadata of a weir before checksums), `shared_files_elsewhere` (see readSharedFilesAtRoot).
   */
  warnings: { code: "checksums_missing" | "shared_files_elsewhere"; message: string }[];
  /**
   * Where the shared files its incremental state names are read, whatever storage the
   * restoring job writes to: the storage it was read from, when that is the root their keys
   * are relative to (a directory in it), else the one {@link readSharedFilesAtRoot} found;
   * undefined: the restoring job's own storage.
   */
  storage?: StorageAdapter;
  /**
   * Where it lives, so that a remote host can read its own part there (set by the job
   * master for what it restores; see {@link CheckpointHome}).
   */
  home?: CheckpointHome;
}

/**
 * Where a checkpoint or savepoint lives, as plain data that crosses to a remote host:
 * - `job`: directory `dir` of the job's own storage;
 * - `directory`: a directory path (a `restoreFrom` path, a savepoint's location), which a
 *   host opens with its DirectoryOpener (storage/directory.ts);
 * - `storage`: directory `dir` of a StorageAdapter given to `restoreFrom` in code, which a
 *   host reaches only if it was given the same storage (`description` names it in errors).
 */
export type CheckpointHome =
  | { kind: "job"; dir: string }
  | { kind: "directory"; path: string }
  | { kind: "storage"; description: string; dir: string };

/** Options of {@link loadCheckpoint}. */
export interface LoadOptions {
  /**
   * Which state files to read (all unless set): a remote host reads only those of its own
   * subtasks (checkpoint/restore_selection.ts), the rest stay in storage.
   */
  only?: (ref: SubtaskFileRef, metadata: CheckpointMetadata) => boolean;
}

/** What one new subtask restores (its in-flight records come from routeChannelState). */
export interface SubtaskRestore {
  operators: Map<string, RestoredState>;
}

/**
 * Reads metadata and every state file it names, each checked against its size and
 * checksum in `_metadata`; a missing, truncated, changed or undecodable file is an error
 * naming it. Metadata from before checksums loads with a warning.
 *
 * @throws {WeirError} `checkpoint_not_found`, `checkpoint_corrupt` or `storage_corrupt`.
 */
export async function loadCheckpoint(storage: StorageAdapter, dir: string, options: LoadOptions = {}): Promise<LoadedCheckpoint> {
  const { metadata, checksummed } = await readMetadataChecked(storage, dir);
  const named = checkpointName(metadata);
  const warnings: LoadedCheckpoint["warnings"] = [];
  if (!checksummed) {
    warnings.push({
      code: "checksums_missing",
      message: `${named} at ${joinKey(dir, "_metadata")} in ${storage.description} was written without checksums (an older weir): its state files are restored unverified`,
    });
  }
  const files: SubtaskStateFile[] = [];
  for (const ref of metadata.subtasks) {
    if (options.only && !options.only(ref, metadata)) continue;
    const key = joinKey(dir, ref.file);
    const bytes = await storage.get(key);
    if (!bytes) {
      throw new WeirError("checkpoint_corrupt", `${named} is missing state file ${key} in ${storage.description}`);
    }
    if (checksummed) verifyStateFile(ref, bytes, `${key} in ${storage.description}`, metadata.checkpointId);
    const file = decode<SubtaskStateFile>(bytes, `state file ${key}`);
    if (!file || typeof file !== "object" || file.checkpointId !== metadata.checkpointId || typeof file.operators !== "object") {
      throw new WeirError("checkpoint_corrupt", `State file ${key} does not belong to checkpoint ${metadata.checkpointId}`);
    }
    files.push(file);
  }
  // Opened at its own directory (dir ""), the storage is no root its shared keys are relative to.
  return { metadata, location: dir, files, transactionsCommitted: false, warnings, storage: dir ? storage : undefined };
}

/**
 * Where the job that wrote a checkpoint kept its storage, for a checkpoint opened at its own
 * directory `path` (a `restoreFrom` path): an incremental checkpoint names its shared files
 * from there (`<jobName>/<jobId>/shared/…`), beside `<jobName>/<jobId>/chk-<id>`, which
 * `path` then ends with. Undefined when the checkpoint names no shared file (a savepoint,
 * or a full checkpoint: self-contained) or `path` is not laid out so.
 *
 * @example
 * ```ts
 * import { sharedFilesRoot } from "./restore.ts";
 * const metadata = { jobName: "j", jobId: "ab", checkpointId: 7, subtasks: [{ shared: [{ key: "j/ab/shared/x" }] }] };
 * console.assert(sharedFilesRoot(metadata as never, "/data/weir/j/ab/chk-7/") === "/data/weir");
 * console.assert(sharedFilesRoot(metadata as never, "/data/weir/j/ab//./chk-7") === "/data/weir");
 * console.assert(sharedFilesRoot(metadata as never, "/elsewhere/chk-7") === undefined);
 * ```
 */
export function sharedFilesRoot(metadata: CheckpointMetadata, path: string): string | undefined {
  if (!metadata.subtasks.some((s) => (s.shared?.length ?? 0) > 0)) return undefined;
  const own = checkpointDir(metadata.jobName, metadata.jobId, metadata.checkpointId);
  const p = lexicalPath(path);
  if (p === own) return ".";
  if (!p.endsWith(`/${own}`)) return undefined;
  return p.slice(0, -own.length - 1) || "/";
}

/**
 * `path` with `/` for `\\`, without empty or `.` segments, `..` taken back lexically and
 * no trailing slash; a `scheme://authority` start is kept as it is.
 */
function lexicalPath(path: string): string {
  const p = path.replaceAll("\\", "/");
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(p)?.[0] ?? "";
  const rest = p.slice(authority.length);
  const segments: string[] = [];
  for (const s of rest.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === ".." && segments.length > 0 && segments.at(-1) !== "..") segments.pop();
    else segments.push(s);
  }
  return `${authority}${rest.startsWith("/") ? "/" : ""}${segments.join("/")}`;
}

/**
 * A checkpoint opened at its own directory (its home a directory path) reads its shared
 * files from the storage its job wrote to (see {@link sharedFilesRoot}), opened by `open`.
 * Where that root cannot be opened (a platform's opener refuses it), they are looked up in
 * the restoring job's storage, as when the path is not laid out as a job's (then with a
 * `shared_files_elsewhere` warning: a file missing there is named in the job's storage).
 *
 * @example
 * ```ts
 * import { readSharedFilesAtRoot, type LoadedCheckpoint } from "./restore.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const metadata = { jobName: "j", jobId: "ab", checkpointId: 7, subtasks: [{ shared: [{ key: "j/ab/shared/x" }] }] };
 * const loaded = { metadata, home: { kind: "directory", path: "/data/j/ab/chk-7" } } as unknown as LoadedCheckpoint;
 * const root = new MemoryStorage();
 * readSharedFilesAtRoot(loaded, (path) => (console.assert(path === "/data"), { storage: root }));
 * console.assert(loaded.storage === root);
 * ```
 */
export function readSharedFilesAtRoot(loaded: LoadedCheckpoint, open: (root: string) => { storage: StorageAdapter }): void {
  if (loaded.home?.kind !== "directory") return;
  const root = sharedFilesRoot(loaded.metadata, loaded.home.path);
  if (root === undefined) {
    const { jobName, jobId, checkpointId } = loaded.metadata;
    if (loaded.metadata.subtasks.some((s) => (s.shared?.length ?? 0) > 0)) {
      loaded.warnings.push({
        code: "shared_files_elsewhere",
        message: `${checkpointName(loaded.metadata)} at ${loaded.home.path} names shared files of incremental state, but its path does not end with ${checkpointDir(jobName, jobId, checkpointId)} (was it moved?): they are looked up in the restoring job's storage`,
      });
    }
    return;
  }
  try {
    loaded.storage = open(root).storage;
  } catch {
    // The restore then names the file it misses in the job's storage.
  }
}

/** A state file must be exactly what the checkpoint wrote: same length, same checksum. */
function verifyStateFile(ref: SubtaskFileRef, bytes: Uint8Array, where: string, checkpointId: number): void {
  if (bytes.length !== ref.stateSize) {
    throw new WeirError(
      "checkpoint_corrupt",
      `State file ${where} of checkpoint ${checkpointId} is ${bytes.length < ref.stateSize ? "truncated" : "longer than written"}: ${bytes.length} bytes, _metadata records ${ref.stateSize}`,
    );
  }
  const actual = checksumOf(bytes);
  if (actual !== ref.checksum) {
    throw new WeirError(
      "checkpoint_corrupt",
      `State file ${where} of checkpoint ${checkpointId} does not match its checksum in _metadata (recorded ${ref.checksum}, found ${actual}): it changed after the checkpoint`,
    );
  }
}

/** Restores operator state of one uid for one new subtask. */
function operatorState(
  loaded: LoadedCheckpoint,
  uid: string,
  newIndex: number,
  newParallelism: number,
  range: KeyGroupRange,
  encodedKeyedGroups: boolean,
): RestoredState | undefined {
  const holders = loaded.files.filter((f) => uid in f.operators);
  if (holders.length === 0) return undefined;
  holders.sort((a, b) => a.subtaskIndex - b.subtaskIndex);
  // From the metadata: a remote host loads only some of the holders (restore_selection.ts).
  const oldParallelism = loaded.metadata.vertices.find((v) => v.uids.includes(uid))?.parallelism ?? holders.length;
  const keyed: RestoredState["keyed"] = [];
  const keyedHandles: NonNullable<RestoredState["keyedHandles"]> = [];
  const operator: unknown[] = [];
  let dealt = 0;
  for (const f of holders) {
    const what = `state of operator "${uid}"`;
    const snap = encodedKeyedGroups ? readOperatorSnapshot(f.operators[uid], what) : decodeOperatorSnapshot(f.operators[uid], what);
    const overlaps = f.keyGroupRange.end >= range.start && f.keyGroupRange.start <= range.end;
    if (snap.keyed && overlaps) keyed.push(snap.keyed);
    const handle = snap.keyedHandle;
    if (handle && overlaps) keyedHandles.push(handle.format === "incremental" && loaded.storage ? { ...handle, storage: loaded.storage } : handle);
    for (const e of snap.operator ?? []) {
      // Broadcast state: every subtask held the same copy, every new one gets old subtask 0's.
      if (e instanceof BroadcastStateSnapshot) {
        if (f.subtaskIndex === 0) operator.push(e);
      } else if (e instanceof UnionListEntry && oldParallelism !== newParallelism) {
        // Union list state: every new subtask gets every entry (restore_selection.ts reads all files then).
        operator.push(e);
      } else if (oldParallelism === newParallelism) {
        if (f.subtaskIndex === newIndex) operator.push(e);
      } else if (dealt++ % newParallelism === newIndex) operator.push(e);
    }
  }
  const restored: RestoredState = { keyed, operator, checkpointId: loaded.metadata.checkpointId, transactionsCommitted: loaded.transactionsCommitted };
  if (keyedHandles.length > 0) restored.keyedHandles = keyedHandles;
  return restored;
}

/** Options of {@link stateForSubtask}. */
export interface SubtaskRestoreOptions {
  /**
   * Leave the key groups of keyed tables encoded until read (operator_snapshot_read.ts):
   * for a backend that copies them as bytes (sqlite). The heap backend reads every group
   * at once, so for it the extra pass over the bytes would only cost. Default false.
   */
  encodedKeyedGroups?: boolean;
}

/** What one new subtask of a vertex restores. */
export function stateForSubtask(
  loaded: LoadedCheckpoint,
  vertex: { id: string; uids: string[]; parallelism: number },
  index: number,
  range: KeyGroupRange,
  options: SubtaskRestoreOptions = {},
): SubtaskRestore {
  const operators = new Map<string, RestoredState>();
  for (const uid of vertex.uids) {
    const s = operatorState(loaded, uid, index, vertex.parallelism, range, options.encodedKeyedGroups ?? false);
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
  const named = checkpointName(loaded.metadata);
  // Keyed state is filed by key group; another maxParallelism files the same key elsewhere.
  if (loaded.metadata.maxParallelism !== maxParallelism) {
    throw new WeirError(
      "incompatible_restore",
      `${named} was taken with maxParallelism ${loaded.metadata.maxParallelism}; the job has maxParallelism ${maxParallelism}, and keyed state cannot move between them`,
    );
  }
  const known = new Set(vertices.flatMap((v) => v.uids));
  if (!allowNonRestoredState) {
    for (const v of loaded.metadata.vertices) {
      for (const uid of v.uids) {
        if (!known.has(uid)) {
          throw new WeirError(
            "state_not_restored",
            `${named} has state for operator uid "${uid}" (${v.name}) that the job does not contain (set allowNonRestoredState to skip it)` +
              (looksGenerated(uid) ? `; "${uid}" was generated for an operator without a uid, from its code and the graph upstream of it, one of which changed: give the operator a uid` : ""),
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

/** "Savepoint 7" or "Checkpoint 7", as errors name what is restored. */
function checkpointName(metadata: CheckpointMetadata): string {
  return `${metadata.type === "SAVEPOINT" ? "Savepoint" : "Checkpoint"} ${metadata.checkpointId}`;
}
