/**
 * Builds the subtasks one host runs: their operator chains and contexts, their output
 * gates and input channels through the transport, opened and with their in-flight records
 * restored. The job master's Execution builds the subtasks of its own process with it,
 * a remote host's TaskExecutor the subtasks the master deployed there (Flink's
 * `TaskExecutor.submitTask` builds each `Task` from the same job graph the same way).
 * @module
 */
import type { Dispatcher } from "../actors/dispatcher.ts";
import { InputChannel } from "../actors/input_channel.ts";
import type { ChannelStateItem } from "../actors/messages.ts";
import { OutputChannel } from "../actors/output_channel.ts";
import { OutputGate } from "../actors/output_gate.ts";
import type { Clock } from "../actors/time.ts";
import type { ChannelAddress, SubtaskAddress, Transport } from "../actors/transport.ts";
import type { SubtaskRestore } from "../checkpoint/restore.ts";
import { sharedStateDirectory } from "../checkpoint/shared_state.ts";
import type { JobGraph, JobVertex } from "../dataflow/job_graph.ts";
import type { OperatorContext } from "../dataflow/operator.ts";
import { WeirError } from "../errors.ts";
import { resolvedStateOptions, stateBackendFactory, type StateBackendOptions } from "../state/backend_registry.ts";
import { keyGroupRangeFor, type KeyGroupRange } from "../state/key_group.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { type ChainedOperator, Subtask } from "./subtask.ts";
import type { SubtaskHost } from "./subtask_host.ts";

/** The sizes and switches of the data plane that a host needs: plain data, sent to remote hosts as is. */
export interface PlainTuning {
  batchSize: number;
  channelCapacity: number;
  channelStateMaxBytes: number;
  /** The environment's buffer timeout (ms, 0 or -1; OutputGate); 0 unless set. An edge's own wins. */
  bufferTimeoutMs?: number;
  objectReuse?: boolean;
  autoWatermarkIntervalMs?: number;
  stepBudgetMs?: number;
  snapshotSliceMax?: number;
  state?: StateBackendOptions;
}

/** In-flight records restored into one input channel: from which sender, in replay order. */
export interface RestoredInFlight {
  from: string;
  sender: number;
  batches: ChannelStateItem[];
}

/** Everything building a host's subtasks needs. */
export interface SubtaskBuildContext {
  host: SubtaskHost;
  graph: JobGraph;
  jobName: string;
  jobId: string;
  attempt: number;
  storage: StorageAdapter;
  clock: Clock;
  tuning: PlainTuning;
  transport: Transport;
  /** Id of the checkpoint restored from (0: none). */
  restoredCheckpointId: number;
  /** Whether this host runs the subtask. */
  isLocal(subtask: SubtaskAddress): boolean;
  dispatcherFor(subtask: SubtaskAddress): Dispatcher;
  /** What the subtask restores, if anything. */
  restoreOf(vertex: JobVertex, index: number, range: KeyGroupRange): SubtaskRestore | undefined;
}

/**
 * The subtasks of one host, built and wired but not yet running: open() them, restore
 * their channel state, then start().
 */
export class HostedSubtasks {
  readonly subtasks: Subtask[] = [];
  readonly sources: Subtask[] = [];
  /** Operator and reader opens, in build order. */
  readonly #opens: (() => void | Promise<void>)[] = [];
  /** Input channels by "receiver vertex/index<-sender vertex/index". */
  readonly #inputOf = new Map<string, InputChannel>();

  constructor(ctx: SubtaskBuildContext) {
    const g = ctx.graph;
    const byVertex = new Map<string, (Subtask | undefined)[]>();
    for (const v of g.vertices) {
      const list: (Subtask | undefined)[] = [];
      for (let i = 0; i < v.parallelism; i++) {
        if (!ctx.isLocal({ vertexId: v.id, subtaskIndex: i })) {
          list.push(undefined);
          continue;
        }
        const subtask = this.#create(ctx, v, i);
        list.push(subtask);
        this.subtasks.push(subtask);
        if (v.source) this.sources.push(subtask);
      }
      byVertex.set(v.id, list);
    }
    const byId = new Map(g.vertices.map((v) => [v.id, v]));
    // A receiver's input index is its channels' position in graph order, counted whether or
    // not the sender is here: both ends of a channel must name it alike on every host.
    const inputCount = new Map<string, number>();
    for (const e of g.edges) {
      const senders = byVertex.get(e.from)!;
      const receivers = byVertex.get(e.to)!;
      for (let si = 0; si < senders.length; si++) {
        const s = senders[si];
        const channels: OutputChannel[] = [];
        for (let j = 0; j < receivers.length; j++) {
          if (e.pointwise && j !== si) continue;
          const r = receivers[j];
          const receiverKey = `${e.to}/${j}`;
          const inputIndex = inputCount.get(receiverKey) ?? 0;
          inputCount.set(receiverKey, inputIndex + 1);
          const address: ChannelAddress = {
            jobId: ctx.jobId,
            attempt: ctx.attempt,
            sender: { vertexId: e.from, subtaskIndex: si },
            receiver: { vertexId: e.to, subtaskIndex: j },
            inputIndex,
            capacity: ctx.tuning.channelCapacity,
          };
          // Each side opens its own end, on whichever host runs it.
          if (r) {
            const input = new InputChannel(address, ctx.transport, r);
            r.inputs.add(input);
            this.#inputOf.set(`${receiverKey}<-${e.from}/${si}`, input);
          }
          if (s) channels.push(new OutputChannel(address, ctx.transport, s));
        }
        if (!s) continue;
        const first = byId.get(e.to)!.chain[0];
        // The first receiver of the first gate takes the emitted records themselves; every
        // other receiver a copy (a broadcast receiver never sees another one's mutation).
        const copies = ctx.tuning.objectReuse ? "none" : s.gates.length === 0 ? "others" : "all";
        const bufferTimeoutMs = e.bufferTimeoutMs ?? ctx.tuning.bufferTimeoutMs ?? 0;
        s.gates.push(new OutputGate(channels, e.partitioning, ctx.tuning.batchSize, { name: first.name, uid: first.uid }, copies, bufferTimeoutMs));
      }
    }
    for (const s of this.subtasks) s.connected();
  }

  /** Opens every reader and operator in build order; stops early once `running()` turns false. */
  async open(running: () => boolean): Promise<void> {
    for (const open of this.#opens) {
      if (!running()) return;
      await open();
    }
  }

  /**
   * Replays in-flight records into the input channel of receiver `to` ("vertex/index"),
   * before anything new arrives there.
   * @throws {WeirError} `invariant_broken` when the channel is not one of this host's.
   */
  restoreInFlight(to: string, list: readonly RestoredInFlight[]): void {
    for (const { from, sender, batches } of list) {
      const ch = this.#inputOf.get(`${to}<-${from}/${sender}`);
      if (!ch) throw new WeirError("invariant_broken", `Channel state routed to ${to} from ${from}/${sender}, which are not connected`);
      ch.restore(batches);
    }
  }

  /** Lets every subtask run. */
  start(): void {
    for (const s of this.subtasks) s.start();
  }

  /** Stops every subtask (which closes its links). */
  stop(): void {
    for (const s of this.subtasks) s.stop();
  }

  #create(ctx: SubtaskBuildContext, v: JobVertex, index: number): Subtask {
    const g = ctx.graph;
    const range = keyGroupRangeFor(index, v.parallelism, g.maxParallelism);
    const restore = ctx.restoreOf(v, index, range);
    const createBackend = stateBackendFactory(ctx.tuning.state);
    const { incremental } = resolvedStateOptions(ctx.tuning.state);
    const ctxFor = (uid: string, name: string): OperatorContext => ({
      uid,
      name,
      subtaskIndex: index,
      parallelism: v.parallelism,
      maxParallelism: g.maxParallelism,
      keyGroupRange: range,
      clock: ctx.clock,
      attempt: ctx.attempt,
      jobName: ctx.jobName,
      storage: ctx.storage,
      jobId: ctx.jobId,
      objectReuse: ctx.tuning.objectReuse ?? false,
      autoWatermarkIntervalMs: ctx.tuning.autoWatermarkIntervalMs,
      keyedStateBackend: () =>
        createBackend({
          maxParallelism: g.maxParallelism,
          range,
          clock: ctx.clock,
          scheduler: ctx.host.scheduler,
          incremental,
          storage: ctx.storage,
          sharedDirectory: sharedStateDirectory(ctx.jobName, ctx.jobId),
          uid,
          subtaskIndex: index,
          jobId: ctx.jobId,
        }),
    });
    let reader: { reader: ReturnType<NonNullable<JobVertex["source"]>["source"]["createReader"]>; ctx: OperatorContext } | undefined;
    if (v.source) {
      const sctx = ctxFor(v.source.uid, v.source.name);
      const r = { reader: v.source.source.createReader(sctx), ctx: sctx };
      reader = r;
      const restored = restore?.operators.get(v.source.uid)?.operator;
      this.#opens.push(() => r.reader.open(sctx, restored));
    }
    const splitsOf = reader?.reader.splits ? reader.reader : undefined;
    const chain: ChainedOperator[] = v.chain.map((spec, i) => {
      const octx = ctxFor(spec.uid, spec.name);
      // The operator right after a reader that reports its splits sees them (per-split watermarks).
      return { operator: spec.createOperator(), ctx: i === 0 && splitsOf ? { ...octx, sourceSplits: () => splitsOf.splits!() } : octx };
    });
    for (const { operator, ctx: octx } of chain) this.#opens.push(() => operator.open(octx, restore?.operators.get(octx.uid)));
    return new Subtask(ctx.host, {
      vertexId: v.id,
      index,
      parallelism: v.parallelism,
      name: `${v.name} (${index + 1}/${v.parallelism})`,
      chain,
      reader,
      restoredCheckpointId: ctx.restoredCheckpointId,
      keyGroupRange: range,
      dispatcher: ctx.dispatcherFor({ vertexId: v.id, subtaskIndex: index }),
    });
  }
}
