import type { Partitioning } from "../actors/output_gate.ts";
import { keepsState } from "./uid_hash.ts";
import { WeirError, invalidOption } from "../errors.ts";
import type { Source, StreamOperator } from "./operator.ts";
import type { InputPartitioning, Transformation } from "./transformation.ts";
import { mainOnly, skipSideRecords } from "./side_output.ts";

/** One operator inside a vertex's chain. */
export interface ChainedSpec {
  uid: string;
  name: string;
  createOperator: () => StreamOperator;
}

/** A job vertex: operators chained into one subtask actor, run at one parallelism. */
export interface JobVertex {
  id: string;
  name: string;
  parallelism: number;
  source?: { uid: string; name: string; source: Source };
  chain: ChainedSpec[];
  /** uids in chain order (source first). */
  uids: string[];
}

/** A connection between two vertices. */
export interface JobEdge {
  from: string;
  to: string;
  partitioning: Partitioning;
  /** Forward edges connect subtask i to subtask i only. */
  pointwise: boolean;
  /** The sending operator's own buffer timeout (`setBufferTimeout`); the environment's when unset. */
  bufferTimeoutMs?: number;
}

export interface JobGraph {
  vertices: JobVertex[];
  edges: JobEdge[];
  maxParallelism: number;
  /**
   * Operators that keep state (sources, sinks, keyed operators) without an explicit uid:
   * their generated uid changes when the graph upstream of them or their code changes,
   * and with it where their state is restored from. The job warns about each.
   */
  withoutUid?: { uid: string; name: string; kind: string }[];
}

/**
 * Turns the user's transformations into vertices and edges. Operators are chained into
 * their predecessor's subtask when the edge is forward, the parallelism is the same and
 * the predecessor feeds no one else (Flink's chaining rule), which keeps records off
 * channels on the hot path.
 */
export function buildJobGraph(transformations: Transformation[], defaults: { parallelism: number; maxParallelism: number }): JobGraph {
  const { maxParallelism } = defaults;
  const byId = new Map(transformations.map((t) => [t.id, t]));
  const consumers = new Map<number, number>();
  for (const t of transformations) {
    for (const i of t.unionOf ?? (t.input ? [t.input] : [])) consumers.set(i.id, (consumers.get(i.id) ?? 0) + 1);
  }
  /** The real producers behind an input, looking through unions; a partitioning on the union wins. */
  const producersOf = (input: NonNullable<Transformation["input"]>): { from: Transformation; partitioning: InputPartitioning | undefined }[] => {
    const t = byId.get(input.id)!;
    if (!t.unionOf) return [{ from: t, partitioning: input.partitioning }];
    return t.unionOf.flatMap((u) => producersOf({ id: u.id, partitioning: input.partitioning ?? u.partitioning }));
  };
  const seenUids = new Set<string>();
  for (const t of transformations) {
    if (seenUids.has(t.uid)) throw invalidOption("uid", t.uid, "must be unique per job; two operators have it");
    seenUids.add(t.uid);
  }
  if (!transformations.some((t) => t.source)) throw new WeirError("invalid_job", "The job has no source: call env.fromSource() first");
  if (!transformations.some((t) => t.sink)) throw new WeirError("invalid_job", "The job has no sink: end a stream with sinkTo()");

  const vertexOf = new Map<number, JobVertex>();
  const vertices: JobVertex[] = [];
  const edges: JobEdge[] = [];
  const parallelismOf = (t: Transformation) => t.parallelism ?? defaults.parallelism;

  for (const t of transformations) {
    // A union has no vertex: its consumers get an edge from each of its producers.
    if (t.unionOf) continue;
    const p = parallelismOf(t);
    if (t.source) {
      const v: JobVertex = { id: `v${vertices.length}`, name: `Source: ${t.name}`, parallelism: p, source: { uid: t.uid, name: t.name, source: t.source }, chain: [], uids: [t.uid] };
      vertices.push(v);
      vertexOf.set(t.id, v);
      continue;
    }
    const producers = producersOf(t.input!);
    // Side records travel in their operator's output; only getSideOutput's operator reads them.
    const sideIn = t.kind !== "sideOutput" && producers.some((p) => (p.from.sideOutputs?.size ?? 0) > 0);
    const spec: ChainedSpec = { uid: t.uid, name: t.name, createOperator: sideIn ? mainOnly(t.createOperator!) : t.createOperator! };
    for (const { from, partitioning: part } of producers) {
      if (part === "forward" && parallelismOf(from) !== p) {
        throw invalidOption(`parallelism of "${t.name}"`, p, `must equal its forward input's parallelism (${parallelismOf(from)})`);
      }
    }
    if (producers.length === 1) {
      const { from, partitioning: part } = producers[0];
      const fromVertex = vertexOf.get(from.id)!;
      const forward = part === undefined || part === "forward";
      const chainable = forward && parallelismOf(from) === p && consumers.get(from.id) === 1 && !from.sink && !t.disableChaining;
      if (chainable) {
        fromVertex.chain.push(spec);
        fromVertex.uids.push(t.uid);
        fromVertex.name += ` -> ${t.name}`;
        vertexOf.set(t.id, fromVertex);
        continue;
      }
    }
    const v: JobVertex = { id: `v${vertices.length}`, name: t.name, parallelism: p, chain: [spec], uids: [t.uid] };
    vertices.push(v);
    vertexOf.set(t.id, v);
    for (const { from, partitioning: part } of producers) {
      const sameP = parallelismOf(from) === p;
      let partitioning: Partitioning;
      if (part === undefined) partitioning = sameP ? { kind: "forward" } : { kind: "rebalance" };
      else if (part === "forward") partitioning = { kind: "forward" };
      else if (part === "rebalance") partitioning = { kind: "rebalance" };
      else if (part === "broadcast") partitioning = { kind: "broadcast" };
      else partitioning = { kind: "hash", keySelector: from.sideOutputs?.size ? skipSideRecords(part.keySelector) : part.keySelector, maxParallelism };
      const edge: JobEdge = { from: vertexOf.get(from.id)!.id, to: v.id, partitioning, pointwise: partitioning.kind === "forward" };
      if (from.bufferTimeout !== undefined) edge.bufferTimeoutMs = from.bufferTimeout;
      edges.push(edge);
    }
  }
  for (const v of vertices) {
    if (!Number.isInteger(v.parallelism) || v.parallelism < 1) throw invalidOption(`parallelism of "${v.name}"`, v.parallelism, "must be an integer >= 1");
    if (v.parallelism > maxParallelism) {
      throw invalidOption(`parallelism of "${v.name}"`, v.parallelism, `must not exceed maxParallelism (${maxParallelism})`);
    }
  }
  const withoutUid = transformations.filter((t) => !t.uidGiven && keepsState(t.kind)).map((t) => ({ uid: t.uid, name: t.name, kind: t.kind }));
  return { vertices, edges, maxParallelism, withoutUid };
}

