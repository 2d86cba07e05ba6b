/**
 * Channel state on restore, at the same or another parallelism (Flink 1.13 made
 * unaligned checkpoints rescalable, FLINK-17979 and the FLIP-76 follow-ups). Every old
 * channel's in-flight records — what its receiver had queued (input channel state),
 * then what its sender still buffered (output channel state) — are handed to the new
 * receiving subtasks as input channel state, replayed before any new data:
 * - an edge whose two ends kept their parallelism keeps every channel as it was;
 * - on a hash edge, each record goes to the subtask that now owns its key group;
 * - on forward and rebalance edges, batches are dealt round-robin over the new subtasks;
 * - a broadcast edge's in-flight records cannot be split or copied faithfully over a
 *   changed parallelism, so such a restore is refused.
 * @module
 */
import { type Batch, type ChannelStateItem, isBatch } from "../actors/messages.ts";
import type { Partitioning } from "../actors/output_gate.ts";
import { decodeChannelItem } from "./channel_state_items.ts";
import { OperatorError, WeirError } from "../errors.ts";
import { keyGroupOf, subtaskForKeyGroup } from "../state/key_group.ts";
import type { SubtaskStateFile } from "./pending_snapshot.ts";

/** The parts of the job graph that decide where in-flight records go. */
export interface ChannelTopology {
  vertices: readonly { id: string; name: string; parallelism: number; uids: string[] }[];
  edges: readonly { from: string; to: string; partitioning: Partitioning; pointwise: boolean }[];
  maxParallelism: number;
}

/** The checkpoint as far as channel state is concerned. */
export interface ChannelStateSource {
  metadata: { checkpointId: number; vertices: { id: string; parallelism: number }[] };
  files: SubtaskStateFile[];
}

/** In-flight records for the input channel of one new subtask from one sender, in replay order. */
export interface InFlightBatches {
  /** Sender vertex id and subtask index (in the new graph). */
  from: string;
  sender: number;
  batches: ChannelStateItem[];
}

/** New receiving subtask ("vertexId/index") → its in-flight records, in replay order. */
export type ChannelStateRoutes = Map<string, InFlightBatches[]>;

/** One old channel with the encoded batches stored at both of its ends. */
interface OldChannel {
  from: string;
  sender: number;
  to: string;
  receiver: number;
  /** Receiver side first (older records), then sender side. */
  input: Uint8Array[];
  output: Uint8Array[];
}

/**
 * Refuses, before anything runs, a checkpoint whose channel state cannot be placed on
 * this graph: a channel between vertices the graph no longer connects, a broadcast edge
 * at a changed parallelism, or a file too old to name its channels' peers.
 *
 * @throws {WeirError} `incompatible_restore`, naming the checkpoint and the vertices.
 * @example
 * ```ts
 * import { checkChannelState } from "./channel_state_restore.ts";
 * const none = { metadata: { checkpointId: 1, vertices: [] }, files: [] };
 * checkChannelState(none, { vertices: [], edges: [], maxParallelism: 128 });
 * ```
 */
export function checkChannelState(loaded: ChannelStateSource, topology: ChannelTopology): void {
  for (const ch of oldChannels(loaded, topology)) edgeFor(loaded, topology, ch);
}

/**
 * A +Infinity watermark: its sender's input had ended. It is not restored: attributed to
 * another sender on a rescale, it would end event time for an input still running, and the
 * sender itself sends it again once its restored input ends again.
 */
function isEndOfEventTime(item: ChannelStateItem): boolean {
  return !isBatch(item) && item.kind === "watermark" && item.timestamp === Infinity;
}

/**
 * Where every in-flight record of the checkpoint goes in the new graph. Decodes the
 * records and, on a rescaled hash edge, runs the edge's key selector on each of them.
 *
 * @throws {WeirError} `incompatible_restore` as checkChannelState; `operator_failed` when a key selector throws.
 * @example
 * ```ts
 * import { routeChannelState } from "./channel_state_restore.ts";
 * const none = { metadata: { checkpointId: 1, vertices: [] }, files: [] };
 * console.assert(routeChannelState(none, { vertices: [], edges: [], maxParallelism: 128 }).size === 0);
 * ```
 */
export function routeChannelState(loaded: ChannelStateSource, topology: ChannelTopology): ChannelStateRoutes {
  const routes: ChannelStateRoutes = new Map();
  const add = (to: string, receiver: number, from: string, sender: number, batches: ChannelStateItem[]) => {
    const key = `${to}/${receiver}`;
    let list = routes.get(key);
    if (!list) routes.set(key, (list = []));
    list.push({ from, sender, batches });
  };
  const dealt = new Map<string, number>();
  for (const ch of oldChannels(loaded, topology)) {
    const edge = edgeFor(loaded, topology, ch);
    const items = [...ch.input, ...ch.output]
      .map((b) => decodeChannelItem(b, `channel state of ${ch.from}/${ch.sender} -> ${ch.to}/${ch.receiver}`))
      .filter((item) => !isEndOfEventTime(item));
    if (items.length === 0) continue;
    const { oldSenders, oldReceivers, senders, receivers } = parallelisms(loaded, topology, ch);
    if (oldSenders === senders && oldReceivers === receivers) {
      add(ch.to, ch.receiver, ch.from, ch.sender, items);
      continue;
    }
    const sender = ch.sender % senders;
    const p = edge.partitioning;
    if (p.kind === "hash") {
      const target = topology.vertices.find((v) => v.id === ch.to)!;
      const parts = splitByKey(items, receivers, (record) => {
        try {
          return subtaskForKeyGroup(keyGroupOf(p.keySelector(record), p.maxParallelism), receivers, p.maxParallelism);
        } catch (e) {
          throw new OperatorError(`keyBy key selector of ${target.name}`, target.uids[0] ?? target.id, e);
        }
      });
      parts.forEach((part, j) => part.length > 0 && add(ch.to, j, ch.from, sender, part));
      continue;
    }
    // forward or rebalance: whole batches, dealt round-robin per edge; a watermark event
    // goes to every receiver, in its place among the batches.
    const edgeKey = `${ch.from}->${ch.to}`;
    let next = dealt.get(edgeKey) ?? 0;
    for (const item of items) {
      if (!isBatch(item)) {
        for (let j = 0; j < receivers; j++) add(ch.to, j, ch.from, edge.pointwise ? j : sender, [item]);
        continue;
      }
      const j = next++ % receivers;
      add(ch.to, j, ch.from, edge.pointwise ? j : sender, [item]);
    }
    dealt.set(edgeKey, next);
  }
  return routes;
}

/**
 * The items of one old hash channel split over `receivers` new subtasks: each record (with
 * its timestamp) to the subtask owning its key, each watermark event to all of them in its
 * place, so no receiver sees a record on the wrong side of a watermark.
 */
function splitByKey(items: ChannelStateItem[], receivers: number, subtaskOf: (record: unknown) => number): ChannelStateItem[][] {
  const parts: ChannelStateItem[][] = Array.from({ length: receivers }, () => []);
  let building: Batch[] = Array.from({ length: receivers }, () => []);
  const close = () => {
    building.forEach((b, j) => b.length > 0 && parts[j].push(b));
    building = Array.from({ length: receivers }, () => []);
  };
  for (const item of items) {
    if (!isBatch(item)) {
      close();
      for (const part of parts) part.push(item);
      continue;
    }
    const ts = item.timestamps;
    for (let i = 0; i < item.length; i++) {
      const b = building[subtaskOf(item[i])];
      b.push(item[i]);
      if (ts !== undefined) (b.timestamps ??= new Array<number>(b.length - 1).fill(NaN)).push(ts[i]);
      else b.timestamps?.push(NaN);
    }
  }
  close();
  return parts;
}

function parallelisms(loaded: ChannelStateSource, topology: ChannelTopology, ch: OldChannel) {
  const oldOf = (id: string) => loaded.metadata.vertices.find((v) => v.id === id)?.parallelism ?? -1;
  const newOf = (id: string) => topology.vertices.find((v) => v.id === id)?.parallelism ?? -1;
  return { oldSenders: oldOf(ch.from), oldReceivers: oldOf(ch.to), senders: newOf(ch.from), receivers: newOf(ch.to) };
}

function edgeFor(loaded: ChannelStateSource, topology: ChannelTopology, ch: OldChannel): ChannelTopology["edges"][number] {
  const id = loaded.metadata.checkpointId;
  const edge = topology.edges.find((e) => e.from === ch.from && e.to === ch.to);
  if (!edge) {
    throw new WeirError(
      "incompatible_restore",
      `Checkpoint ${id} holds in-flight records from vertex ${ch.from} to vertex ${ch.to}, which the job no longer connects; take a savepoint instead`,
    );
  }
  const p = parallelisms(loaded, topology, ch);
  if (edge.partitioning.kind === "broadcast" && (p.oldSenders !== p.senders || p.oldReceivers !== p.receivers)) {
    throw new WeirError(
      "incompatible_restore",
      `Checkpoint ${id} holds in-flight records on the broadcast edge ${ch.from} -> ${ch.to}, which cannot be restored at another parallelism (${p.oldSenders}->${p.oldReceivers} then, ${p.senders}->${p.receivers} now); take a savepoint instead`,
    );
  }
  return edge;
}

/** Every old channel with channel state at either end, in file order. */
function oldChannels(loaded: ChannelStateSource, topology: ChannelTopology): OldChannel[] {
  const rescaled = loaded.metadata.vertices.some((v) => topology.vertices.find((n) => n.id === v.id)?.parallelism !== v.parallelism);
  const byKey = new Map<string, OldChannel>();
  const get = (from: string, sender: number, to: string, receiver: number): OldChannel => {
    const key = `${from}/${sender}->${to}/${receiver}`;
    let ch = byKey.get(key);
    if (!ch) byKey.set(key, (ch = { from, sender, to, receiver, input: [], output: [] }));
    return ch;
  };
  for (const f of loaded.files) {
    if (f.inputChannels.length === 0 && f.outputChannels.length === 0) continue;
    if (!f.channelPeers && rescaled) {
      throw new WeirError(
        "incompatible_restore",
        `Checkpoint ${loaded.metadata.checkpointId} holds in-flight records in a format that does not name the channels' other ends (vertex ${f.vertexId}, subtask ${f.subtaskIndex}), so it can only be restored at its own parallelism`,
      );
    }
    for (const [c, list] of f.inputChannels) {
      const peer = f.channelPeers?.inputs.find((p) => p[0] === c);
      const [from, sender] = peer ? [peer[1], peer[2]] : inputPeer(topology, f.vertexId, f.subtaskIndex, c);
      const input = get(from, sender, f.vertexId, f.subtaskIndex).input;
      // Not push(...list): a spread of a few hundred thousand items overflows the stack.
      for (const item of list) input.push(item);
    }
    for (const [key, list] of f.outputChannels) {
      const peer = f.channelPeers?.outputs.find((p) => p[0] === key);
      const [to, receiver] = peer ? [peer[1], peer[2]] : outputPeer(topology, f.vertexId, f.subtaskIndex, key);
      const output = get(f.vertexId, f.subtaskIndex, to, receiver).output;
      for (const item of list) output.push(item);
    }
  }
  return [...byKey.values()];
}

/** The sender of input channel `c` of a subtask, as execution wires inputs (edge by edge, sender by sender). */
function inputPeer(topology: ChannelTopology, vertexId: string, index: number, c: number): [string, number] {
  let i = 0;
  for (const e of topology.edges) {
    if (e.to !== vertexId) continue;
    const senders = topology.vertices.find((v) => v.id === e.from)!.parallelism;
    for (let s = 0; s < senders; s++) {
      if (e.pointwise && s !== index) continue;
      if (i++ === c) return [e.from, s];
    }
  }
  throw new WeirError("checkpoint_corrupt", `Channel state names input channel ${c} of vertex ${vertexId} subtask ${index}, which has no such input`);
}

/** The receiver of output channel "gate:channel" of a subtask: one gate per outgoing edge, in edge order. */
function outputPeer(topology: ChannelTopology, vertexId: string, index: number, key: string): [string, number] {
  const [g, c] = key.split(":").map(Number);
  const edge = topology.edges.filter((e) => e.from === vertexId)[g];
  if (!edge) throw new WeirError("checkpoint_corrupt", `Channel state names output gate ${g} of vertex ${vertexId}, which has no such output`);
  return [edge.to, edge.pointwise ? index : c];
}
