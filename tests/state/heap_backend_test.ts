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

describe("heap snapshots", () => {
  test("entries handed over by writes during a snapshot are filed then (no list left for later steps), and keep their values at the snapshot point", () => {
    const b = new HeapKeyedStateBackend({ maxParallelism: 8, range: { start: 0, end: 7 } });
    const n = 1_000;
    const count = b.valueState<number>("n");
    for (let k = 0; k < n; k++) {
      b.setCurrentKey(k);
      count.update(k);
    }
    const snap = b.snapshot(1);
    // Every key written after the snapshot point: the table hands every old entry over.
    for (let k = 0; k < n; k++) {
      b.setCurrentKey(k);
      count.update(-1);
    }
    // A budget that covers the slots: nothing is left to take after them.
    assert.equal(snap.step(n + 1), true);
    const handle = snap.result();
    snap.release();
    assert.equal(handle.format, "canonical");
    const values = new Map<unknown, unknown>();
    if (handle.format === "canonical") for (const [, entries] of handle.tables.n.groups) for (const [k, v] of entries) values.set(k, v);
    assert.equal(values.size, n);
    for (let k = 0; k < n; k++) assert.equal(values.get(k), k, `key ${k}`);
  });
});
