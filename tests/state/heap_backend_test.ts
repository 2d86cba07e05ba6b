import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { WeirError } from "../../errors.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { checkStateOptions, stateBackendFactory } from "../../state/backend_registry.ts";
import { StreamEnvironment } from "../../dataflow/environment.ts";
import { runBackendConformance } from "./backend_conformance.ts";

runBackendConformance("heap", (init) => new HeapKeyedStateBackend(init));

describe("state options", () => {
  test("StreamEnvironment({ state }) refuses an unknown backend naming it, and bad fields", () => {
    assert.throws(() => new StreamEnvironment({ state: { backend: "rocksdb" } }), (e: unknown) =>
      e instanceof WeirError && e.code === "invalid_option" && /state\.backend/.test(e.message) && /"rocksdb"/.test(e.message) && /"heap"/.test(e.message));
    assert.throws(() => new StreamEnvironment({ state: { incremental: "yes" as never } }), (e: unknown) =>
      e instanceof WeirError && e.code === "invalid_option" && /state\.incremental/.test(e.message));
    assert.throws(() => new StreamEnvironment({ state: { cache: 1 } as never }), (e: unknown) =>
      e instanceof WeirError && e.code === "invalid_option" && /state\.cache/.test(e.message));
    checkStateOptions({ backend: "heap", incremental: true });
    const b = stateBackendFactory(undefined)({ maxParallelism: 4, range: { start: 0, end: 3 }, incremental: false, uid: "u", subtaskIndex: 0, jobId: "j" });
    assert.ok(b instanceof HeapKeyedStateBackend);
  });
});
