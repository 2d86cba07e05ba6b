import { InputChannel } from "../actors/input_channel.ts";
import { MemoryTransport } from "../actors/memory_transport.ts";
import { OutputChannel } from "../actors/output_channel.ts";
import type { ChannelAddress, SubtaskAddress, Transport } from "../actors/transport.ts";
import type { Dispatcher } from "../actors/dispatcher.ts";
import type { Barrier } from "../actors/messages.ts";
import { OutputGate } from "../actors/output_gate.ts";
import type { Clock, Scheduler } from "../actors/time.ts";
import type { CheckpointCoordinator, CheckpointTarget } from "../checkpoint/coordinator.ts";
import type { CheckpointFailureReason } from "../checkpoint/failure_reason.ts";
import { joinKey } from "../checkpoint/metadata.ts";
import { sharedStateDirectory } from "../checkpoint/shared_state.ts";
import { routeChannelState } from "../checkpoint/channel_state_restore.ts";
import { type LoadedCheckpoint, stateForSubtask } from "../checkpoint/restore.ts";
import type { JobGraph, JobVertex } from "../dataflow/job_graph.ts";
import type { OperatorContext } from "../dataflow/operator.ts";
import { keyGroupRangeFor } from "../state/key_group.ts";
import { type StateBackendOptions, stateBackendFactory } from "../state/backend_registry.ts";
import { WeirError } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { type ChainedOperator, Subtask } from "./subtask.ts";
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

/** Sizes of the data plane. */
export interface ExecutionTuning {
  batchSize: number;
  channelCapacity: number;
  channelStateMaxBytes: number;
  /** Records pass by reference between operators and receivers (no copies). */
  objectReuse?: boolean;
  /** Period of generated watermarks (ms); 200 unless set. */
  autoWatermarkIntervalMs?: number;
  /** See SubtaskHost.stepBudgetMs; 4 ms unless set. */
  stepBudgetMs?: number;
  /** See SubtaskHost.snapshotSliceMax. */
  snapshotSliceMax?: number;
  /** The job's `state` options (validated): which keyed state backend, incremental or not. */
  state?: StateBackendOptions;
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
}

/**
 * One execution attempt of a job graph: the subtask actors and the channels between
 * them, restored from a checkpoint or fresh. A restart builds a new Execution; calls
 * from a stopped one are ignored.
 */
export class Execution implements SubtaskHost, CheckpointTarget {
  readonly attempt: number;
  readonly subtasks: Subtask[] = [];
  readonly sources: Subtask[] = [];
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
  #running = true;
  #restoredId = 0;
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
  }

  get clock(): Clock {
    return this.#owner.clock;
  }
  get scheduler(): Scheduler {
    return this.#owner.scheduler;
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

  /** Hosts with a dispatcher of their own (0: every subtask on the job's dispatcher). */
  get hostCount(): number {
    return this.#dispatchers.size;
  }
  get running(): boolean {
    return this.#running;
  }

  /** Creates, wires, opens and restores every subtask, then lets them run. */
  async deploy(restore: LoadedCheckpoint | undefined): Promise<void> {
    this.#restoredId = restore?.metadata.checkpointId ?? 0;
    const inFlight = restore ? routeChannelState(restore, this.#graph) : undefined;
    const byVertex = new Map<string, Subtask[]>();
    const opens: (() => void | Promise<void>)[] = [];
    for (const v of this.#graph.vertices) {
      const list: Subtask[] = [];
      for (let i = 0; i < v.parallelism; i++) {
        const range = keyGroupRangeFor(i, v.parallelism, this.#graph.maxParallelism);
        const r = restore ? stateForSubtask(restore, v, i, range) : undefined;
        const subtask = this.#createSubtask(v, i, range, r, opens);
        list.push(subtask);
        this.subtasks.push(subtask);
        if (v.source) this.sources.push(subtask);
      }
      byVertex.set(v.id, list);
    }
    const byId = new Map(this.#graph.vertices.map((v) => [v.id, v]));
    // Input channels by "receiver vertex/index <- sender vertex/index", where channel state goes.
    const inputOf = new Map<string, InputChannel>();
    for (const e of this.#graph.edges) {
      const senders = byVertex.get(e.from)!;
      const receivers = byVertex.get(e.to)!;
      for (const s of senders) {
        const channels: OutputChannel[] = [];
        for (let j = 0; j < receivers.length; j++) {
          if (e.pointwise && j !== s.index) continue;
          const r = receivers[j];
          const address: ChannelAddress = {
            jobId: this.#owner.jobId,
            attempt: this.attempt,
            sender: { vertexId: s.vertexId, subtaskIndex: s.index },
            receiver: { vertexId: r.vertexId, subtaskIndex: r.index },
            inputIndex: r.inputs.inputCount,
            capacity: this.#tuning.channelCapacity,
          };
          // Each side opens its own end, as it would on another host.
          const input = new InputChannel(address, this.#transport, r);
          r.inputs.add(input);
          channels.push(new OutputChannel(address, this.#transport, s));
          inputOf.set(`${e.to}/${j}<-${e.from}/${s.index}`, input);
        }
        const first = byId.get(e.to)!.chain[0];
        // The first receiver of the first gate takes the emitted records themselves; every
        // other receiver a copy (a broadcast receiver never sees another one's mutation).
        const copies = this.#tuning.objectReuse ? "none" : s.gates.length === 0 ? "others" : "all";
        s.gates.push(new OutputGate(channels, e.partitioning, this.#tuning.batchSize, { name: first.name, uid: first.uid }, copies));
      }
    }
    for (const s of this.subtasks) s.connected();
    for (const open of opens) {
      if (!this.#running) return;
      await open();
    }
    if (!this.#running) return;
    // Channel state, routed to the subtasks that now own it, is replayed before anything new.
    for (const [to, list] of inFlight ?? []) {
      for (const { from, sender, batches } of list) {
        const ch = inputOf.get(`${to}<-${from}/${sender}`);
        if (!ch) throw new WeirError("invariant_broken", `Channel state routed to ${to} from ${from}/${sender}, which are not connected`);
        ch.restore(batches);
      }
    }
    for (const s of this.subtasks) s.start();
  }

  #createSubtask(
    v: JobVertex,
    index: number,
    range: { start: number; end: number },
    restore: ReturnType<typeof stateForSubtask> | undefined,
    opens: (() => void | Promise<void>)[],
  ): Subtask {
    const createBackend = stateBackendFactory(this.#tuning.state);
    const incremental = this.#tuning.state?.incremental ?? false;
    const ctxFor = (uid: string, name: string): OperatorContext => ({
      uid,
      name,
      subtaskIndex: index,
      parallelism: v.parallelism,
      maxParallelism: this.#graph.maxParallelism,
      keyGroupRange: range,
      clock: this.#owner.clock,
      attempt: this.attempt,
      jobName: this.#owner.jobName,
      storage: this.#owner.storage,
      jobId: this.#owner.jobId,
      objectReuse: this.#tuning.objectReuse ?? false,
      autoWatermarkIntervalMs: this.#tuning.autoWatermarkIntervalMs,
      keyedStateBackend: () =>
        createBackend({
          maxParallelism: this.#graph.maxParallelism,
          range,
          clock: this.#owner.clock,
          incremental,
          storage: this.#owner.storage,
          sharedDirectory: sharedStateDirectory(this.#owner.jobName, this.#owner.jobId),
          uid,
          subtaskIndex: index,
          jobId: this.#owner.jobId,
        }),
    });
    const chain: ChainedOperator[] = v.chain.map((spec) => ({ operator: spec.createOperator(), ctx: ctxFor(spec.uid, spec.name) }));
    let reader: { reader: ReturnType<NonNullable<JobVertex["source"]>["source"]["createReader"]>; ctx: OperatorContext } | undefined;
    if (v.source) {
      const ctx = ctxFor(v.source.uid, v.source.name);
      reader = { reader: v.source.source.createReader(ctx), ctx };
      const restored = restore?.operators.get(v.source.uid)?.operator;
      opens.push(() => reader!.reader.open(ctx, restored));
    }
    for (const { operator, ctx } of chain) opens.push(() => operator.open(ctx, restore?.operators.get(ctx.uid)));
    return new Subtask(this, {
      vertexId: v.id,
      index,
      parallelism: v.parallelism,
      name: `${v.name} (${index + 1}/${v.parallelism})`,
      chain,
      reader,
      restoredCheckpointId: this.#restoredId,
      keyGroupRange: range,
      dispatcher: this.dispatcherFor({ vertexId: v.id, subtaskIndex: index }),
    });
  }

  /** Stops every subtask; later calls from them are ignored. */
  stop(): void {
    this.#running = false;
    for (const s of this.subtasks) s.stop();
  }

  // ---- CheckpointTarget ----

  triggerSources(barrier: Barrier): void {
    for (const s of this.sources) s.post({ kind: "trigger", barrier });
  }
  /** Sources end their input (read nothing more) and send end-of-partition downstream. */
  endInput(): void {
    for (const s of this.sources) s.post({ kind: "endInput" });
  }
  snapshotAll(barrier: Barrier): void {
    for (const s of this.subtasks) s.post({ kind: "finalSnapshot", barrier });
  }
  notifyComplete(checkpointId: number, final: boolean): void {
    for (const s of this.subtasks) s.post({ kind: "complete", checkpointId, final });
  }
  resumeSources(): void {
    for (const s of this.sources) s.post({ kind: "resume" });
  }
  notifyAborted(checkpointId: number, reason: CheckpointFailureReason): void {
    for (const s of this.subtasks) s.post({ kind: "abort", checkpointId, reason });
  }

  // ---- SubtaskHost ----

  writeState(vertexId: string, subtaskIndex: number, checkpointId: number, bytes: Uint8Array): Promise<string> {
    const { storage, dir } = this.#owner.coordinator.locate(checkpointId);
    const key = joinKey(dir, `${vertexId}-${subtaskIndex}`);
    return storage.put(key, bytes).then(() => key);
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
    if (this.#sourcesFinished.size === this.sources.length) this.#owner.allSourcesFinished(this);
  }
  inputEnded(vertexId: string, subtaskIndex: number): void {
    if (!this.#running) return;
    this.#inputEnded.add(`${vertexId}-${subtaskIndex}`);
    if (this.#inputEnded.size === this.subtasks.length) this.#owner.allInputEnded(this);
  }
  finalCommitted(vertexId: string, subtaskIndex: number): void {
    if (!this.#running) return;
    this.#finalCommitted.add(`${vertexId}-${subtaskIndex}`);
    if (this.#finalCommitted.size === this.subtasks.length) this.#owner.finalCommitted(this);
  }
}
