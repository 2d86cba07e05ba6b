/**
 * What a job (re)start restores and whether it fits the job: the job run's own latest
 * checkpoint (recovery, or a resume after a crash), else `restoreFrom`. Recovery always
 * re-reads storage, as Flink's `CompletedCheckpointStore` does on a failover: the
 * metadata file is the only truth.
 * @module
 */
import { checkChannelState } from "../checkpoint/channel_state_restore.ts";
import { METADATA_FILE, checkpointDir, joinKey, listCompleted } from "../checkpoint/metadata.ts";
import { checkCompatible, type LoadedCheckpoint, loadCheckpoint, type LoadOptions, readSharedFilesAtRoot } from "../checkpoint/restore.ts";
import { filesForSubtasks } from "../checkpoint/restore_selection.ts";
import type { JobGraph } from "../dataflow/job_graph.ts";
import { WeirError } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { openDirectory } from "../storage/directory.ts";
import type { ExecutionTuning } from "./execution.ts";
import type { RestoreSource } from "./job_master_types.ts";

/** The job run whose checkpoints are looked at, and where else it may restore from. */
export interface RestorePointsInit {
  jobName: string;
  jobId: string;
  graph: JobGraph;
  storage: StorageAdapter;
  tuning: ExecutionTuning;
  restoreFrom?: RestoreSource;
  /** A checkpoint of this run's own did not fit the job: the start never ran it. */
  onOwnRefused(): void;
}

/**
 * Finds, loads and checks the checkpoint a job (re)start restores.
 *
 * @example
 * ```ts ignore
 * const restores = new RestorePoints({ jobName, jobId, graph, storage, tuning, onOwnRefused: () => {} });
 * const restore = await restores.latest();
 * if (restore) restores.check(restore);
 * ```
 */
export class RestorePoints {
  readonly #init: RestorePointsInit;
  /** Checkpoints loaded from this run's own directory (a resume), as opposed to restoreFrom. */
  readonly #own = new WeakSet<LoadedCheckpoint>();

  constructor(init: RestorePointsInit) {
    this.#init = init;
  }

  /** What a (re)start restores: this run's latest checkpoint, else restoreFrom, else nothing. */
  async latest(): Promise<LoadedCheckpoint | undefined> {
    const own = await this.#latestOwn();
    const { restoreFrom } = this.#init;
    if (own || !restoreFrom) return own;
    const loaded = await this.load(restoreFrom);
    loaded.transactionsCommitted = this.sinksCommitted(loaded);
    return loaded;
  }

  /**
   * Whether a stop-with-savepoint's sinks are known to have committed: its run noted it in
   * the savepoint's `_metadata` as it ended (`sinksCommitted`; committing again would
   * duplicate output in a sink that is not idempotent). Without the note the run may have
   * died between the savepoint and the commits, and its transactions are committed again
   * (idempotently). Metadata of a weir before the note (no `commitsMarked`) keeps the rule
   * it was written under: committed when another job run restores it.
   */
  sinksCommitted(loaded: LoadedCheckpoint): boolean {
    const m = loaded.metadata;
    if (m.terminal !== true) return false;
    if (m.commitsMarked !== true) return m.jobId !== this.#init.jobId;
    return m.sinksCommitted === true;
  }

  /** Loads a checkpoint or savepoint from a restore source, named by its location. */
  async load(source: RestoreSource): Promise<LoadedCheckpoint> {
    source = await resolved(source);
    const loaded = await loadCheckpoint(source.storage, source.dir, this.#loadOptions());
    loaded.location = source.location;
    loaded.home = source.home ?? { kind: "directory", path: source.location };
    readSharedFilesAtRoot(loaded, (root) => openDirectory(root, "restoreFrom"));
    return loaded;
  }

  /**
   * Refuses a restore that does not fit the graph. When the checkpoint is one of this run's
   * own, the start resumed an unfinished run of the same jobName and storage (a crashed
   * process, or another job that used the name): the error says how to start fresh.
   * @throws {WeirError} what checkCompatible and checkChannelState throw
   */
  check(restore: LoadedCheckpoint): void {
    const { graph, restoreFrom, jobName, jobId, storage } = this.#init;
    try {
      checkCompatible(restore, graph.vertices, restoreFrom?.allowNonRestoredState ?? false, graph.maxParallelism);
      checkChannelState(restore, graph);
    } catch (e) {
      if (!(e instanceof WeirError) || !this.#own.has(restore)) throw e;
      this.#init.onOwnRefused();
      throw new WeirError(
        e.code,
        `Job "${jobName}" resumes the unfinished run ${jobId} found in ${storage.description} (same jobName and storage), but that run's checkpoint does not fit this job: ${e.message.replace(/ \(set allowNonRestoredState to skip it\)$/, "")}. ` +
          `To start fresh, set the option fresh: true (weir run FILE --fresh, npm start -- --fresh) or use another jobName or storage; the earlier run's checkpoints stay at ${restore.location} for restoreFrom`,
        { cause: e },
      );
    }
  }

  /**
   * Which state files the master reads of a checkpoint it restores: with remote hosts, only
   * those of the subtasks in this process (each host reads its own part itself), all of
   * them for a checkpoint with unaligned parts (its channel state is checked against the
   * graph here). A job with every subtask remote reads the metadata alone.
   */
  #loadOptions(): LoadOptions {
    const { graph, tuning: { hostOf, remoteHosts } } = this.#init;
    if (!hostOf || !remoteHosts) return {};
    const local: string[] = [];
    for (const v of graph.vertices) {
      for (let i = 0; i < v.parallelism; i++) if (!Object.hasOwn(remoteHosts, hostOf({ vertexId: v.id, subtaskIndex: i }))) local.push(`${v.id}/${i}`);
    }
    const mine = filesForSubtasks(graph, local);
    return { only: (ref, metadata) => metadata.unaligned || mine(ref, metadata) };
  }

  async #latestOwn(): Promise<LoadedCheckpoint | undefined> {
    const { storage, jobName, jobId } = this.#init;
    const ids = await listCompleted(storage, jobName, jobId);
    if (ids.length === 0) return undefined;
    const dir = checkpointDir(jobName, jobId, ids[ids.length - 1]);
    const loaded = await loadCheckpoint(storage, dir, this.#loadOptions());
    loaded.location = `${storage.description}/${dir}`;
    loaded.home = { kind: "job", dir };
    this.#own.add(loaded);
    return loaded;
  }
}

/** The source at the directory its `_metadata` is in: `dir`, else `orDir` when given. */
async function resolved(source: RestoreSource): Promise<RestoreSource> {
  if (source.orDir !== undefined && (await source.storage.get(joinKey(source.dir, METADATA_FILE))) === undefined) return atDir(source, source.orDir);
  return source;
}


/** The restore source read at directory `dir` of its storage. */
function atDir(source: RestoreSource, dir: string): RestoreSource {
  const location = `${source.storage.description}/${dir}`;
  const home = source.home?.kind === "storage" ? { ...source.home, dir } : source.home;
  return { ...source, dir, orDir: undefined, location, home };
}
