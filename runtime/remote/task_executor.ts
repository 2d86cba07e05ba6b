/**
 * The host side of the control plane (Flink's `TaskExecutor`): runs the subtasks the job
 * master deployed here, built from the host's own copy of the job graph (user functions
 * do not serialize: the host builds the graph from the same code, as Flink ships the job
 * jar to every TaskManager), and reports everything its subtasks tell their host back to
 * the master as messages.
 * @module
 */
import { Dispatcher } from "../../actors/dispatcher.ts";
import type { Clock, Scheduler } from "../../actors/time.ts";
import type { SubtaskAddress, Transport } from "../../actors/transport.ts";
import type { CheckpointFailureReason } from "../../checkpoint/failure_reason.ts";
import { checkpointDir, joinKey } from "../../checkpoint/metadata.ts";
import type { JobGraph } from "../../dataflow/job_graph.ts";
import { WeirError } from "../../errors.ts";
import { type StorageAdapter, joinParts, putInParts } from "../../storage/adapter.ts";
import { HostedSubtasks, type PlainTuning } from "../subtask_builder.ts";
import { subtaskMetrics } from "../subtask_metrics.ts";
import type { Timer } from "../../actors/time.ts";
import type { SubtaskAck, SubtaskHost } from "../subtask_host.ts";
import { type DirectoryOpener, openDirectory } from "../../storage/directory.ts";
import { type HostRestore, loadHostRestore } from "./host_restore.ts";
import { type GraphFingerprint, type StateTarget, type ToHost, type ToMaster, toWireError } from "./messages.ts";

/** What a host is built from. */
export interface TaskExecutorInit {
  /** The name the master's hostOf() gives this host. */
  hostId: string;
  /** The job graph, built here from the same user code as the master's. */
  graph: JobGraph;
  /** The job's storage: checkpoint state files and shared state go there, as from the master's process. */
  storage: StorageAdapter;
  /**
   * `storage` must be the master's, as its `description` tells (Worker threads reach the same
   * files); unset where a host's storage is its own by design (Cloudflare's subtask objects).
   */
  sameStorage?: boolean;
  /** Reaches the channel ends of every other host. */
  transport: Transport;
  /**
   * Opens the directory path of a restored savepoint or checkpoint (a `restoreFrom` path, a
   * stop savepoint); the runtime's installed DirectoryOpener unless set.
   */
  openDirectory?: DirectoryOpener;
  /** The StorageAdapter given to `restoreFrom` in code, when the host can reach it too. */
  restoreStorage?: StorageAdapter;
  clock: Clock;
  scheduler: Scheduler;
  /** Sends a message to the master (the connection encodes it); may throw (the host then fails). */
  send(message: ToMaster): void;
}

/** How often a host reports its subtasks' figures unless the deploy says (Flink's metric fetcher polls every 10 s; the dashboard wants fresher). */
const METRICS_INTERVAL_MS_DEFAULT = 1_000;

/**
 * Runs one attempt at a time: a `deploy` of a newer attempt replaces the running one.
 *
 * @example
 * ```ts
 * import { TaskExecutor } from "./task_executor.ts";
 * import { MemoryTransport } from "../../actors/memory_transport.ts";
 * import { MemoryStorage } from "../../storage/memory.ts";
 * import { systemClock, systemScheduler } from "../../platforms/system.ts";
 * const sent: string[] = [];
 * const host = new TaskExecutor({
 *   hostId: "w1", graph: { vertices: [], edges: [], maxParallelism: 128 }, storage: new MemoryStorage(),
 *   transport: new MemoryTransport(), clock: systemClock, scheduler: systemScheduler, send: (m) => void sent.push(m.kind),
 * });
 * host.handle({ kind: "start", attempt: 0 }); // nothing deployed: ignored
 * console.assert(sent.length === 0);
 * ```
 */
export class TaskExecutor {
  readonly hostId: string;
  readonly #init: TaskExecutorInit;
  readonly #dispatcher: Dispatcher;
  #attempt: HostedAttempt | undefined;

  constructor(init: TaskExecutorInit) {
    this.hostId = init.hostId;
    this.#init = init;
    this.#dispatcher = new Dispatcher(init.clock, init.scheduler);
  }

  /** The attempt running here, if any. */
  get attempt(): number | undefined {
    return this.#attempt?.attempt;
  }

  /** Subtasks running here (for tests and metrics). */
  get subtaskCount(): number {
    return this.#attempt?.subtasks?.subtasks.length ?? 0;
  }

  /** Handles a message from the master. Messages of another attempt than the running one are ignored. */
  handle(m: ToHost): void {
    if (m.kind === "deploy") {
      if (this.#attempt && m.attempt <= this.#attempt.attempt) return;
      this.#attempt?.stop();
      const a = new HostedAttempt(this.#init, this.#dispatcher, m.attempt);
      this.#attempt = a;
      void a.deploy(m);
      return;
    }
    const a = this.#attempt;
    if (!a || a.attempt !== m.attempt) return;
    a.handle(m);
  }

  /** Stops whatever runs here (the host shuts down). */
  stop(): void {
    this.#attempt?.stop();
    this.#attempt = undefined;
  }
}

/** One execution attempt's subtasks on this host, and the SubtaskHost they report to. */
class HostedAttempt implements SubtaskHost {
  readonly attempt: number;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  batchSize = 0;
  stepBudgetMs = 4;
  snapshotSliceMax: number | undefined;
  channelStateMaxBytes = 0;
  subtasks: HostedSubtasks | undefined;
  readonly #init: TaskExecutorInit;
  readonly #dispatcher: Dispatcher;
  #running = true;
  #jobName = "";
  #jobId = "";
  /** Where each checkpoint's state files go, as the master said; writes wait for it. */
  readonly #targets = new Map<number, StateTarget>();
  readonly #targetWaiters = new Map<number, ((t: StateTarget) => void)[]>();
  readonly #writes = new Map<number, { resolve(key: string): void; reject(e: Error): void }>();
  #nextRequest = 0;
  #metricsTimer: Timer | undefined;

  constructor(init: TaskExecutorInit, dispatcher: Dispatcher, attempt: number) {
    this.#init = init;
    this.#dispatcher = dispatcher;
    this.attempt = attempt;
    this.clock = init.clock;
    this.scheduler = init.scheduler;
  }

  async deploy(m: Extract<ToHost, { kind: "deploy" }>): Promise<void> {
    try {
      checkFingerprint(this.#init.graph, m.graph, this.#init.hostId);
      if (this.#init.sameStorage && m.storage !== undefined && m.storage !== this.#init.storage.description) {
        // Its checkpoint files would land where the master never restores them from.
        throw new WeirError("invalid_option", `Host ${this.#init.hostId} built the job with storage ${this.#init.storage.description}, the master's is ${m.storage}: both must build it with the same storage`);
      }
      this.#jobName = m.jobName;
      this.#jobId = m.jobId;
      this.#applyTuning(m.tuning);
      // Reports start now, not once deployed: while this host reads and loads its state
      // (minutes for a large one), they tell the master it is alive, and a slow restore is
      // not taken for a dead host (Flink heartbeats during the restore too).
      this.#scheduleMetrics(m.metricsIntervalMs ?? METRICS_INTERVAL_MS_DEFAULT);
      const mine = new Map(m.subtasks.map((s) => [`${s.vertexId}/${s.subtaskIndex}`, s]));
      const init = this.#init;
      // The deploy says where the checkpoint is; this host reads its own subtasks' part.
      const restore: HostRestore | undefined = m.restore
        ? await loadHostRestore({ hostId: init.hostId, storage: init.storage, openDirectory: init.openDirectory, restoreStorage: init.restoreStorage }, init.graph, m.restore, [...mine.keys()])
        : undefined;
      if (!this.#running) return;
      const subtasks = new HostedSubtasks({
        host: this,
        graph: this.#init.graph,
        jobName: m.jobName,
        jobId: m.jobId,
        attempt: m.attempt,
        storage: this.#init.storage,
        clock: this.#init.clock,
        tuning: m.tuning,
        transport: this.#init.transport,
        restoredCheckpointId: m.restoredCheckpointId,
        isLocal: (s) => mine.has(`${s.vertexId}/${s.subtaskIndex}`),
        dispatcherFor: () => this.#dispatcher,
        restoreOf: (v, i, range) => restore?.stateOf(v, i, range),
      });
      this.subtasks = subtasks;
      await subtasks.open(() => this.#running);
      if (!this.#running) return;
      // Channel state, routed to the subtasks that now own it, is replayed before anything new.
      for (const [to, list] of restore?.inFlight ?? []) if (mine.has(to)) subtasks.restoreInFlight(to, list);
      this.#send({ kind: "deployed", attempt: this.attempt, hostId: this.#init.hostId });
    } catch (e) {
      this.failed(`deploy on host ${this.#init.hostId}`, e);
    }
  }

  handle(m: Exclude<ToHost, { kind: "deploy" }>): void {
    if (!this.#running) return;
    const all = this.subtasks?.subtasks ?? [];
    const sources = this.subtasks?.sources ?? [];
    switch (m.kind) {
      case "start":
        this.subtasks?.start();
        return;
      case "triggerCheckpoint":
        this.#setTarget(m.barrier.checkpointId, m.target);
        for (const s of sources) s.post({ kind: "trigger", barrier: m.barrier });
        return;
      case "snapshotAll":
        this.#setTarget(m.barrier.checkpointId, m.target);
        for (const s of all) s.post({ kind: "finalSnapshot", barrier: m.barrier });
        return;
      case "notifyCheckpointComplete":
        this.#forget(m.checkpointId);
        for (const s of all) s.post({ kind: "complete", checkpointId: m.checkpointId, final: m.final });
        return;
      case "notifyCheckpointAborted":
        for (const s of all) s.post({ kind: "abort", checkpointId: m.checkpointId, reason: m.reason });
        return;
      case "endInput":
        for (const s of sources) s.post({ kind: "endInput" });
        return;
      case "resumeSources":
        for (const s of sources) s.post({ kind: "resume" });
        return;
      case "stateWritten":
        this.#writes.get(m.requestId)?.resolve(m.key);
        this.#writes.delete(m.requestId);
        return;
      case "stateWriteFailed":
        this.#writes.get(m.requestId)?.reject(new WeirError("storage_failed", m.message));
        this.#writes.delete(m.requestId);
        return;
      case "cancel":
        this.stop();
        return;
      default:
        throw new WeirError("invariant_broken", `Unknown master message kind ${JSON.stringify((m as { kind?: unknown }).kind)}`);
    }
  }

  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#metricsTimer?.cancel();
    this.subtasks?.stop();
    for (const w of this.#writes.values()) w.reject(new WeirError("job_not_running", `Attempt ${this.attempt} stopped`));
    this.#writes.clear();
  }

  /**
   * One message per interval carries every subtask's figures: the rate is bounded whatever
   * the subtasks do. A subtask's end of input and its final commit send one more, so the
   * master ends with its final counts however short the run.
   */
  #scheduleMetrics(intervalMs: number): void {
    this.#metricsTimer = this.scheduler.after(intervalMs, () => {
      this.#reportMetrics();
      this.#scheduleMetrics(intervalMs);
    });
  }

  #reportMetrics(): void {
    if (!this.#running) return;
    const subtasks = (this.subtasks?.subtasks ?? []).map((s) => ({ vertexId: s.vertexId, ...subtaskMetrics(s) }));
    this.#send({ kind: "metrics", attempt: this.attempt, subtasks });
  }

  #applyTuning(t: PlainTuning): void {
    this.batchSize = t.batchSize;
    this.stepBudgetMs = t.stepBudgetMs ?? 4;
    this.snapshotSliceMax = t.snapshotSliceMax;
    this.channelStateMaxBytes = t.channelStateMaxBytes;
  }

  #setTarget(id: number, target: StateTarget): void {
    this.#targets.set(id, target);
    for (const w of this.#targetWaiters.get(id) ?? []) w(target);
    this.#targetWaiters.delete(id);
    // Targets of checkpoints far behind are of no use any more (they completed or failed).
    for (const old of this.#targets.keys()) if (old < id - 64) this.#targets.delete(old);
  }

  #forget(id: number): void {
    this.#targets.delete(id);
  }

  /** Where checkpoint `id` goes: known once the master's trigger arrived (a barrier may come first, through a channel). */
  #target(id: number): Promise<StateTarget> {
    const t = this.#targets.get(id);
    if (t) return Promise.resolve(t);
    return new Promise((resolve) => {
      let list = this.#targetWaiters.get(id);
      if (!list) this.#targetWaiters.set(id, (list = []));
      list.push(resolve);
    });
  }

  #send(m: ToMaster): void {
    if (!this.#running) return;
    try {
      this.#init.send(m);
    } catch (e) {
      // The master cannot be told: nothing here can go on. The master learns it from its
      // connection (failed) or from the missing acks (checkpoint timeout).
      this.stop();
      throw e;
    }
  }

  // ---- SubtaskHost ----

  async writeState(vertexId: string, subtaskIndex: number, checkpointId: number, parts: Iterable<Uint8Array>): Promise<string> {
    const target = await this.#target(checkpointId);
    const file = `${vertexId}-${subtaskIndex}`;
    if (target === "job") {
      const key = joinKey(checkpointDir(this.#jobName, this.#jobId, checkpointId), file);
      await putInParts(this.#init.storage, key, parts);
      return key;
    }
    const savepoint = target === "master" ? undefined : this.#openSavepoint(target.directory);
    if (savepoint && target !== "master") {
      // The savepoint's files go straight from here: no message carries them (32 MiB per RPC).
      const key = joinKey(target.dir, file);
      await putInParts(savepoint, key, parts);
      return key;
    }
    // A message to the master carries the file in one buffer.
    const bytes = joinParts([...parts]);
    const requestId = this.#nextRequest++;
    return new Promise<string>((resolve, reject) => {
      this.#writes.set(requestId, { resolve, reject });
      this.#send({ kind: "writeState", attempt: this.attempt, requestId, vertexId, subtaskIndex, checkpointId, bytes });
    });
  }
  /** The savepoint directory as this host opens it; undefined when it cannot (no opener): the master writes then. */
  #openSavepoint(directory: string): StorageAdapter | undefined {
    try {
      return (this.#init.openDirectory ?? ((p: string) => openDirectory(p, "The savepoint target directory")))(directory).storage;
    } catch (e) {
      if (e instanceof WeirError && e.code === "storage_unavailable") return undefined;
      throw e;
    }
  }
  acknowledge(ack: SubtaskAck): void {
    this.#send({ kind: "acknowledge", attempt: this.attempt, ack });
  }
  decline(checkpointId: number, reason: CheckpointFailureReason, message: string): void {
    this.#send({ kind: "decline", attempt: this.attempt, checkpointId, reason, message });
  }
  failed(subtaskName: string, error: unknown): void {
    this.#send({ kind: "failed", attempt: this.attempt, subtaskName, error: toWireError(error) });
  }
  sourceFinished(vertexId: string, subtaskIndex: number): void {
    this.#send({ kind: "sourceFinished", attempt: this.attempt, subtask: address(vertexId, subtaskIndex) });
  }
  inputEnded(vertexId: string, subtaskIndex: number): void {
    this.#reportMetrics();
    this.#send({ kind: "inputEnded", attempt: this.attempt, subtask: address(vertexId, subtaskIndex) });
  }
  finalCommitted(vertexId: string, subtaskIndex: number): void {
    this.#reportMetrics();
    this.#send({ kind: "finalCommitted", attempt: this.attempt, subtask: address(vertexId, subtaskIndex) });
  }
}

function address(vertexId: string, subtaskIndex: number): SubtaskAddress {
  return { vertexId, subtaskIndex };
}

/**
 * The host's graph must be the master's: same vertices, parallelism, uids, maxParallelism.
 * @throws {WeirError} `host_failed` naming the first difference.
 */
function checkFingerprint(graph: JobGraph, expected: GraphFingerprint, hostId: string): void {
  const refuse = (what: string) => {
    throw new WeirError("host_failed", `Host ${hostId} built another job graph than the master: ${what}; the host must build the graph from the same code and options`);
  };
  if (graph.maxParallelism !== expected.maxParallelism) refuse(`maxParallelism ${graph.maxParallelism}, the master's ${expected.maxParallelism}`);
  if (graph.vertices.length !== expected.vertices.length) refuse(`${graph.vertices.length} vertices, the master's ${expected.vertices.length}`);
  expected.vertices.forEach((e, i) => {
    const v = graph.vertices[i];
    if (v.id !== e.id || v.parallelism !== e.parallelism || v.uids.join() !== e.uids.join()) {
      refuse(`vertex ${v.id} (${v.name}) at parallelism ${v.parallelism} with uids ${v.uids.join(", ")}, the master's ${e.id} at ${e.parallelism} with ${e.uids.join(", ")}`);
    }
  });
}
