import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { WeirError } from "../../errors.ts";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import type { KeyedStateBackendInit } from "../../state/backend.ts";
import { runBackendConformance, tablesOf } from "./backend_conformance.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-backend-"));

// A cache of 8 keys: most cases hold more, so eviction and reads back from the file run too.
runBackendConformance(`sqlite (${sqliteDriver.name}, small cache)`, (init) => new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory, cacheEntriesMax: 8 }));
runBackendConformance(`sqlite (${sqliteDriver.name})`, (init) => new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory }));

const init: KeyedStateBackendInit = { maxParallelism: 16, range: { start: 0, end: 15 }, incremental: false, uid: "op", subtaskIndex: 0, jobId: "j" };

describe("SqliteKeyedStateBackend", () => {
  test("restore() refuses another backend's own format and a newer sqlite format, naming both", () => {
    const b = new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory });
    const handle = { format: "incremental" as const, range: init.range, shared: [] };
    assert.throws(() => b.restore([{ ...handle, backend: "heap", version: 1 }]), (e: unknown) =>
      e instanceof WeirError && e.code === "state_backend_mismatch" && /"heap"/.test(e.message) && /"sqlite"/.test(e.message));
    assert.throws(() => b.restore([{ ...handle, backend: "sqlite", version: 99 }]), (e: unknown) =>
      e instanceof WeirError && e.code === "state_backend_mismatch" && /version 99/.test(e.message) && /version 1\b/.test(e.message));
    b.dispose();
  });

  test("canonical tables move between heap and sqlite unchanged", () => {
    const heap = new HeapKeyedStateBackend(init);
    for (let i = 0; i < 200; i++) {
      heap.setCurrentKey(i % 2 ? `k${i}` : { id: i });
      heap.valueState<number>("v").update(i);
      heap.listState<number>("l").update([i, i * 2 + 1]);
      heap.mapState<string, number>("m").put(`x${i}`, i);
    }
    const fromHeap = tablesOf(heap);
    const sqlite = new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory, cacheEntriesMax: 16 });
    sqlite.restore([{ format: "canonical", tables: fromHeap }]);
    const fromSqlite = tablesOf(sqlite);
    const sorted = (t: typeof fromHeap) =>
      Object.fromEntries(Object.entries(t).map(([n, tb]) => [n, { ...tb, groups: tb.groups.map(([g, es]) => [g, [...es].sort((a, b) => JSON.stringify(a[0]) < JSON.stringify(b[0]) ? -1 : 1)]) }]));
    assert.deepEqual(sorted(fromSqlite), sorted(fromHeap));
    sqlite.dispose();
  });

  test("keys beyond the cache live in the file, and the cache stays within its bound", () => {
    const b = new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory, cacheEntriesMax: 100 });
    const count = b.reducingState<number>("count", (a, v) => a + v);
    for (let round = 0; round < 3; round++) for (let i = 0; i < 5000; i++) count.addFor(`key-${i}`, 1);
    assert.ok(b.store.cachedEntries <= 100, `${b.store.cachedEntries} cached`);
    for (let i = 0; i < 5000; i += 97) {
      b.setCurrentKey(`key-${i}`);
      assert.equal(count.get(), 3);
    }
    b.dispose();
  });
});
