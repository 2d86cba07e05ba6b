/**
 * Reading a savepoint (or retained checkpoint) offline, as Flink's State Processor API
 * does from a program and `weir savepoint inspect|read` does from the shell: what it
 * holds per operator uid and subtask (key-group ranges, state names, kinds, sizes), and
 * the state itself as rows. It loads through checkpoint/restore.ts, so it checks exactly
 * what a restore checks (metadata, every state file, checksums where recorded).
 * @module
 */
import { FORMAT_VERSION } from "../codec/cbor.ts";
import type { OperatorSnapshot } from "../dataflow/operator.ts";
import { decodeOperatorSnapshot } from "./operator_snapshot_read.ts";
import { WeirError } from "../errors.ts";
import { canonicalKey } from "../state/key_group.ts";
import { type KeyedTableSnapshot, readTable } from "../state/keyed_state.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { openDirectory } from "../storage/directory.ts";
import { type CheckpointMetadata, checkpointPathOf } from "./metadata.ts";
import type { SubtaskStateFile } from "./pending_snapshot.ts";
import { type LoadedCheckpoint, loadCheckpoint } from "./restore.ts";

/** A savepoint opened for reading: where it is and what it holds, loaded and checked. */
export interface OpenedSavepoint {
  /** The directory as the user named it (a trailing `/_metadata` removed). */
  path: string;
  storage: StorageAdapter;
  /** Key of the savepoint directory in `storage` ("" when opened at its root). */
  dir: string;
  loaded: LoadedCheckpoint;
}

/** The kind of a keyed state: as recorded with the state, else guessed from its values. */
export type StateKind = "value" | "list" | "map" | "unknown";

/** One keyed state of one operator in one subtask file. */
export interface KeyedStateInfo {
  name: string;
  kind: StateKind;
  /** Whether `kind` was recorded in the savepoint (else it was guessed from the values). */
  kindRecorded: boolean;
  keys: number;
  keyGroups: number;
}

/** One subtask's share of one operator. */
export interface SubtaskInfo {
  index: number;
  keyGroupRange: { start: number; end: number };
  file: string;
  /** Encoded bytes of this operator's snapshot in the file. */
  bytes: number;
  keyed: KeyedStateInfo[];
  /** Elements of operator (non-keyed) list state: source positions, sink transactions. */
  operatorStateEntries: number;
  /**
   * Keyed state kept in a backend's own incremental files (a retained incremental
   * checkpoint, not a savepoint): which backend and format version, and how many shared
   * files of its job it refers to. The tools do not read those files; `keyed` lists none.
   */
  incrementalKeyed?: { backend: string; version: number; sharedFiles: number };
}

/** One operator, by uid. */
export interface OperatorInfo {
  uid: string;
  vertexId: string;
  /** The name of the (chained) vertex it runs in. */
  vertexName: string;
  parallelism: number;
  subtasks: SubtaskInfo[];
}

/** What `weir savepoint inspect` shows. */
export interface SavepointInfo {
  path: string;
  type: CheckpointMetadata["type"];
  unaligned: boolean;
  /** Taken by a stop-with-savepoint. */
  terminal: boolean;
  /**
   * Its sink transactions are known committed: the job ended `stopped` after every sink
   * committed (or an older weir's stop-with-savepoint, which counted so).
   */
  sinksCommitted: boolean;
  checkpointId: number;
  jobName: string;
  jobId: string;
  triggerTimestamp: number;
  completedTimestamp: number;
  maxParallelism: number;
  /** Codec format version of the metadata file (its first byte). */
  formatVersion: number;
  /** The weir version that wrote it, when recorded. */
  weirVersion: string | undefined;
  /** "verified" when checksums are recorded (a mismatch fails the open), else "not recorded". */
  checksums: "verified" | "not recorded";
  totalBytes: number;
  /** Bytes of in-flight channel state (unaligned checkpoints only). */
  channelStateBytes: number;
  operators: OperatorInfo[];
}

/**
 * Opens a savepoint or retained checkpoint directory (or its `_metadata` file) and loads
 * every file it names. Every error names the file and directory.
 *
 * @throws {WeirError} `checkpoint_not_found` (no `_metadata`: not a savepoint), `checkpoint_corrupt` or `storage_corrupt` (a missing, truncated or changed file), `format_unsupported`
 * @example
 * ```ts
 * import { openSavepoint } from "./savepoint_reader.ts";
 * // const sp = await openSavepoint("./savepoints/savepoint-1a2b3c-…");
 * ```
 */
export async function openSavepoint(path: string, options: { storage?: StorageAdapter } = {}): Promise<OpenedSavepoint> {
  if (typeof path !== "string" || path.trim() === "") throw new WeirError("usage", `A savepoint path must be a directory, got ${JSON.stringify(path)}`);
  const dirPath = checkpointPathOf(path) || ".";
  let storage: StorageAdapter;
  let dir = "";
  if (options.storage) {
    storage = options.storage;
    dir = dirPath === "." ? "" : dirPath;
  } else {
    storage = openDirectory(dirPath, "The savepoint path").storage;
  }
  try {
    const loaded = await loadCheckpoint(storage, dir);
    return { path: dirPath, storage, dir, loaded };
  } catch (e) {
    if (!(e instanceof WeirError)) throw e;
    // loadCheckpoint names keys relative to the directory; say which directory too.
    const where = `${storage.description}${dir ? `/${dir}` : ""}`;
    const message = e.message.includes(where) ? e.message : `${e.message} (savepoint ${where})`;
    const hint = e.code === "checkpoint_not_found" ? "; a savepoint directory holds a _metadata file and one state file per subtask" : "";
    throw new WeirError(e.code, `${message}${hint}`, { cause: e });
  }
}

/**
 * What a savepoint holds, per operator uid and subtask.
 *
 * @example
 * ```ts
 * import { describeSavepoint, openSavepoint } from "./savepoint_reader.ts";
 * // const info = describeSavepoint(await openSavepoint(dir)); info.operators[0].subtasks[0].keyGroupRange
 * ```
 */
export function describeSavepoint(sp: OpenedSavepoint): SavepointInfo {
  const m = sp.loaded.metadata;
  const refs = new Map(m.subtasks.map((r) => [`${r.vertexId}/${r.subtaskIndex}`, r]));
  const operators: OperatorInfo[] = [];
  let channelStateBytes = 0;
  for (const f of sp.loaded.files) {
    for (const [, list] of f.inputChannels) for (const b of list) channelStateBytes += b.length;
    for (const [, list] of f.outputChannels) for (const b of list) channelStateBytes += b.length;
  }
  for (const v of m.vertices) {
    for (const uid of v.uids) {
      const subtasks: SubtaskInfo[] = [];
      for (const f of filesOf(sp, uid)) {
        const snap = operatorSnapshot(f, uid);
        subtasks.push({
          index: f.subtaskIndex,
          keyGroupRange: { ...f.keyGroupRange },
          file: refs.get(`${f.vertexId}/${f.subtaskIndex}`)?.file ?? "?",
          bytes: f.operators[uid].length,
          keyed: Object.entries(snap.keyed ?? {}).map(([name, table]) => keyedInfo(name, table, snap)),
          operatorStateEntries: snap.operator?.length ?? 0,
          ...(snap.keyedHandle ? { incrementalKeyed: { backend: snap.keyedHandle.backend, version: snap.keyedHandle.version, sharedFiles: snap.keyedHandle.shared.length } } : {}),
        });
      }
      operators.push({ uid, vertexId: v.id, vertexName: v.name, parallelism: v.parallelism, subtasks });
    }
  }
  const anyChecksum = "checksum" in m || m.subtasks.some((r) => "checksum" in r);
  return {
    path: sp.path,
    type: m.type,
    unaligned: m.unaligned,
    terminal: m.terminal === true,
    sinksCommitted: m.terminal === true && (m.commitsMarked !== true || m.sinksCommitted === true),
    checkpointId: m.checkpointId,
    jobName: m.jobName,
    jobId: m.jobId,
    triggerTimestamp: m.triggerTimestamp,
    completedTimestamp: m.completedTimestamp,
    maxParallelism: m.maxParallelism,
    formatVersion: FORMAT_VERSION,
    weirVersion: typeof m.weirVersion === "string" ? m.weirVersion : undefined,
    checksums: anyChecksum ? "verified" : "not recorded",
    totalBytes: m.subtasks.reduce((n, r) => n + r.stateSize, 0),
    channelStateBytes,
    operators,
  };
}

/** One row of `weir savepoint read`: a keyed entry or an element of operator state. */
export type StateRow =
  | { uid: string; state: string; kind: StateKind; keyGroup: number; key: unknown; value: unknown }
  | { uid: string; subtask: number; operatorState: unknown };

/**
 * The state of one operator as rows: keyed entries (optionally of one state name and one
 * key) in key-group order, then, without a state or key filter, its operator state.
 * A key given as text matches a string key equal to it or a key whose JSON is that text
 * (so `--key 3` finds the number 3 and the string "3").
 *
 * @throws {WeirError} `uid_not_found` when the savepoint has no operator `uid` (the message lists those it has); `state_not_found` for an unknown state name
 * @example
 * ```ts
 * import { openSavepoint, stateRows } from "./savepoint_reader.ts";
 * // for (const row of stateRows(await openSavepoint(dir), { uid: "count", key: "7" })) console.log(row);
 * ```
 */
export function* stateRows(sp: OpenedSavepoint, filter: { uid: string; state?: string; key?: string }): Generator<StateRow> {
  const uids = sp.loaded.metadata.vertices.flatMap((v) => v.uids);
  if (!uids.includes(filter.uid)) {
    throw new WeirError("uid_not_found", `Savepoint ${sp.path} has no operator uid ${JSON.stringify(filter.uid)}; it has ${uids.map((u) => JSON.stringify(u)).join(", ")}`);
  }
  const files = filesOf(sp, filter.uid);
  const snaps = files.map((f) => operatorSnapshot(f, filter.uid));
  const own = snaps.find((s) => s.keyedHandle)?.keyedHandle;
  if (own) {
    throw new WeirError(
      "format_unsupported",
      `Operator ${JSON.stringify(filter.uid)} in ${sp.path} keeps its keyed state in the "${own.backend}" backend's own incremental files (format version ${own.version}), which the savepoint tools do not read; read a savepoint of the job instead (weir savepoint, POST /jobs/:id/savepoints)`,
    );
  }
  if (filter.state !== undefined) {
    const names = new Set(snaps.flatMap((s) => Object.keys(s.keyed ?? {})));
    if (!names.has(filter.state)) {
      throw new WeirError("state_not_found", `Operator ${JSON.stringify(filter.uid)} in savepoint ${sp.path} has no keyed state ${JSON.stringify(filter.state)}; it has ${[...names].map((n) => JSON.stringify(n)).join(", ") || "none"}`);
    }
  }
  const matches = keyMatcher(filter.key);
  for (const snap of snaps) {
    for (const [name, table] of Object.entries(snap.keyed ?? {})) {
      if (filter.state !== undefined && name !== filter.state) continue;
      const { kind, groups } = readTable(name, table);
      for (const [keyGroup, entries] of groups) {
        for (const [key, value] of entries) {
          if (matches(key)) yield { uid: filter.uid, state: name, kind, keyGroup, key, value: stateValue(kind, value) };
        }
      }
    }
  }
  if (filter.state !== undefined || filter.key !== undefined) return;
  for (let i = 0; i < files.length; i++) {
    for (const e of snaps[i].operator ?? []) yield { uid: filter.uid, subtask: files[i].subtaskIndex, operatorState: e };
  }
}

/** The files that hold state of a uid, by subtask index. */
export function filesOf(sp: OpenedSavepoint, uid: string): SubtaskStateFile[] {
  return sp.loaded.files.filter((f) => uid in f.operators).sort((a, b) => a.subtaskIndex - b.subtaskIndex);
}

/** Decodes the snapshot of one operator in one file; names the operator in errors. */
export function operatorSnapshot(f: SubtaskStateFile, uid: string): OperatorSnapshot {
  const snap = decodeOperatorSnapshot(f.operators[uid], `state of operator "${uid}" in subtask ${f.subtaskIndex} of vertex ${f.vertexId}`);
  if (snap === null || typeof snap !== "object") {
    throw new WeirError("checkpoint_corrupt", `State of operator "${uid}" in subtask ${f.subtaskIndex} of vertex ${f.vertexId} is not an operator snapshot`);
  }
  return snap;
}

/** A stored value as the live state would show it: a MapState's entry list back as a Map. */
function stateValue(kind: StateKind, v: unknown): unknown {
  return kind === "map" && Array.isArray(v) ? new Map(v as [unknown, unknown][]) : v;
}

function keyedInfo(name: string, table: KeyedTableSnapshot, _snap: OperatorSnapshot): KeyedStateInfo {
  const { kind, groups } = readTable(name, table);
  let keys = 0;
  for (const [, entries] of groups) keys += entries.length;
  // Tables written before kinds were recorded (weir 0.1) are plain arrays: their kind is inferred.
  return { name, kind, kindRecorded: !Array.isArray(table), keys, keyGroups: groups.length };
}

function keyMatcher(raw: string | undefined): (key: unknown) => boolean {
  if (raw === undefined) return () => true;
  let parsed: unknown = raw;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // Not JSON: only a string key with this text matches.
  }
  const wanted = canonicalKey(parsed);
  return (key) => key === raw || canonicalKey(key) === wanted;
}
