/**
 * Which state files of a checkpoint a set of new subtasks reads, so that a remote host
 * loads the part of a checkpoint its own subtasks restore and not the whole of it
 * (Flink's `StateAssignmentOperation` hands each task the handles of its key-group range;
 * the task reads them itself). Cutting what was read is left to restore.ts and
 * channel_state_restore.ts, which give the same answer on these files as on all of them.
 * @module
 */
import type { CheckpointMetadata, SubtaskFileRef } from "./metadata.ts";

/** The graph as far as the selection is concerned. */
export interface SelectionGraph {
  vertices: readonly { id: string; uids: readonly string[]; parallelism: number }[];
  edges: readonly { from: string; to: string; partitioning?: { kind: string } }[];
}

/**
 * A predicate for {@link loadCheckpoint}'s `only`: true for the files that the new subtasks
 * `subtasks` ("vertexId/index") restore from.
 * - Operator state of a uid: at the same parallelism, the old subtask with the same index,
 *   and old subtask 0 when the vertex has a broadcast input (broadcast state is restored
 *   from subtask 0's copy, and only an operator with a broadcast input keeps one); at another parallelism,
 *   every old subtask of the vertex that held the uid (key groups and operator lists are
 *   dealt over all of them).
 * - Channel state, only in a checkpoint with unaligned parts: every old subtask of the
 *   receiving vertex and of the vertices sending to it (a record in flight to a new subtask
 *   may be stored at either end of any channel into its vertex).
 *
 * @example
 * ```ts
 * import { filesForSubtasks } from "./restore_selection.ts";
 * const graph = { vertices: [{ id: "v1", uids: ["a"], parallelism: 2 }], edges: [] };
 * const metadata = { unaligned: false, vertices: [{ id: "v1", name: "a", parallelism: 2, uids: ["a"] }] } as never;
 * const only = filesForSubtasks(graph, ["v1/1"]);
 * const ref = (i: number) => ({ vertexId: "v1", subtaskIndex: i, file: `v1-${i}`, stateSize: 0 });
 * console.assert(only(ref(1), metadata) && !only(ref(0), metadata));
 * ```
 */
export function filesForSubtasks(graph: SelectionGraph, subtasks: Iterable<string>): (ref: SubtaskFileRef, metadata: CheckpointMetadata) => boolean {
  const mine = new Map<string, Set<number>>();
  for (const s of subtasks) {
    const cut = s.lastIndexOf("/");
    const vertexId = s.slice(0, cut);
    let set = mine.get(vertexId);
    if (!set) mine.set(vertexId, (set = new Set()));
    set.add(Number(s.slice(cut + 1)));
  }
  let wanted: ((ref: SubtaskFileRef) => boolean) | undefined;
  return (ref, metadata) => (wanted ??= selection(graph, mine, metadata))(ref);
}

function selection(graph: SelectionGraph, mine: Map<string, Set<number>>, metadata: CheckpointMetadata): (ref: SubtaskFileRef) => boolean {
  /** Old vertex id → old subtask indexes wanted (undefined: all of them). */
  const wanted = new Map<string, Set<number> | undefined>();
  const wantAll = (vertexId: string) => wanted.set(vertexId, undefined);
  const want = (vertexId: string, index: number) => {
    if (wanted.has(vertexId) && wanted.get(vertexId) === undefined) return;
    let set = wanted.get(vertexId);
    if (!set) wanted.set(vertexId, (set = new Set()));
    set.add(index);
  };
  for (const [vertexId, indexes] of mine) {
    const v = graph.vertices.find((x) => x.id === vertexId);
    if (!v) continue;
    const broadcastInput = graph.edges.some((e) => e.to === vertexId && e.partitioning?.kind === "broadcast");
    for (const old of metadata.vertices) {
      if (!old.uids.some((uid) => v.uids.includes(uid))) continue;
      if (old.parallelism !== v.parallelism) {
        wantAll(old.id);
        continue;
      }
      if (broadcastInput) want(old.id, 0);
      for (const i of indexes) want(old.id, i);
    }
    if (!metadata.unaligned) continue;
    // Unaligned restores need the same graph (restore.ts checkCompatible): ids match.
    wantAll(vertexId);
    for (const e of graph.edges) if (e.to === vertexId) wantAll(e.from);
  }
  return (ref) => {
    if (!wanted.has(ref.vertexId)) return false;
    const set = wanted.get(ref.vertexId);
    return set === undefined || set.has(ref.subtaskIndex);
  };
}
