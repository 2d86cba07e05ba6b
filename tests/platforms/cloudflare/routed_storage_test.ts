/**
 * The job's storage spread over its objects (routed_storage.ts, storage_routes.ts), with
 * in-memory stores standing in for each object's storage: which object owns which key, and
 * that the spread storage behaves as one adapter (the conformance suite).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage } from "../../../mod.ts";
import type { JobGraph } from "../../../dataflow/job_graph.ts";
import { RoutedStorage } from "../../../platforms/cloudflare/routed_storage.ts";
import { storageRoutes } from "../../../platforms/cloudflare/storage_routes.ts";
import { runStorageConformance } from "../../storage/conformance.ts";

const graph = {
  vertices: [{ id: "v1", uids: ["numbers", "pair"], parallelism: 2 }, { id: "v2", uids: ["sum", "out"], parallelism: 3 }],
  edges: [{ from: "v1", to: "v2" }],
  maxParallelism: 128,
} as unknown as JobGraph;
const place = (s: { vertexId: string; subtaskIndex: number }) => `counting/${s.vertexId}/${s.subtaskIndex}`;
const jobId = "0123456789abcdef0123456789abcdef";

/** A RoutedStorage as seen from `self`, every object's storage a MemoryStorage of `stores`. */
function spread(self: string, stores: Map<string, MemoryStorage>, also: string[] = []): RoutedStorage {
  const store = (o: string) => {
    let s = stores.get(o);
    if (!s) stores.set(o, (s = new MemoryStorage()));
    return s;
  };
  const r = new RoutedStorage({ self, local: store(self), remote: store, fallback: "job", description: `routed from ${self}` });
  r.route(storageRoutes(graph, "counting", place, { also }));
  return r;
}

describe("storageRoutes()", () => {
  const routes = storageRoutes(graph, "counting", place);
  test("ownerOf() gives a subtask's checkpoint and shared files to its object, every other key to the job", () => {
    assert.equal(routes.ownerOf(`counting/${jobId}/chk-4/v2-1`), "counting/v2/1");
    assert.equal(routes.ownerOf(`counting/${jobId}/chk-4/v2-7`), "counting/v2/7", "an old subtask's file stays with its object");
    assert.equal(routes.ownerOf(`counting/${jobId}/chk-4/_metadata`), "job");
    assert.equal(routes.ownerOf(`counting/${jobId}/shared/heap/${jobId}/sum/2/4-base`), "counting/v2/2");
    assert.equal(routes.ownerOf(`counting/${jobId}/shared/sqlite/${jobId}/sum/0/4-changelog-0.db.tmp-3`), "counting/v2/0");
    assert.equal(routes.ownerOf(`counting/${jobId}/shared/heap/${jobId}/gone/0/4-base`), "job", "a uid the graph does not have");
    assert.equal(routes.ownerOf("counting/_current"), "job");
    assert.equal(routes.ownerOf("sinks/out/1"), "job");
    assert.equal(routes.ownerOf(`other/${jobId}/chk-4/v2-1`), "job", "another job's keys");
  });

  test("ownerOfPrefix() names one owner only where every key below belongs to it", () => {
    assert.equal(routes.ownerOfPrefix(`counting/${jobId}/shared/heap/${jobId}/sum/1/`), "counting/v2/1");
    assert.equal(routes.ownerOfPrefix(`counting/${jobId}/ingest/`), "job");
    assert.equal(routes.ownerOfPrefix("sinks/"), "job");
    for (const p of ["", "count", "counting/", `counting/${jobId}/`, `counting/${jobId}/chk-`, `counting/${jobId}/chk-4/`, `counting/${jobId}/sha`, `counting/${jobId}/shared/`]) {
      assert.equal(routes.ownerOfPrefix(p), undefined, p);
    }
    assert.deepEqual([...routes.objects()].sort(), ["counting/v1/0", "counting/v1/1", "counting/v2/0", "counting/v2/1", "counting/v2/2", "job"]);
  });
});

describe("RoutedStorage", () => {
  test("a subtask object writes its files into its own storage; the job's list and deletePrefix reach every object", async () => {
    // counting/v2/5 ran a subtask in an earlier run at a higher parallelism.
    const stores = new Map<string, MemoryStorage>([["counting/v2/5", new MemoryStorage()]]);
    const inSubtask = spread("counting/v2/1", stores);
    const inJob = spread("job", stores, ["counting/v2/5"]);
    await inSubtask.put(`counting/${jobId}/chk-4/v2-1`, new Uint8Array([1]));
    await inSubtask.putParts(`counting/${jobId}/shared/heap/${jobId}/sum/1/4-base`, [new Uint8Array([2]), new Uint8Array([3])]);
    await inSubtask.put("sinks/out/4", new Uint8Array([4]));
    await inJob.put(`counting/${jobId}/chk-4/_metadata`, new Uint8Array([5]));
    await stores.get("counting/v2/5")!.put(`counting/${jobId}/chk-3/v2-5`, new Uint8Array([6]));
    assert.deepEqual(await stores.get("counting/v2/1")!.list(""), [`counting/${jobId}/chk-4/v2-1`, `counting/${jobId}/shared/heap/${jobId}/sum/1/4-base`]);
    assert.deepEqual(await stores.get("job")!.list(""), [`counting/${jobId}/chk-4/_metadata`, "sinks/out/4"]);
    assert.deepEqual(await inJob.get(`counting/${jobId}/shared/heap/${jobId}/sum/1/4-base`), new Uint8Array([2, 3]));
    assert.deepEqual(await inJob.list(`counting/${jobId}/chk-`), [`counting/${jobId}/chk-3/v2-5`, `counting/${jobId}/chk-4/_metadata`, `counting/${jobId}/chk-4/v2-1`]);
    await inJob.deletePrefix(`counting/${jobId}/`);
    for (const [name, s] of stores) assert.deepEqual((await s.list("counting/")), [], name);
    assert.deepEqual(await inJob.list("sinks/"), ["sinks/out/4"]);
  });
});

runStorageConformance("RoutedStorage over three objects", () => spread("counting/v2/0", new Map()));
