/**
 * Offline edits of a savepoint into a new one (`weir savepoint rewrite`), as Flink's State
 * Processor API allows: drop the state of a uid, rename a uid, and re-partition keyed
 * state into another number of key groups (`maxParallelism`), which a restore alone
 * refuses because every key's group changes. The input is only read; the output is a new
 * directory whose `_metadata` is written last, so a failed rewrite leaves no savepoint.
 * @module
 */
import { checksumOf } from "./checksum.ts";
import { encode } from "../codec/cbor.ts";
import type { OperatorSnapshot } from "../dataflow/operator.ts";
import { WeirError } from "../errors.ts";
import { WEIR_VERSION } from "../version.ts";
import { keyGroupOf, keyGroupRangeFor, subtaskForKeyGroup } from "../state/key_group.ts";
import { type KeyedTableSnapshot, readTable, type StateKind } from "../state/keyed_state.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { type CheckpointMetadata, encodeMetadata, joinKey, METADATA_FILE, type SubtaskFileRef } from "./metadata.ts";
import type { SubtaskStateFile } from "./pending_snapshot.ts";
import { type OpenedSavepoint, operatorSnapshot } from "./savepoint_reader.ts";

/** What to change. */
export interface RewriteOptions {
  /** uids whose state is left out (Flink: `SavepointWriter.removeOperator`). */
  dropUids?: string[];
  /** [from, to] pairs: the state of uid `from` is filed under `to`. */
  renameUids?: [string, string][];
  /** Re-partition keyed state into this many key groups (1–32768, at least every vertex's parallelism). */
  maxParallelism?: number;
}

/** Where the rewritten savepoint goes: an empty directory. */
export interface RewriteTarget {
  storage: StorageAdapter;
  /** Key of the new savepoint's directory in `storage` ("" for its root). */
  dir: string;
  /** The path to show and to restore from. */
  location: string;
}

/** What a rewrite did. */
export interface RewriteSummary {
  location: string;
  dropped: string[];
  renamed: [string, string][];
  maxParallelism: { from: number; to: number };
  /** Keyed entries moved to another key group by the re-partitioning. */
  keyedEntries: number;
}

const MAX_PARALLELISM_LIMIT = 32768;

/**
 * Writes an edited copy of `sp` to `target`. Savepoints and aligned checkpoints only: the
 * in-flight records of an unaligned checkpoint belong to channels of one topology.
 *
 * @throws {WeirError} `uid_not_found` for a uid the savepoint does not have; `invalid_rewrite` for a clash (rename onto an existing uid, a uid both dropped and renamed), a maxParallelism out of range or below a vertex's parallelism, or channel state; `savepoint_exists` when the target is not empty
 * @example
 * ```ts
 * import { openSavepoint } from "./savepoint_reader.ts";
 * import { rewriteSavepoint } from "./savepoint_rewrite.ts";
 * // await rewriteSavepoint(await openSavepoint(dir), target, { dropUids: ["old"], maxParallelism: 256 });
 * ```
 */
export async function rewriteSavepoint(sp: OpenedSavepoint, target: RewriteTarget, options: RewriteOptions): Promise<RewriteSummary> {
  const m = sp.loaded.metadata;
  const plan = planUids(sp, options);
  const maxParallelism = options.maxParallelism ?? m.maxParallelism;
  checkMaxParallelism(sp, maxParallelism);
  if (sp.loaded.files.some((f) => f.inputChannels.length > 0 || f.outputChannels.length > 0)) {
    throw new WeirError("invalid_rewrite", `Savepoint ${sp.path} holds in-flight channel state (an unaligned checkpoint), which belongs to one topology; rewrite a savepoint (weir savepoint/stop) instead`);
  }
  if (m.subtasks.some((r) => (r.shared?.length ?? 0) > 0)) {
    throw new WeirError("invalid_rewrite", `Checkpoint ${m.checkpointId} at ${sp.path} keeps keyed state in a backend's own incremental files, shared with other checkpoints of its job; rewrite a savepoint (weir savepoint/stop) instead`);
  }
  const existing = await target.storage.list(target.dir ? `${target.dir}/` : "");
  if (existing.length > 0) {
    throw new WeirError("savepoint_exists", `The rewrite target ${target.location} is not empty (it holds ${existing[0]}); choose a new directory`);
  }

  const vertices: CheckpointMetadata["vertices"] = [];
  const subtasks: SubtaskFileRef[] = [];
  let keyedEntries = 0;
  for (const v of m.vertices) {
    const uids = v.uids.filter((u) => plan.has(u));
    if (uids.length === 0) continue;
    vertices.push({ ...v, uids: uids.map((u) => plan.get(u)!) });
    const files = Array.from({ length: v.parallelism }, (_, i): SubtaskStateFile => ({
      checkpointId: m.checkpointId,
      vertexId: v.id,
      subtaskIndex: i,
      parallelism: v.parallelism,
      keyGroupRange: keyGroupRangeFor(i, v.parallelism, maxParallelism),
      operators: {},
      inputChannels: [],
      outputChannels: [],
    }));
    for (const uid of uids) {
      const old = sp.loaded.files.filter((f) => f.vertexId === v.id && uid in f.operators);
      const moved = maxParallelism === m.maxParallelism
        ? copyOperator(old, files, uid, plan.get(uid)!)
        : repartitionOperator(old, files, uid, plan.get(uid)!, maxParallelism);
      keyedEntries += moved;
    }
    for (const f of files) {
      const name = `${f.vertexId}-${f.subtaskIndex}.state`;
      const bytes = encode(f);
      await target.storage.put(joinKey(target.dir, name), bytes);
      subtasks.push({ vertexId: f.vertexId, subtaskIndex: f.subtaskIndex, file: name, stateSize: bytes.length, checksum: checksumOf(bytes) });
    }
  }
  // The metadata last: as in a checkpoint, its write is the commit point of the new savepoint.
  // Written by this weir, whichever wrote the input.
  const metadata: CheckpointMetadata = { ...m, weirVersion: WEIR_VERSION, maxParallelism, vertices, subtasks };
  await target.storage.put(joinKey(target.dir, METADATA_FILE), encodeMetadata(metadata));
  return {
    location: target.location,
    dropped: options.dropUids ?? [],
    renamed: options.renameUids ?? [],
    maxParallelism: { from: m.maxParallelism, to: maxParallelism },
    keyedEntries,
  };
}

/** uid → the uid it is filed under in the output; dropped uids are absent. */
function planUids(sp: OpenedSavepoint, options: RewriteOptions): Map<string, string> {
  const all = sp.loaded.metadata.vertices.flatMap((v) => v.uids);
  const known = (uid: string, what: string) => {
    if (!all.includes(uid)) {
      throw new WeirError("uid_not_found", `${what} names uid ${JSON.stringify(uid)}, which savepoint ${sp.path} does not have; it has ${all.map((u) => JSON.stringify(u)).join(", ")}`);
    }
  };
  const plan = new Map(all.map((u) => [u, u]));
  for (const uid of options.dropUids ?? []) {
    known(uid, "--drop-uid");
    plan.delete(uid);
  }
  const renamed = new Set<string>();
  for (const [from, to] of options.renameUids ?? []) {
    known(from, "--rename-uid");
    if (!plan.has(from)) throw new WeirError("invalid_rewrite", `uid ${JSON.stringify(from)} is both dropped and renamed`);
    if (renamed.has(from)) throw new WeirError("invalid_rewrite", `uid ${JSON.stringify(from)} is renamed twice`);
    if (typeof to !== "string" || to.length === 0 || to.includes("/")) throw new WeirError("invalid_rewrite", `The new uid for ${JSON.stringify(from)} must be a non-empty string without '/', got ${JSON.stringify(to)}`);
    renamed.add(from);
    plan.set(from, to);
  }
  const targets = new Map<string, string>();
  for (const [from, to] of plan) {
    const clash = targets.get(to);
    if (clash !== undefined) throw new WeirError("invalid_rewrite", `Two operators would have uid ${JSON.stringify(to)} (${JSON.stringify(clash)} and ${JSON.stringify(from)}); drop or rename one`);
    targets.set(to, from);
  }
  return plan;
}

function checkMaxParallelism(sp: OpenedSavepoint, n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_PARALLELISM_LIMIT) {
    throw new WeirError("invalid_rewrite", `maxParallelism must be an integer between 1 and ${MAX_PARALLELISM_LIMIT}, got ${n}`);
  }
  for (const v of sp.loaded.metadata.vertices) {
    if (v.parallelism > n) {
      throw new WeirError("invalid_rewrite", `maxParallelism ${n} is below the parallelism ${v.parallelism} of vertex ${v.id} (${v.name}); a subtask needs at least one key group`);
    }
  }
}

/** Same key groups: each subtask's bytes move as they are (under the new uid). */
function copyOperator(old: SubtaskStateFile[], files: SubtaskStateFile[], uid: string, to: string): number {
  for (const f of old) files[f.subtaskIndex].operators[to] = f.operators[uid];
  return 0;
}

/**
 * New key groups: every keyed entry is filed under the group its key hashes to now, in
 * the subtask that owns that group; operator (non-keyed) state stays with its subtask.
 */
function repartitionOperator(old: SubtaskStateFile[], files: SubtaskStateFile[], uid: string, to: string, maxParallelism: number): number {
  const parallelism = files.length;
  const snaps = old.map((f) => ({ index: f.subtaskIndex, snap: operatorSnapshot(f, uid) }));
  // [subtask] → state name → key group → entries
  const keyed = files.map(() => new Map<string, Map<number, [unknown, unknown][]>>());
  let entries = 0;
  const kinds = new Map<string, StateKind>();
  for (const { snap } of snaps) {
    for (const [name, table] of Object.entries(snap.keyed ?? {})) {
      for (const list of keyed) if (!list.has(name)) list.set(name, new Map());
      const { kind, groups } = readTable(name, table);
      kinds.set(name, kind);
      for (const [, group] of groups) {
        for (const [key, value] of group) {
          const g = keyGroupOf(key, maxParallelism);
          const byGroup = keyed[subtaskForKeyGroup(g, parallelism, maxParallelism)].get(name)!;
          let list = byGroup.get(g);
          if (!list) byGroup.set(g, (list = []));
          list.push([key, value]);
          entries++;
        }
      }
    }
  }
  for (let i = 0; i < parallelism; i++) {
    const base: OperatorSnapshot = snaps.find((s) => s.index === i)?.snap ?? {};
    const snap: OperatorSnapshot = { ...base };
    if (keyed[i].size > 0) {
      const tables: Record<string, KeyedTableSnapshot> = {};
      for (const [name, groups] of keyed[i]) tables[name] = { kind: kinds.get(name)!, groups: [...groups.entries()].sort((a, b) => a[0] - b[0]) };
      snap.keyed = tables;
    }
    files[i].operators[to] = encode(snap);
  }
  return entries;
}
