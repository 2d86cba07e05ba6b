/**
 * Incremental heap checkpoints (issue 10 item 2): a changelog of the entries written since
 * the previous checkpoint, chained onto a base; restore = base + replay. Deleting files no
 * retained checkpoint needs is the coordinator's (tests/checkpoint/shared_state_test.ts).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage } from "../../storage/memory.ts";
import { WeirError } from "../../errors.ts";
import type { IncrementalKeyedState, KeyedStateHandle, KeyedStateSnapshot } from "../../state/backend.ts";
import type { StorageAdapter } from "../../storage/adapter.ts";
import { checkpointChunks } from "../../codec/chunk_pool.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { keyGroupOf, keyGroupRangeFor } from "../../state/key_group.ts";
import { decode, encode } from "../../codec/cbor.ts";
import { readColumn } from "../../state/heap_columns.ts";
import { checksumOf } from "../../checkpoint/checksum.ts";
import { runBackendConformance } from "./backend_conformance.ts";
import { finishSnapshot } from "./heap_steps.ts";

const ALL = { start: 0, end: 127 };

function backend(storage: MemoryStorage, range = ALL): HeapKeyedStateBackend {
  return new HeapKeyedStateBackend({ maxParallelism: 128, range, incremental: true, storage, uid: "count", subtaskIndex: 0, jobId: "j" });
}

async function finish(snap: KeyedStateSnapshot, between?: () => void): Promise<IncrementalKeyedState> {
  const r = await finishSnapshot(snap, between);
  assert.equal(r.format, "incremental");
  return r;
}

const lastSize = (h: IncrementalKeyedState) => h.shared[h.shared.length - 1].size;

// The whole contract also holds with incremental checkpoints on (savepoints stay canonical).
const shared = new MemoryStorage();
runBackendConformance("heap (incremental)", (init) => new HeapKeyedStateBackend({ ...init, incremental: true, storage: shared }));

describe("incremental heap checkpoints", () => {
  test("a changelog holds only what changed: 1 % of 10 000 keys writes under 2 % of the base's bytes", async () => {
    const storage = new MemoryStorage();
    const b = backend(storage);
    const v = () => b.valueState<{ n: number; pad: string }>("v");
    for (let k = 0; k < 10_000; k++) {
      b.setCurrentKey(k);
      v().update({ n: k, pad: "x".repeat(20) });
    }
    const base = await finish(b.snapshot(1));
    assert.equal(base.shared.length, 1);
    for (let k = 0; k < 100; k++) {
      b.setCurrentKey(k * 7);
      v().update({ n: -k, pad: "y".repeat(20) });
    }
    const log = await finish(b.snapshot(2));
    assert.equal(log.shared.length, 2, "base + changelog");
    assert.equal(log.shared[0].key, base.shared[0].key);
    assert.ok(lastSize(log) <= 0.02 * base.shared[0].size, `changelog ${lastSize(log)} B, base ${base.shared[0].size} B`);
  });

  test("restore replays base + changelogs: updates, deletes, new keys, in-place changes during the snapshot; at another parallelism", async () => {
    const storage = new MemoryStorage();
    const b = backend(storage, ALL);
    const expected = new Map<number, number>();
    const sum = b.reducingState<{ n: number }>("sum", (acc, x) => ((acc.n += x.n), acc));
    for (let k = 0; k < 500; k++) {
      sum.addFor(k, { n: k });
      expected.set(k, k);
    }
    await finish(b.snapshot(1));
    let round = 0;
    let handle: IncrementalKeyedState | undefined;
    for (let id = 2; id <= 5; id++) {
      for (let k = id; k < 500; k += 13) {
        sum.addFor(k, { n: 1 });
        expected.set(k, (expected.get(k) ?? 0) + 1);
      }
      b.setCurrentKey(id * 11);
      sum.clear();
      expected.delete(id * 11);
      sum.addFor(1000 + id, { n: id });
      expected.set(1000 + id, id);
      const atPoint = new Map(expected);
      // Changes racing the snapshot belong to the next one.
      handle = await finish(b.snapshot(id), () => {
        round++;
        sum.addFor(round % 500, { n: 1000 });
        expected.set(round % 500, (expected.get(round % 500) ?? 0) + 1000);
      });
      assert.equal(handle.shared.length, id, `chain of checkpoint ${id}`);
      for (const range of [ALL, keyGroupRangeFor(0, 2, 128), keyGroupRangeFor(1, 2, 128)]) {
        const r = backend(storage, range);
        await r.restore([handle]);
        const got = new Map<number, number>();
        for (const k of atPoint.keys()) {
          r.setCurrentKey(k);
          const value = r.valueState<{ n: number }>("sum").value();
          if (value !== undefined) got.set(k, value.n);
        }
        for (const k of [...Array(500).keys()].filter((k) => !atPoint.has(k))) {
          r.setCurrentKey(k);
          assert.equal(r.valueState("sum").value(), undefined, `deleted key ${k} stays deleted`);
        }
        if (range === ALL) assert.deepEqual(got, atPoint, `restore of checkpoint ${id}`);
        r.dispose();
      }
    }
  });

  test("a changelog stepped one unit at a time finishes, with keys written during it saved (simulator seed 15 hung)", async () => {
    const storage = new MemoryStorage();
    const b = backend(storage, ALL);
    const v = () => b.valueState<number>("v");
    for (let k = 0; k < 100; k++) {
      b.setCurrentKey(k);
      v().update(k);
    }
    await finish(b.snapshot(1));
    for (let k = 0; k < 10; k++) {
      b.setCurrentKey(k);
      v().update(1000 + k);
    }
    const snap = b.snapshot(2);
    // Written after the snapshot point before they were visited: the table saves the old values.
    for (let k = 0; k < 10; k++) {
      b.setCurrentKey(k);
      v().update(-1);
    }
    let steps = 0;
    for (;;) {
      let done = snap.step(1);
      if (done instanceof Promise) done = await done;
      if (done) break;
      assert.ok(++steps < 1_000, "the changelog never finished");
    }
    const handle = snap.result() as IncrementalKeyedState;
    snap.release();
    const r = backend(storage, ALL);
    await r.restore([handle]);
    for (let k = 0; k < 100; k++) {
      r.setCurrentKey(k);
      assert.equal(r.valueState<number>("v").value(), k < 10 ? 1000 + k : k, `key ${k}`);
    }
    r.dispose();
  });

  test("changelogs chain onto a base, a new base follows a few changelogs; a savepoint stays canonical", async () => {
    const storage = new MemoryStorage();
    const b = backend(storage, ALL);
    b.setCurrentKey("k");
    const handles: IncrementalKeyedState[] = [];
    for (let id = 1; id <= 12; id++) {
      b.valueState<number>("v").update(id);
      handles.push(await finish(b.snapshot(id)));
    }
    for (const [i, h] of handles.entries()) {
      assert.ok(h.shared[h.shared.length - 1].key.endsWith(`/${i + 1}-${h.shared.length === 1 ? "base" : "changelog"}`), "each file is named by its checkpoint id");
      if (i > 0 && h.shared.length > 1) assert.deepEqual(h.shared.slice(0, -1), handles[i - 1].shared, "a changelog extends the previous chain");
    }
    assert.ok(handles.some((h, i) => i > 0 && h.shared.length === 1), "a new base was written after a few changelogs");
    const sp = b.snapshot(13, { savepoint: true });
    while (!(await sp.step(100)));
    const canonical: KeyedStateHandle = sp.result();
    sp.release();
    assert.equal(canonical.format, "canonical");
  });

  test("a slot freed and taken by another key between two checkpoints puts that key in the changelog once", async () => {
    const storage = new MemoryStorage();
    const b = backend(storage);
    const v = () => b.valueState<number>("v");
    b.setCurrentKey("keep");
    v().update(0);
    await finish(b.snapshot(1));
    // "gone" is written (its slot noted), deleted, and its slot goes to "new" (noted again).
    b.setCurrentKey("gone");
    v().update(1);
    v().clear();
    b.setCurrentKey("new");
    v().update(2);
    const log = await finish(b.snapshot(2));
    const file = decode<{ tables: Record<string, { groups: [number, unknown, unknown][] }> }>((await storage.get(log.shared[1].key))!);
    const keys = file.tables.v.groups.flatMap(([g, k]) => Array.from(readColumn(k, true, () => `group ${g}`)));
    assert.deepEqual(keys, ["new"]);
    const r = backend(storage);
    await r.restore([log]);
    r.setCurrentKey("new");
    assert.equal(r.valueState<number>("v").value(), 2);
    r.setCurrentKey("gone");
    assert.equal(r.valueState<number>("v").value(), undefined);
  });

  test("snapshots whose writes finish out of order: each chain holds only files of its own checkpoint and older", async () => {
    // Writes wait until released, so the test decides which finishes first.
    const held: (() => void)[] = [];
    const storage = new class extends MemoryStorage {
      override put(key: string, bytes: Uint8Array): Promise<void> {
        return new Promise<void>((resolve) => held.push(() => void super.put(key, bytes).then(resolve)));
      }
    }();
    const b = backend(storage, ALL);
    const v = () => b.valueState<number>("v");
    b.setCurrentKey("a");
    v().update(1);
    const release = () => held.shift()!();
    const first = finish(b.snapshot(1));
    while (held.length === 0) await new Promise((r) => setImmediate(r));
    release();
    const h1 = await first;
    v().update(2);
    const s2 = finish(b.snapshot(2));
    v().update(3);
    const s3 = finish(b.snapshot(3));
    while (held.length < 2) await new Promise((r) => setImmediate(r));
    // Checkpoint 3's file lands first, then 2's.
    held.splice(1, 1)[0]();
    const h3 = await s3;
    release();
    const h2 = await s2;
    v().update(4);
    const s4 = finish(b.snapshot(4));
    while (held.length < 1) await new Promise((r) => setImmediate(r));
    release();
    const h4 = await s4;
    const ids = (h: IncrementalKeyedState) => h.shared.map((r) => Number(/\/(\d+)-/.exec(r.key)![1]));
    assert.deepEqual(ids(h2), [...ids(h1), 2], "checkpoint 2 extends checkpoint 1's chain");
    for (const [n, h] of [[2, h2], [3, h3], [4, h4]] as const) assert.ok(ids(h).every((id) => id <= n), `checkpoint ${n} refers to no newer file: ${ids(h)}`);
    for (const [n, h] of [[1, h1], [2, h2], [3, h3], [4, h4]] as const) {
      const r = backend(storage, ALL);
      await r.restore([h]);
      r.setCurrentKey("a");
      assert.equal(r.valueState<number>("v").value(), n, `restore of checkpoint ${n}`);
      r.dispose();
    }
  });

  test("a snapshot's columns are written before their buffers serve the next snapshot: two snapshots in flight restore their own values", async () => {
    const storage = new MemoryStorage();
    const b = backend(storage);
    const sum = b.reducingState<number>("sum", (a, v) => a + v);
    for (let round = 0; round < 2; round++) {
      // A first snapshot, finished, fills the backend's pools; the next ones take from them.
      for (let k = 0; k < 2000; k++) sum.addFor(k, round === 0 ? k : 1);
      await finish(b.snapshot(1 + round));
    }
    // Every key changes: checkpoint 3 collects 2000 entries (a base: the changelog before it was as large).
    for (let k = 0; k < 2000; k++) sum.addFor(k, 1);
    const first = b.snapshot(3);
    // One step visits every key: the entries are in columns, none written yet.
    assert.equal(first.step(1_000_000), false);
    for (let k = 0; k < 2000; k++) sum.addFor(k, 1_000_000);
    // In flight with checkpoint 3: a base, whose columns must not be checkpoint 3's buffers.
    const h4 = await finish(b.snapshot(4));
    const h3 = await finish(first);
    for (const [h, plus] of [[h3, 2], [h4, 1_000_002]] as const) {
      const r = backend(storage);
      await r.restore([h]);
      for (const k of [0, 1, 999, 1999]) {
        r.setCurrentKey(k);
        assert.equal(r.valueState<number>("sum").value(), k + plus, `key ${k} restored from ${h.shared.at(-1)!.key}`);
      }
      r.dispose();
    }
  });

  test("a changelog's chunks are written over by later ones only where the storage keeps none of them", async () => {
    // A storage that keeps the very buffers it is given, and says nothing of it.
    const keeping = new Map<string, Uint8Array>();
    const keeps: StorageAdapter = {
      description: "keeping",
      get: (k) => Promise.resolve(keeping.get(k)),
      put: (k, bytes) => Promise.resolve(void keeping.set(k, bytes)),
      delete: (k) => Promise.resolve(void keeping.delete(k)),
      list: (prefix) => Promise.resolve([...keeping.keys()].filter((k) => k.startsWith(prefix)).sort()),
      deletePrefix: () => Promise.resolve(),
    };
    for (const storage of [keeps, new MemoryStorage()]) {
      const b = new HeapKeyedStateBackend({ maxParallelism: 128, range: ALL, incremental: true, storage, uid: "count", subtaskIndex: 0, jobId: "j" });
      const sum = b.reducingState<number>("sum", (a, v) => a + v);
      const handles: IncrementalKeyedState[] = [];
      for (let id = 1; id <= 4; id++) {
        for (let k = 0; k < 500; k++) sum.addFor(k, id);
        const kept = checkpointChunks.bytes;
        handles.push(await finish(b.snapshot(id)));
        if (storage === keeps) assert.ok(checkpointChunks.bytes <= kept, "no chunk a storage keeps goes back to the pool");
        else assert.ok(checkpointChunks.bytes > 0, "the chunks of a file stored in memory (copied) go back to the pool");
      }
      // Each checkpoint restores its own sums: no later changelog wrote over an earlier file.
      for (const [i, h] of handles.entries()) {
        const r = new HeapKeyedStateBackend({ maxParallelism: 128, range: ALL, incremental: true, storage, uid: "count", subtaskIndex: 0, jobId: "j" });
        await r.restore([h]);
        r.setCurrentKey(7);
        assert.equal(r.valueState<number>("sum").value(), ((i + 1) * (i + 2)) / 2, `${storage.description}: checkpoint ${i + 1}`);
        r.dispose();
      }
    }
  });

  test("a changelog of a newer heap format, or a damaged file, is refused naming it", async () => {
    const storage = new MemoryStorage();
    const b = backend(storage);
    b.setCurrentKey(1);
    b.valueState<number>("v").update(1);
    const h = await finish(b.snapshot(1));
    await assert.rejects(async () => await backend(storage).restore([{ ...h, version: 99 }]), (e: unknown) =>
      e instanceof WeirError && e.code === "state_backend_mismatch" && /version 99/.test(e.message) && /"heap"/.test(e.message));
    await storage.put(h.shared[0].key, new Uint8Array([1, 2, 3]));
    await assert.rejects(async () => await backend(storage).restore([h]), (e: unknown) =>
      e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes(h.shared[0].key));
  });

  test("a changelog visits only the keys written since the previous checkpoint, not every key", async () => {
    const storage = new MemoryStorage();
    const b = backend(storage);
    const sum = b.reducingState<number>("sum", (a, v) => a + v);
    for (let k = 0; k < 10_000; k++) sum.addFor(k, 1);
    await finish(b.snapshot(1));
    for (let k = 0; k < 10_000; k += 1000) sum.addFor(k, 1);
    const snap = b.snapshot(2);
    let steps = 1;
    for (;;) {
      let done = snap.step(1);
      if (done instanceof Promise) done = await done;
      if (done) break;
      steps++;
    }
    snap.release();
    // 10 changed keys (plus the encoding of 10 entries and the write): far fewer steps than 10 000 keys.
    assert.ok(steps < 100, `${steps} steps of one unit for 10 changed keys`);
    const r = backend(storage);
    const h = await finish(b.snapshot(3));
    await r.restore([h]);
    r.setCurrentKey(1000);
    assert.equal(r.valueState<number>("sum").value(), 2);
    r.setCurrentKey(1);
    assert.equal(r.valueState<number>("sum").value(), 1);
  });

  test("a file of heap format 1 ([key, value] pairs) is still restored", async () => {
    const storage = new MemoryStorage();
    const file = { base: true, tables: { n: { kind: "value", groups: [[keyGroupOf("a", 128), [["a", 5]]], [keyGroupOf(7, 128), [[7, 8]]]] } }, deleted: {} };
    const bytes = encode(file);
    await storage.put("shared/heap/old/1-base", bytes);
    const h: IncrementalKeyedState = { format: "incremental", backend: "heap", version: 1, range: ALL, shared: [{ key: "shared/heap/old/1-base", size: bytes.length, checksum: checksumOf(bytes) }] };
    const r = backend(storage);
    await r.restore([h]);
    r.setCurrentKey("a");
    assert.equal(r.valueState<number>("n").value(), 5);
    r.setCurrentKey(7);
    assert.equal(r.valueState<number>("n").value(), 8);
  });
});

describe("incremental heap checkpoints and TTL", () => {
  test("a key written since the base whose entries all expired by the changelog's point is a tombstone there: the restore does not fall back to the base's older entries", async () => {
    let now = 90;
    const clock = { now: () => now };
    const storage = new MemoryStorage();
    const mk = () => new HeapKeyedStateBackend({ maxParallelism: 128, range: ALL, incremental: true, storage, clock, uid: "m", subtaskIndex: 0, jobId: "j" });
    const b = mk();
    const m = b.mapState<string, number>("m", { ttl: 10 });
    const v = b.valueState<number>("v", { ttl: 10 });
    b.setCurrentKey("k");
    m.put("x", 1); // expires at 100
    now = 95;
    m.put("y", 2); // expires at 105
    v.update(1); // expires at 105
    now = 98;
    await finish(b.snapshot(1)); // base: x, y; v
    now = 99;
    m.remove("y"); // the map holds x alone, expiring at 100
    now = 101;
    b.setCurrentKey("k2");
    v.update(2); // another key keeps the changelog non-empty
    const h = await finish(b.snapshot(2));
    assert.equal(h.shared.length, 2, "a changelog");
    const r = mk();
    await r.restore([h]);
    r.setCurrentKey("k");
    assert.equal(r.mapState<string, number>("m", { ttl: 10 }).get("y"), undefined, "removed before the changelog");
    assert.equal(r.mapState<string, number>("m", { ttl: 10 }).get("x"), undefined, "expired");
    assert.equal(r.valueState<number>("v", { ttl: 10 }).value(), 1, "not written since the base, not expired at 101");
  });
});
