import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { CheckpointMetadata, SubtaskFileRef } from "../../checkpoint/metadata.ts";
import { filesForSubtasks, type SelectionGraph } from "../../checkpoint/restore_selection.ts";

/** Old graph: source v0 (parallelism 2) → keyed v1 (parallelism 3). */
function metadata(unaligned: boolean, keyedParallelism = 3): CheckpointMetadata {
  const vertices = [{ id: "v0", name: "source", parallelism: 2, uids: ["numbers"] }, { id: "v1", name: "sum", parallelism: keyedParallelism, uids: ["sum"] }];
  const subtasks = vertices.flatMap((v) => Array.from({ length: v.parallelism }, (_, i) => ({ vertexId: v.id, subtaskIndex: i, file: `${v.id}-${i}`, stateSize: 1 })));
  return { unaligned, vertices, subtasks } as unknown as CheckpointMetadata;
}

function selected(graph: SelectionGraph, mine: string[], md: CheckpointMetadata): string[] {
  const only = filesForSubtasks(graph, mine);
  return md.subtasks.filter((r: SubtaskFileRef) => only(r, md)).map((r) => r.file);
}

const graph = (keyedParallelism: number, into: string = "hash"): SelectionGraph => ({
  vertices: [{ id: "v0", uids: ["numbers"], parallelism: 2 }, { id: "v1", uids: ["sum"], parallelism: keyedParallelism }],
  edges: [{ from: "v0", to: "v1", partitioning: { kind: into } }],
});

describe("filesForSubtasks()", () => {
  test("at the same parallelism a subtask reads its own old file only", () => {
    assert.deepEqual(selected(graph(3), ["v1/2"], metadata(false)), ["v1-2"]);
    assert.deepEqual(selected(graph(3), ["v0/1", "v1/1"], metadata(false)), ["v0-1", "v1-1"]);
  });

  test("a vertex with a broadcast input also reads old subtask 0's file (its broadcast state)", () => {
    assert.deepEqual(selected(graph(3, "broadcast"), ["v1/2"], metadata(false)), ["v1-0", "v1-2"]);
  });

  test("at another parallelism a subtask reads every old file of its vertex", () => {
    assert.deepEqual(selected(graph(2), ["v1/0"], metadata(false)), ["v1-0", "v1-1", "v1-2"]);
  });

  test("with unaligned parts it reads every file of its vertex and of the vertices sending to it", () => {
    assert.deepEqual(selected(graph(3), ["v1/0"], metadata(true)), ["v0-0", "v0-1", "v1-0", "v1-1", "v1-2"]);
    assert.deepEqual(selected(graph(3), ["v0/0"], metadata(true)), ["v0-0", "v0-1"]);
  });

  test("a subtask whose uids the checkpoint does not hold reads nothing", () => {
    const g: SelectionGraph = { vertices: [{ id: "v1", uids: ["other"], parallelism: 3 }], edges: [] };
    assert.deepEqual(selected(g, ["v1/0"], metadata(false)), []);
  });
});
