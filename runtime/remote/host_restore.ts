/**
 * A remote host's side of a restore: the deploy says where the checkpoint lives
 * (DeployedRestore); the host opens that storage, reads the metadata and only the state
 * files of its own subtasks (checkpoint/restore_selection.ts), and cuts them by key-group
 * range and channel as the master would (restore.ts, channel_state_restore.ts). Flink's
 * TaskManagers likewise read their state handles themselves; the deploy carries handles.
 * @module
 */
import { type ChannelStateRoutes, routeChannelState } from "../../checkpoint/channel_state_restore.ts";
import { type LoadedCheckpoint, loadCheckpoint, readSharedFilesAtRoot, stateForSubtask, type SubtaskRestore } from "../../checkpoint/restore.ts";
import { filesForSubtasks } from "../../checkpoint/restore_selection.ts";
import type { JobGraph } from "../../dataflow/job_graph.ts";
import { WeirError } from "../../errors.ts";
import type { StorageAdapter } from "../../storage/adapter.ts";
import { type DirectoryOpener, openDirectory } from "../../storage/directory.ts";
import type { KeyGroupRange } from "../../state/key_group.ts";
import type { DeployedRestore } from "./messages.ts";

/** The storages a host can reach a restored checkpoint in. */
export interface RestoreReach {
  hostId: string;
  /** The job's storage (checkpoints of the job's own run). */
  storage: StorageAdapter;
  /** Opens directory paths; the runtime's installed opener unless set. */
  openDirectory?: DirectoryOpener;
  /** The StorageAdapter given to `restoreFrom` in code, when the host was given it too. */
  restoreStorage?: StorageAdapter;
}

/** What the host's subtasks restore. */
export interface HostRestore {
  loaded: LoadedCheckpoint;
  /** In-flight records, by receiving subtask "vertexId/index" (only this host's are used). */
  inFlight: ChannelStateRoutes;
  /** Operator state of one of this host's subtasks. */
  stateOf(vertex: { id: string; uids: string[]; parallelism: number }, index: number, range: KeyGroupRange): SubtaskRestore;
}

/**
 * Reads what `subtasks` ("vertexId/index") restore from `restore`.
 * @throws {WeirError} `storage_unavailable` when the host cannot reach the checkpoint's
 *   storage; what loadCheckpoint and routeChannelState throw.
 */
export async function loadHostRestore(reach: RestoreReach, graph: JobGraph, restore: DeployedRestore, subtasks: readonly string[]): Promise<HostRestore> {
  const { storage, dir } = storageOf(reach, restore);
  const loaded = await loadCheckpoint(storage, dir, { only: filesForSubtasks(graph, subtasks) });
  if (loaded.metadata.checkpointId !== restore.checkpointId) {
    throw new WeirError("checkpoint_corrupt", `Host ${reach.hostId} was deployed to restore checkpoint ${restore.checkpointId} but found checkpoint ${loaded.metadata.checkpointId} at ${describe(restore)}`);
  }
  loaded.transactionsCommitted = restore.transactionsCommitted;
  loaded.home = restore.home;
  readSharedFilesAtRoot(loaded, openerOf(reach));
  return {
    loaded,
    inFlight: routeChannelState(loaded, graph),
    stateOf: (v, i, range) => stateForSubtask(loaded, v, i, range),
  };
}

function storageOf(reach: RestoreReach, restore: DeployedRestore): { storage: StorageAdapter; dir: string } {
  const home = restore.home;
  switch (home.kind) {
    case "job":
      return { storage: reach.storage, dir: home.dir };
    case "directory":
      return { storage: openerOf(reach)(home.path).storage, dir: "" };
    case "storage":
      if (!reach.restoreStorage) {
        throw new WeirError(
          "storage_unavailable",
          `Host ${reach.hostId} cannot read checkpoint ${restore.checkpointId} in ${home.description}: restoreFrom was given as a StorageAdapter the host was not given; restore from a directory path, or give the host that storage`,
        );
      }
      return { storage: reach.restoreStorage, dir: home.dir };
    default:
      throw new WeirError("invariant_broken", `Unknown checkpoint home ${JSON.stringify((home as { kind?: unknown }).kind)}`);
  }
}

function openerOf(reach: RestoreReach): DirectoryOpener {
  return reach.openDirectory ?? ((p) => openDirectory(p, `The restored checkpoint on host ${reach.hostId}`));
}

function describe(restore: DeployedRestore): string {
  const h = restore.home;
  return h.kind === "directory" ? h.path : h.kind === "job" ? `the job's storage/${h.dir}` : `${h.description}/${h.dir}`;
}
