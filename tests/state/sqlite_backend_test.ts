import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { WeirError } from "../../errors.ts";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SQLITE_STATE_FORMAT_VERSION, SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import type { KeyedStateBackendInit } from "../../state/backend.ts";
import { runBackendConformance, tablesOf } from "./backend_conformance.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import { joinParts } from "../../storage/adapter.ts";
import type { KeyedStateHandle, KeyedStateSnapshot } from "../../state/backend.ts";
import { keyGroupOf, keyGroupRangeFor } from "../../state/key_group.ts";
import { decode } from "../../codec/cbor.ts";
import { readChangelog } from "../../state/sqlite_changelog.ts";
import { keyFromBytes } from "../../state/sqlite_keys.ts";
import { KeyedStateCapture } from "../../dataflow/operators/keyed_capture.ts";
import { ModelState } from "./sqlite_model_state.ts";
import type { PeerMessage, PeerReply } from "./sqlite_backend_peer.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-backend-"));

// A cache of 8 keys: most cases hold more, so eviction and reads back from the file run too.
// Batched reads (SqliteBackendOptions.batchedReads) through a cache smaller than a batch.
runBackendConformance(`sqlite (${sqliteDriver.name}, small cache, batched reads)`, (init) => new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory, cacheEntriesMax: 8, batchedReads: true }));
runBackendConformance(`sqlite (${sqliteDriver.name})`, (init) => new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory }));
// Checkpoints (not savepoints) in the backend's own format: database files in the storage.
const shared = new MemoryStorage();
runBackendConformance(`sqlite (${sqliteDriver.name}, native checkpoints)`, (init) =>
  new SqliteKeyedStateBackend({ ...init, incremental: true, storage: shared }, { driver: sqliteDriver, directory, cacheEntriesMax: 8, nativeCheckpoints: true }));

const init: KeyedStateBackendInit = { maxParallelism: 16, range: { start: 0, end: 15 }, incremental: false, uid: "op", subtaskIndex: 0, jobId: "j" };

describe("SqliteKeyedStateBackend", () => {
  test("reducing and aggregating states take read hints (prefetch) exactly when batchedReads is set", () => {
    for (const batchedReads of [false, true]) {
      const b = new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory, batchedReads });
      assert.equal(typeof b.reducingState<number>("r", (a, v) => a + v).prefetch, batchedReads ? "function" : "undefined");
      assert.equal(typeof b.aggregatingState<number, number>("a", { createAccumulator: () => 0, add: (v, acc) => acc + v }).prefetch, batchedReads ? "function" : "undefined");
      b.dispose();
    }
  });

  test("restore() refuses another backend's own format and a newer sqlite format, naming both", () => {
    const b = new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory });
    const handle = { format: "incremental" as const, range: init.range, shared: [] };
    assert.throws(() => b.restore([{ ...handle, backend: "heap", version: 1 }]), (e: unknown) =>
      e instanceof WeirError && e.code === "state_backend_mismatch" && /"heap"/.test(e.message) && /"sqlite"/.test(e.message));
    assert.throws(() => b.restore([{ ...handle, backend: "sqlite", version: 99 }]), (e: unknown) =>
      e instanceof WeirError && e.code === "state_backend_mismatch" && /version 99/.test(e.message) && e.message.includes(`version ${SQLITE_STATE_FORMAT_VERSION})`));
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

  test("a checkpoint's state file from sqlite's encoded tables holds what the heap's holds: any key, TTL, unicode, big values", () => {
    let now = 1000;
    const clock = { now: () => now };
    const fill = (b: HeapKeyedStateBackend | SqliteKeyedStateBackend) => {
      now = 1000;
      for (let i = 0; i < 300; i++) {
        const keys: unknown[] = [`k${i}`, i + 0.5, { id: i }, `ü-${i}-\u{1F600}`, BigInt(i) * 10n ** 20n, i % 2 === 0];
        b.setCurrentKey(keys[i % keys.length]);
        b.valueState<string>("v").update("x".repeat(i * 10));
        b.listState<number>("l").update([i, -i]);
        b.mapState<string, number[]>("m").put(`x${i}`, [i]);
        if (i % 3 === 0) now += 10;
        b.valueState<number>("ttl", { ttl: 1500 }).update(i);
      }
    };
    const heap = new HeapKeyedStateBackend({ ...init, clock });
    const sqlite = new SqliteKeyedStateBackend({ ...init, clock }, { driver: sqliteDriver, directory, cacheEntriesMax: 16 });
    fill(heap);
    fill(sqlite);
    now += 600; // the TTL entries written in the first 600 ms have expired
    const file = (b: HeapKeyedStateBackend | SqliteKeyedStateBackend) => {
      const c = new KeyedStateCapture(b.snapshot(1, { savepoint: true }), "test", ["op"]);
      while (c.step(7) !== true);
      const out = decode<{ operator: unknown[]; keyed: Record<string, { groups: [number, [unknown, unknown][]][] }> }>(c.bytes());
      c.release();
      return out;
    };
    const fromSqlite = file(sqlite);
    const fromHeap = file(heap);
    const norm = (t: ReturnType<typeof file>) =>
      Object.entries(t.keyed).map(([n, tb]) => [n, { ...tb, groups: tb.groups.map(([g, es]) => [g, es.map((e) => JSON.stringify(e, (_k, v) => typeof v === "bigint" ? `${v}n` : v)).sort()]).sort((a, b) => (a[0] as number) - (b[0] as number)) }]).sort();
    assert.deepEqual(fromSqlite.operator, ["op"]);
    assert.deepEqual(norm(fromSqlite), norm(fromHeap));
    const ttlEntries = fromSqlite.keyed.ttl.groups.reduce((n, [, es]) => n + es.length, 0);
    const keyCount = fromSqlite.keyed.v.groups.reduce((n, [, es]) => n + es.length, 0);
    assert.ok(ttlEntries > 0 && ttlEntries < keyCount, `expired TTL entries are left out (${ttlEntries} of ${keyCount} kept)`);
    // A key with a lone surrogate cannot go into the file (CBOR text is UTF-8): refused, never changed.
    for (const b of [heap, sqlite]) {
      b.setCurrentKey("lone-\uD800");
      b.valueState<string>("v").update("x");
      assert.throws(() => file(b), (e: unknown) => e instanceof WeirError && e.code === "value_not_persistable" && e.message.includes("lone surrogate"));
    }
    heap.dispose();
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

  test("backends of one job, operator and subtask in two processes sharing a directory each keep their own working file", async () => {
    // Each thread loads its own copy of the modules (its own count of files opened), as each
    // process does: both backends are the first their copy opens, in the same directory.
    const peers = [0, 1].map(() => new Worker(fileURLToPath(new URL("./sqlite_backend_peer.ts", import.meta.url).href), { workerData: { directory } }));
    const ask = (w: Worker, m: PeerMessage) => new Promise<PeerReply>((resolve, reject) => {
      w.once("message", resolve);
      w.once("error", reject);
      w.postMessage(m);
    });
    try {
      const [a, b] = peers;
      assert.deepEqual(await ask(a, { kind: "open", key: "a", value: 1 }), { ok: true });
      // The second process opens its backend while the first one's is open (and writes its file).
      assert.deepEqual(await ask(b, { kind: "open", key: "b", value: 2 }), { ok: true });
      const entries = (r: PeerReply) => r.ok ? r.tables?.v.groups.flatMap(([, es]) => es) : r.error;
      // The first one's snapshot reads its own file: its key, not the other process's.
      assert.deepEqual(entries(await ask(a, { kind: "snapshot" })), [["a", 1]]);
      assert.deepEqual(entries(await ask(b, { kind: "snapshot" })), [["b", 2]]);
      for (const w of peers) assert.deepEqual(await ask(w, { kind: "dispose" }), { ok: true });
    } finally {
      for (const w of peers) await w.terminate();
    }
  });
});

async function finish(snap: KeyedStateSnapshot): Promise<KeyedStateHandle> {
  while (!(await snap.step(1000)));
  const r = snap.result();
  snap.release();
  return r;
}

/** Bytes this handle added to the storage beyond `before` (its new shared files). */
function newBytes(h: KeyedStateHandle, before: KeyedStateHandle | undefined): number {
  assert.equal(h.format, "incremental");
  const known = new Set(before && before.format === "incremental" ? before.shared.map((r) => r.key) : []);
  return (h as { shared: { key: string; size: number }[] }).shared.filter((r) => !known.has(r.key)).reduce((n, r) => n + r.size, 0);
}

describe("SqliteKeyedStateBackend native checkpoints (incremental: true)", () => {
  const native = (storage: MemoryStorage, over: Partial<KeyedStateBackendInit> = {}, cacheEntriesMax = 500) =>
    new SqliteKeyedStateBackend({ ...init, maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, ...over }, { driver: sqliteDriver, directory, cacheEntriesMax, nativeCheckpoints: true });

  test("a base, then changelogs of only what changed; the latest handle restores updates and deletions", async () => {
    const storage = new MemoryStorage();
    const b = native(storage);
    const v = b.valueState<string>("v");
    for (let i = 0; i < 10_000; i++) {
      b.setCurrentKey(i);
      v.update(`value-${i}`.padEnd(100, "."));
    }
    const h1 = await finish(b.snapshot(1));
    const baseBytes = newBytes(h1, undefined);
    for (let i = 0; i < 100; i++) {
      b.setCurrentKey(i * 7);
      if (i % 2) v.clear();
      else v.update(`changed-${i}`);
    }
    const h2 = await finish(b.snapshot(2));
    const logBytes = newBytes(h2, h1);
    assert.ok(logBytes < baseBytes / 10, `changelog ${logBytes} B vs base ${baseBytes} B`);
    assert.ok((h2 as { shared: unknown[] }).shared.length > (h1 as { shared: unknown[] }).shared.length, "the changelog refers to the base");
    b.setCurrentKey("late");
    v.update("after the checkpoint");
    const r = native(storage);
    await r.restore([h2]);
    const rv = r.valueState<string>("v");
    for (let i = 0; i < 10_000; i++) {
      r.setCurrentKey(i);
      const j = i / 7;
      const expected = i % 7 === 0 && j < 100 ? (j % 2 ? undefined : `changed-${j}`) : `value-${i}`.padEnd(100, ".");
      assert.equal(rv.value(), expected, `key ${i}`);
    }
    r.setCurrentKey("late");
    assert.equal(rv.value(), undefined);
    b.dispose();
    r.dispose();
  });

  test("a base leaves out rows whose TTL expired (cleanup in full snapshot); rows partly alive and states without TTL stay", async () => {
    let now = 1000;
    const clock = { now: () => now };
    const storage = new MemoryStorage();
    const b = native(storage, { clock });
    for (let i = 0; i < 2000; i++) {
      b.setCurrentKey(i);
      b.valueState<string>("v", { ttl: 100 }).update("x".repeat(100));
    }
    b.setCurrentKey("mixed");
    b.mapState<string, number>("m", { ttl: 100 }).put("old", 1);
    b.setCurrentKey("plain");
    b.valueState<string>("p").update("kept");
    now += 60;
    b.setCurrentKey("mixed");
    b.mapState<string, number>("m", { ttl: 100 }).put("new", 2);
    b.setCurrentKey("young");
    b.valueState<string>("v", { ttl: 100 }).update("young");
    now += 60; // the 2000 values and "old" expired, never read since
    const h = await finish(b.snapshot(1));
    assert.ok(newBytes(h, undefined) < 2000 * 100 / 4, `the base holds no expired value: ${newBytes(h, undefined)} B`);
    const r = native(storage, { clock });
    await r.restore([h]);
    r.setCurrentKey("young");
    assert.equal(r.valueState<string>("v", { ttl: 100 }).value(), "young");
    r.setCurrentKey("mixed");
    assert.deepEqual(r.mapState<string, number>("m", { ttl: 100 }).entries(), [["new", 2]]);
    r.setCurrentKey("plain");
    assert.equal(r.valueState<string>("p").value(), "kept");
    r.setCurrentKey(7);
    assert.equal(r.valueState<string>("v", { ttl: 100 }).value(), undefined);
    b.dispose();
    r.dispose();
  });

  test("native handles of two subtasks restore into three (a rescale), each taking its key groups", async () => {
    const storage = new MemoryStorage();
    const old = [0, 1].map((i) => native(storage, { range: keyGroupRangeFor(i, 2, 128), subtaskIndex: i }));
    const owner = (k: number, p: number) => old[0].maxParallelism && [...Array(p).keys()].find((i) => {
      const r = keyGroupRangeFor(i, p, 128);
      const g = keyGroupOfNumber(k);
      return g >= r.start && g <= r.end;
    })!;
    for (let k = 0; k < 3000; k++) {
      const b = old[owner(k, 2)];
      b.setCurrentKey(k);
      b.listState<number>("l").add(k);
    }
    const first = await Promise.all(old.map((b) => finish(b.snapshot(1))));
    for (let k = 0; k < 3000; k += 3) {
      const b = old[owner(k, 2)];
      b.setCurrentKey(k);
      b.listState<number>("l").add(-k - 1);
    }
    const handles = await Promise.all(old.map((b) => finish(b.snapshot(2))));
    assert.ok(handles.every((h, i) => newBytes(h, first[i]) > 0));
    const fresh = [0, 1, 2].map((i) => native(storage, { range: keyGroupRangeFor(i, 3, 128), subtaskIndex: i }));
    for (const b of fresh) await b.restore(handles);
    for (let k = 0; k < 3000; k++) {
      fresh.forEach((b, i) => {
        b.setCurrentKey(k);
        const expected = i === owner(k, 3) ? (k % 3 === 0 ? [k, -k - 1] : [k]) : [];
        assert.deepEqual(b.listState<number>("l").get(), expected, `key ${k} in subtask ${i}`);
      });
    }
    for (const b of [...old, ...fresh]) b.dispose();
  });

  test("after an aborted checkpoint the next one is a base, so no change is lost", async () => {
    const storage = new MemoryStorage();
    const b = native(storage);
    b.setCurrentKey("a");
    b.valueState<number>("n").update(1);
    const h1 = await finish(b.snapshot(1));
    b.valueState<number>("n").update(2);
    b.snapshot(2).release(); // aborted: its changes were handed to it
    b.setCurrentKey("b");
    b.valueState<number>("n").update(3);
    const h3 = await finish(b.snapshot(3));
    assert.ok(newBytes(h3, h1) > 0);
    const files = decodeLayoutFiles(h3);
    // A base and the changelog of the values captured at its snapshot point.
    assert.deepEqual(files, ["base", "changelog"]);
    const r = native(storage);
    await r.restore([h3]);
    r.setCurrentKey("a");
    assert.equal(r.valueState<number>("n").value(), 2);
    b.dispose();
    r.dispose();
  });

  test("a base that completes after a later checkpoint aborted is not extended: the next checkpoint is a base again", async () => {
    const storage = new MemoryStorage();
    const b = native(storage);
    const n = b.valueState<number>("n");
    b.setCurrentKey("a");
    n.update(1);
    const first = b.snapshot(1); // a base, in flight
    b.setCurrentKey("b");
    n.update(2); // after the first snapshot point: handed to the second checkpoint only
    b.snapshot(2).release(); // a base too (one is in flight), aborted
    await finish(first);
    b.setCurrentKey("c");
    n.update(3);
    const h3 = await finish(b.snapshot(3));
    const r = native(storage);
    await r.restore([h3]);
    for (const [k, want] of [["a", 1], ["b", 2], ["c", 3]] as const) {
      r.setCurrentKey(k);
      assert.equal(r.valueState<number>("n").value(), want, `key ${k}`);
    }
    assert.deepEqual(decodeLayoutFiles(h3), ["base", "changelog"], "a chain from before the aborted checkpoint's point lacks its changes");
    b.dispose();
    r.dispose();
  });

  test("a new chain starts with a base after a few changelogs; files are named by checkpoint id; the old chain still restores", async () => {
    const storage = new MemoryStorage();
    const b = native(storage);
    const n = b.valueState<number>("n");
    const handles: KeyedStateHandle[] = [];
    // Checkpoints until the newest starts a new chain (a base), so the one before it belongs to the old chain.
    // A new chain: a base and the changelog of its captured values.
    for (let id = 1; id < 5 || decodeLayoutFiles(handles[handles.length - 1]).length > 2; id++) {
      assert.ok(id < 60, "a new base within 60 checkpoints");
      for (let i = 0; i < 50; i++) {
        b.setCurrentKey(`k${(id * 7 + i) % 300}`);
        n.update(id);
      }
      handles.push(await finish(b.snapshot(id)));
    }
    const last = handles.length;
    const refs = (h: KeyedStateHandle) => (h as { shared: { key: string }[] }).shared.map((r) => r.key);
    for (const [i, h] of handles.entries()) {
      const mine = refs(h).filter((k) => !(i > 0 && refs(handles[i - 1]).includes(k)));
      for (const k of mine) assert.match(k, new RegExp(`/${i + 1}-(base|changelog)-\\d+\\.db$`), "a file is named by the checkpoint it was written for");
    }
    // The older retained checkpoint, of the old chain, still restores.
    const r = native(storage);
    await r.restore([handles[last - 2]]);
    r.setCurrentKey(`k${((last - 1) * 7) % 300}`);
    assert.equal(r.valueState<number>("n").value(), last - 1);
    b.dispose();
    r.dispose();
  });

  test("a damaged or missing file part fails the restore with checkpoint_corrupt naming it", async () => {
    const storage = new MemoryStorage();
    const b = native(storage);
    b.setCurrentKey("a");
    b.valueState<number>("n").update(1);
    const h = await finish(b.snapshot(1)) as { shared: { key: string }[] } & KeyedStateHandle;
    await storage.put(h.shared[0].key, new Uint8Array([1, 2, 3]));
    await assert.rejects(async () => await native(storage).restore([h]), (e: unknown) => e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes(h.shared[0].key));
    await storage.delete(h.shared[0].key);
    await assert.rejects(async () => await native(storage).restore([h]), (e: unknown) => e instanceof WeirError && e.code === "checkpoint_corrupt" && /missing/.test(e.message));
    b.dispose();
  });

  test("a base that fails at its snapshot point (SQLite cannot open the file) leaves later checkpoints free to be changelogs", async () => {
    const storage = new MemoryStorage();
    let failOpen = false;
    const driver = { ...sqliteDriver, open: (path: string) => {
      if (failOpen) throw new Error("unable to open database file");
      return sqliteDriver.open(path);
    } };
    const b = new SqliteKeyedStateBackend({ ...init, maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage }, { driver, directory, nativeCheckpoints: true });
    const n = b.valueState<number>("n");
    b.setCurrentKey("a");
    n.update(1);
    failOpen = true;
    assert.throws(() => b.snapshot(1), (e: unknown) => e instanceof WeirError && e.code === "storage_failed");
    failOpen = false;
    b.setCurrentKey("b");
    n.update(2);
    const h2 = await finish(b.snapshot(2));
    assert.deepEqual(decodeLayoutFiles(h2), ["base", "changelog"]);
    b.setCurrentKey("c");
    n.update(3);
    const h3 = await finish(b.snapshot(3));
    assert.deepEqual(decodeLayoutFiles(h3), ["base", "changelog", "changelog"], "nothing is in flight: a changelog");
    const r = native(storage);
    await r.restore([h3]);
    for (const [k, want] of [["a", 1], ["b", 2], ["c", 3]] as const) {
      r.setCurrentKey(k);
      assert.equal(r.valueState<number>("n").value(), want, `key ${k}`);
    }
    b.dispose();
    r.dispose();
  });

  test("empty files restore: a base with no dirty value (its own changelog empty) and a changelog with no change", async () => {
    const storage = new MemoryStorage();
    const b = native(storage);
    b.setCurrentKey("a");
    b.valueState<number>("n").update(1);
    b.store.flush(); // nothing dirty: the base's changelog of captured values has no record
    const h1 = await finish(b.snapshot(1));
    const h2 = await finish(b.snapshot(2)); // nothing changed since
    assert.deepEqual(decodeLayoutFiles(h2), ["base", "changelog", "changelog"]);
    for (const h of [h1, h2]) {
      const r = native(storage);
      await r.restore([h]);
      r.setCurrentKey("a");
      assert.equal(r.valueState<number>("n").value(), 1);
      r.dispose();
    }
    b.dispose();
  });

  test("a changelog checkpoint restores the state of its snapshot point while values change in place, are replaced, deleted and evicted before it is stepped", async () => {
    const storage = new MemoryStorage();
    // A cache far smaller than the keys touched: evictions write captured keys back during the race.
    const b = native(storage, {}, 40);
    const h = new ModelState(b);
    const n = 300;
    for (let i = 0; i < n; i++) h.update(i, `v${i}`).add(i, i).put(i, "a", i).reduce(i, 1);
    await finish(b.snapshot(1));
    // The changes the changelog holds: some written back (evicted), the last ones still dirty.
    for (let i = 0; i < n; i += 2) {
      h.add(i, 1000 + i).put(i, "b", i).reduce(i, 2);
      if (i % 10 === 0) h.update(i, `changed-${i}`);
      if (i % 14 === 0) h.remove(i);
    }
    assert.ok(b.store.dirtyEntries > 0, "some changed values are dirty at the snapshot point");
    const expected = h.expected(n);
    const snap = b.snapshot(2);
    // Most recently changed (the captured keys) first, then the rest, which evicts the captured ones.
    const race = (round: number) => {
      for (let i = n - 2; i >= 0; i -= 2) {
        h.add(i, -round).put(i, "a", -round).put(i, `r${round}`, round).reduce(i, 5);
        if (i % 4 === 0) h.update(i, `raced-${round}-${i}`);
        if (i % 6 === 0) h.remove(i);
      }
      for (let i = 1; i < n; i += 2) h.reduce(i, 7).add(i, round);
    };
    race(0);
    for (let round = 1; !(await snap.step(1)); round++) race(round);
    const h2 = snap.result();
    snap.release();
    assert.deepEqual(decodeLayoutFiles(h2), ["base", "changelog", "changelog"]);
    const r = native(storage, {}, 40);
    await r.restore([h2]);
    assert.deepEqual(new ModelState(r).actual(n), expected);
    assert.deepEqual(h.actual(n), h.expected(n), "the running backend has every change of the race");
    b.dispose();
    r.dispose();
  });

  test("a changelog holds only the keys changed since the previous checkpoint, not keys dirty since before the base", async () => {
    const storage = new MemoryStorage();
    // Every key fits the cache: no value is written back, all stay dirty across both checkpoints.
    const b = native(storage, {}, 20_000);
    const v = b.valueState<string>("v");
    for (let i = 0; i < 10_000; i++) {
      b.setCurrentKey(i);
      v.update(`value-${i}`.padEnd(100, "."));
    }
    const h1 = await finish(b.snapshot(1));
    assert.equal(b.store.dirtyEntries, 10_000, "nothing was written back");
    const changed = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const k = i * 97;
      changed.add(k);
      b.setCurrentKey(k);
      v.update(`changed-${k}`.padEnd(100, "!"));
    }
    const h2 = await finish(b.snapshot(2));
    assert.deepEqual(decodeLayoutFiles(h2), ["base", "changelog", "changelog"]);
    const baseBytes = newBytes(h1, undefined);
    const logBytes = newBytes(h2, h1);
    assert.ok(logBytes <= baseBytes * 0.02, `changelog ${logBytes} B vs base ${baseBytes} B`);
    // The changelog's records name exactly the changed keys.
    const known = new Set((h1 as { shared: { key: string }[] }).shared.map((ref) => ref.key));
    const parts = await Promise.all((h2 as { shared: { key: string }[] }).shared.filter((ref) => !known.has(ref.key)).map((ref) => storage.get(ref.key)));
    const logged: unknown[] = [];
    readChangelog(joinParts(parts.map((p) => p!)), "the changelog", (_kg, _s, k, _ok, value) => {
      assert.ok(value !== null, "no key was deleted");
      logged.push(keyFromBytes(k));
    });
    assert.deepEqual(new Set(logged), changed);
    assert.equal(logged.length, changed.size);
    const r = native(storage, {}, 20_000);
    await r.restore([h2]);
    const rv = r.valueState<string>("v");
    for (let i = 0; i < 10_000; i += 7) {
      r.setCurrentKey(i);
      assert.equal(rv.value(), changed.has(i) ? `changed-${i}`.padEnd(100, "!") : `value-${i}`.padEnd(100, "."), `key ${i}`);
    }
    b.dispose();
    r.dispose();
  });

  test("every handle of a chain of a base and several changelogs, with keys deleted and inserted again, restores its state", async () => {
    const storage = new MemoryStorage();
    const b = native(storage, {}, 100);
    const h = new ModelState(b);
    const n = 2000;
    for (let i = 0; i < n; i++) h.update(i, `v${i}`).add(i, i);
    const handles = [await finish(b.snapshot(1))];
    const expected = [h.expected(n + 100)];
    for (let round = 1; round <= 4; round++) {
      for (let j = 0; j < 40; j++) {
        const i = (round * 400 + j * 7) % n;
        h.remove(i); // deleted this round
        const back = ((round - 1) * 400 + j * 7) % n;
        h.update(back, `back-${round}`).add(back, round); // deleted last round (or before), inserted again
        const twice = (i + 3) % n;
        h.remove(twice).update(twice, `twice-${round}`); // deleted and inserted again within the round
        const fresh = n + ((round * 13 + j) % 100);
        h.update(fresh, `new-${round}`).add(fresh, round); // a key the base never had
        if (j % 3 === 0) h.remove(fresh);
      }
      handles.push(await finish(b.snapshot(round + 1)));
      expected.push(h.expected(n + 100));
    }
    assert.deepEqual(decodeLayoutFiles(handles[4]), ["base", "changelog", "changelog", "changelog", "changelog", "changelog"]);
    for (const [at, handle] of handles.entries()) {
      const r = native(storage, {}, 100);
      await r.restore([handle]);
      assert.deepEqual(new ModelState(r).actual(n + 100), expected[at], `checkpoint ${at + 1}`);
      r.dispose();
    }
    b.dispose();
  });

  for (const steps of [0, 1]) {
    test(`a checkpoint aborted after its capture (${steps} steps taken) is followed by a base that loses nothing, also when keys it captured change afterwards`, async () => {
      const storage = new MemoryStorage();
      const b = native(storage, {}, 30);
      const h = new ModelState(b);
      const n = 200;
      for (let i = 0; i < n; i++) h.update(i, `v${i}`).add(i, i).reduce(i, 1);
      await finish(b.snapshot(1));
      // Changes handed to the checkpoint that aborts: written back (evicted) or captured (dirty).
      for (let i = 0; i < n; i += 3) h.add(i, -i).reduce(i, 2).put(i, "x", i);
      for (let i = 0; i < n; i += 9) h.remove(i);
      assert.ok(b.store.dirtyEntries > 0);
      const aborted = b.snapshot(2);
      // While it holds them, and after it is gone: the captured keys (the last changed) change first.
      for (let i = n - 1; i >= n - 40; i--) h.add(i, 1).reduce(i, 3);
      for (let s = 0; s < steps; s++) await aborted.step(1);
      aborted.release();
      for (let i = n - 1; i >= 0; i -= 3) {
        h.add(i, 2).put(i, "y", i).reduce(i, 4);
        if (i % 5 === 0) h.update(i, `after-${i}`);
        if (i % 11 === 0) h.remove(i);
      }
      const expected = h.expected(n);
      const h3 = await finish(b.snapshot(3));
      assert.deepEqual(decodeLayoutFiles(h3), ["base", "changelog"]);
      // The chain goes on from the new base.
      for (let i = 0; i < n; i += 4) h.reduce(i, 5);
      const h4 = await finish(b.snapshot(4));
      assert.deepEqual(decodeLayoutFiles(h4), ["base", "changelog", "changelog"]);
      for (const [handle, want] of [[h3, expected], [h4, h.expected(n)]] as const) {
        const r = native(storage, {}, 30);
        await r.restore([handle]);
        assert.deepEqual(new ModelState(r).actual(n), want);
        r.dispose();
      }
      b.dispose();
    });
  }
});

function keyGroupOfNumber(k: number): number {
  return keyGroupOf(k, 128);
}

function decodeLayoutFiles(h: KeyedStateHandle): string[] {
  assert.equal(h.format, "incremental");
  return decode<{ files: { kind: string }[] }>((h as { inline: Uint8Array }).inline).files.map((f) => f.kind);
}
