import { MemoryTransport } from "../actors/memory_transport.ts";
import type { SubtaskAddress, Transport } from "../actors/transport.ts";
import type { Dispatcher } from "../actors/dispatcher.ts";
import type { Barrier } from "../actors/messages.ts";
import type { Clock, Scheduler } from "../actors/time.ts";
import type { CheckpointCoordinator, CheckpointTarget } from "../checkpoint/coordinator.ts";
import type { CheckpointFailureReason } from "../checkpoint/failure_reason.ts";
import { checkpointDir, joinKey } from "../checkpoint/metadata.ts";
import { routeChannelState } from "../checkpoint/channel_state_restore.ts";
import { type LoadedCheckpoint, stateForSubtask } from "../checkpoint/restore.ts";
import type { JobGraph } from "../dataflow/job_graph.ts";
import { type StorageAdapter, putInParts } from "../storage/adapter.ts";
import { checkpointChunks } from "../codec/chunk_pool.ts";
import type { RemoteHost } from "./remote/gateway.ts";
import { RemoteHosts } from "./remote/remote_hosts.ts";
import type { StateTarget } from "./remote/messages.ts";
import type { Subtask } from "./subtask.ts";
import type { SubtaskMetrics } from "./subtask_metrics.ts";
import { HostedSubtasks, type PlainTuning } from "./subtask_builder.ts";
import type { SubtaskAck, SubtaskHost } from "./subtask_host.ts";

/** What an execution needs from its job master. */
export interface ExecutionOwner {
  readonly jobName: string;
  readonly jobId: string;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  /** The dispatcher of the default host. */
  readonly dispatcher: Dispatcher;
  /** A further dispatcher, for another host. */
  newDispatcher(): Dispatcher;
  readonly storage: StorageAdapter;
  readonly coordinator: CheckpointCoordinator;
  executionFailed(execution: Execution, error: unknown): void;
  allSourcesFinished(execution: Execution): void;
  allInputEnded(execution: Execution): void;
  finalCommitted(execution: Execution): void;
}

/**
 * Sizes of the data plane (PlainTuning: batchSize, channelCapacity, channelStateMaxBytes,
 * objectReuse, autoWatermarkIntervalMs, stepBudgetMs 4 ms unless set, snapshotSliceMax,
 * state), and where subtasks run.
 */
export interface ExecutionTuning extends PlainTuning {
  /**
   * Carries every channel's batches, barriers and credit between subtasks; an in-memory
   * transport of the execution's own unless set (actors/transport.ts has the contract).
   */
  transport?: Transport;
  /**
   * Which host (thread, worker, Durable Object) runs each subtask: each host gets a
   * dispatcher of its own, and subtasks meet only through the transport. All subtasks on
   * one host unless set.
   */
  hostOf?: (subtask: SubtaskAddress) => string;
  /**
   * Hosts outside this process, by the name hostOf() gives them: their subtasks are
   * deployed there through the control plane (runtime/remote/), the rest run here.
   */
  remoteHosts?: Readonly<Record<string, RemoteHost>>;
  /** The name hostOf() gives the master's own process besides "main" and "master" (RuntimeOptions.masterHost). */
  masterHost?: string;
  /** Milliseconds a remote host has to answer a deploy (RemoteHostsInit.deployTimeoutMs). */
  deployTimeoutMs?: number;
  /** How often remote hosts report their subtasks' figures (RemoteHostsInit.metricsIntervalMs). */
  metricsIntervalMs?: number;
  /** How long a running remote host may stay silent (RemoteHostsInit.heartbeatTimeoutMs). */
  heartbeatTimeoutMs?: number;
}

/**
 * One execution attempt of a job graph: the subtask actors and the channels between
 * them, restored from a checkpoint or fresh. The subtasks of remote hosts
 * (`tuning.remoteHosts`) are deployed there and report back through the control plane;
 * the rest run in this process. A restart builds a new Execution; calls from a stopped
 * one are ignored.
 */
export class Execution implements SubtaskHost, CheckpointTarget {
  readonly attempt: number;
  readonly vertices: CheckpointTarget["vertices"];
  readonly batchSize: number;
  readonly channelStateMaxBytes: number;
  readonly stepBudgetMs: number;
  readonly snapshotSliceMax: number | undefined;
  readonly #owner: ExecutionOwner;
  readonly #graph: JobGraph;
  readonly #tuning: ExecutionTuning;
  readonly #transport: Transport;
  readonly #dispatchers = new Map<string, Dispatcher>();
  #local: HostedSubtasks | undefined;
  #remote: RemoteHosts | undefined;
  #running = true;
  #restoredId = 0;
  /** Source subtasks and subtasks of the whole graph, on every host. */
  readonly #sourceTotal: number;
  readonly #subtaskTotal: number;
  #sourcesFinished = new Set<string>();
  #finalCommitted = new Set<string>();
  #inputEnded = new Set<string>();

  constructor(owner: ExecutionOwner, graph: JobGraph, attempt: number, tuning: ExecutionTuning) {
    this.#owner = owner;
    this.#graph = graph;
    this.attempt = attempt;
    this.#tuning = tuning;
    this.batchSize = tuning.batchSize;
    this.channelStateMaxBytes = tuning.channelStateMaxBytes;
    this.stepBudgetMs = tuning.stepBudgetMs ?? 4;
    this.#transport = tuning.transport ?? new MemoryTransport();
    this.snapshotSliceMax = tuning.snapshotSliceMax;
    this.vertices = graph.vertices.map((v) => ({ id: v.id, name: v.name, parallelism: v.parallelism, uids: v.uids }));
    this.#sourceTotal = graph.vertices.reduce((n, v) => n + (v.source ? v.parallelism : 0), 0);
    this.#subtaskTotal = graph.vertices.reduce((n, v) => n + v.parallelism, 0);
  }

  get clock(): Clock {
    return this.#owner.clock;
  }
  get scheduler(): Scheduler {
    return this.#owner.scheduler;
  }
  /** The subtasks running in this process (remote hosts' subtasks are not here). */
  get subtasks(): readonly Subtask[] {
    return this.#local?.subtasks ?? [];
  }
  /** The source subtasks running in this process. */
  get sources(): readonly Subtask[] {
    return this.#local?.sources ?? [];
  }

  /** The figures of a vertex's subtasks on remote hosts, as last reported (none: no remote hosts). */
  remoteMetrics(vertexId: string): SubtaskMetrics[] {
    return this.#remote?.metricsOf(vertexId) ?? [];
  }

  /** The dispatcher of the host that runs the subtask. */
  dispatcherFor(subtask: SubtaskAddress): Dispatcher {
    const hostOf = this.#tuning.hostOf;
    if (hostOf === undefined) return this.#owner.dispatcher;
    const host = hostOf(subtask);
    let d = this.#dispatchers.get(host);
    if (!d) this.#dispatchers.set(host, (d = this.#owner.newDispatcher()));
    return d;
  }

  /** Hosts in this process with a dispatcher of their own (0: every subtask on the job's dispatcher). */
  get hostCount(): number {
    return this.#dispatchers.size;
  }
  get running(): boolean {
    return this.#running;
  }

  /**
   * Creates, wires, opens and restores every subtask of this process and deploys the
   * others to their remote hosts; once every host is ready, lets them all run.
   * @throws anything a subtask's open or a host's deploy throws (the attempt fails).
   */
  async deploy(restore: LoadedCheckpoint | undefined): Promise<void> {
    this.#restoredId = restore?.metadata.checkpointId ?? 0;
    const inFlight = restore ? routeChannelState(restore, this.#graph) : undefined;
    const { hostOf, remoteHosts } = this.#tuning;
    const remoteOf = (s: SubtaskAddress): RemoteHost | undefined => {
      if (!remoteHosts || !hostOf) return undefined;
      // Own keys only: a host named "constructor" is not Object's.
      const id = hostOf(s);
      return Object.hasOwn(remoteHosts, id) ? remoteHosts[id] : undefined;
    };
    const local = new HostedSubtasks({
      host: this,
      graph: this.#graph,
      jobName: this.#owner.jobName,
      jobId: this.#owner.jobId,
      attempt: this.attempt,
      storage: this.#owner.storage,
      clock: this.#owner.clock,
      tuning: this.#tuning,
      transport: this.#transport,
      restoredCheckpointId: this.#restoredId,
      isLocal: (s) => remoteOf(s) === undefined,
      dispatcherFor: (s) => this.dispatcherFor(s),
      // A backend other than heap (sqlite) may copy restored key groups as the bytes they are.
      restoreOf: (v, i, range) => (restore ? stateForSubtask(restore, v, i, range, { encodedKeyedGroups: (this.#tuning.state?.backend ?? "heap") !== "heap" }) : undefined),
    });
    this.#local = local;
    if (remoteHosts && hostOf) {
      this.#remote = new RemoteHosts(this, {
        graph: this.#graph,
        jobName: this.#owner.jobName,
        jobId: this.#owner.jobId,
        tuning: plainTuning(this.#tuning),
        storage: this.#owner.storage.description,
        remoteOf,
        deployTimeoutMs: this.#tuning.deployTimeoutMs,
        metricsIntervalMs: this.#tuning.metricsIntervalMs,
        heartbeatTimeoutMs: this.#tuning.heartbeatTimeoutMs,
      });
    }
    await local.open(() => this.#running);
    if (!this.#running) return;
    // Channel state, routed to the subtasks that now own it, is replayed before anything new.
    for (const [to, list] of inFlight ?? []) {
      const [vertexId, index] = splitSubtaskKey(to);
      if (remoteOf({ vertexId, subtaskIndex: index }) === undefined) local.restoreInFlight(to, list);
    }
    if (this.#remote) {
      await this.#remote.deploy(restore, this.#restoredId);
      if (!this.#running) return;
    }
    local.start();
    this.#remote?.start();
  }

  /** Stops every subtask (here, and on remote hosts: cancel); later calls from them are ignored. */
  stop(): void {
    this.#running = false;
    this.#local?.stop();
    this.#remote?.cancel();
  }

  /**
   * Where checkpoint n's state files go: the job's storage or a savepoint's directory, which
   * hosts write themselves, else through the master.
   */
  stateTarget(checkpointId: number): StateTarget {
    const { storage, dir, directory } = this.#owner.coordinator.locate(checkpointId);
    if (storage === this.#owner.storage && dir === checkpointDir(this.#owner.jobName, this.#owner.jobId, checkpointId)) return "job";
    return directory !== undefined ? { directory, dir } : "master";
  }

  // ---- CheckpointTarget ----

  triggerSources(barrier: Barrier): void {
    // Remote hosts first: every host learns where the checkpoint's files go before a
    // barrier can reach it through a channel.
    this.#remote?.send({ kind: "triggerCheckpoint", attempt: this.attempt, barrier, target: this.stateTarget(barrier.checkpointId) });
    for (const s of this.sources) s.post({ kind: "trigger", barrier });
  }
  /** Sources end their input (read nothing more) and send end-of-partition downstream. */
  endInput(): void {
    this.#remote?.send({ kind: "endInput", attempt: this.attempt });
    for (const s of this.sources) s.post({ kind: "endInput" });
  }
  snapshotAll(barrier: Barrier): void {
    this.#remote?.send({ kind: "snapshotAll", attempt: this.attempt, barrier, target: this.stateTarget(barrier.checkpointId) });
    for (const s of this.subtasks) s.post({ kind: "finalSnapshot", barrier });
  }
  notifyComplete(checkpointId: number, final: boolean): void {
    this.#remote?.send({ kind: "notifyCheckpointComplete", attempt: this.attempt, checkpointId, final });
    for (const s of this.subtasks) s.post({ kind: "complete", checkpointId, final });
  }
  resumeSources(): void {
    this.#remote?.send({ kind: "resumeSources", attempt: this.attempt });
    for (const s of this.sources) s.post({ kind: "resume" });
  }
  notifyAborted(checkpointId: number, reason: CheckpointFailureReason): void {
    this.#remote?.send({ kind: "notifyCheckpointAborted", attempt: this.attempt, checkpointId, reason });
    for (const s of this.subtasks) s.post({ kind: "abort", checkpointId, reason });
  }

  // ---- SubtaskHost ----

  writeState(vertexId: string, subtaskIndex: number, checkpointId: number, parts: Iterable<Uint8Array>): Promise<string> {
    const { storage, dir } = this.#owner.coordinator.locate(checkpointId);
    const key = joinKey(dir, `${vertexId}-${subtaskIndex}`);
    // A heap snapshot's chunks serve the next checkpoint once stored (codec/chunk_pool.ts).
    return putInParts(storage, key, parts, checkpointChunks).then(() => key);
  }
  acknowledge(ack: SubtaskAck): void {
    if (this.#running) this.#owner.coordinator.acknowledge(ack);
  }
  decline(checkpointId: number, reason: CheckpointFailureReason, message: string): void {
    if (this.#running) this.#owner.coordinator.decline(checkpointId, reason, message);
  }
  failed(_subtaskName: string, error: unknown): void {
    if (this.#running) this.#owner.executionFailed(this, error);
  }
  sourceFinished(vertexId: string, subtaskIndex: number): void {
    if (!this.#running) return;
    this.#sourcesFinished.add(`${vertexId}-${subtaskIndex}`);
    if (this.#sourcesFinished.size === this.#sourceTotal) this.#owner.allSourcesFinished(this);
  }
  inputEnded(vertexId: string, subtaskIndex: number): void {
    if (!this.#running) return;
    this.#inputEnded.add(`${vertexId}-${subtaskIndex}`);
    if (this.#inputEnded.size === this.#subtaskTotal) this.#owner.allInputEnded(this);
  }
  finalCommitted(vertexId: string, subtaskIndex: number): void {
    if (!this.#running) return;
    this.#finalCommitted.add(`${vertexId}-${subtaskIndex}`);
    if (this.#finalCommitted.size === this.#subtaskTotal) this.#owner.finalCommitted(this);
  }
}

/** The plain-data part of the tuning, as remote hosts get it. */
function plainTuning(t: ExecutionTuning): PlainTuning {
  const plain: PlainTuning = { batchSize: t.batchSize, channelCapacity: t.channelCapacity, channelStateMaxBytes: t.channelStateMaxBytes };
  const optional = { bufferTimeoutMs: t.bufferTimeoutMs, objectReuse: t.objectReuse, autoWatermarkIntervalMs: t.autoWatermarkIntervalMs, stepBudgetMs: t.stepBudgetMs, snapshotSliceMax: t.snapshotSliceMax };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (plain as unknown as Record<string, unknown>)[k] = v;
  if (t.state) plain.state = { ...t.state };
  return plain;
}

/** "vertexId/index" → its parts (vertex ids never contain "/": they are generated). */
function splitSubtaskKey(key: string): [string, number] {
  const at = key.lastIndexOf("/");
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
