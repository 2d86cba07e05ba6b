/**
 * A key deleted and written again between two incremental checkpoints is live at the second
 * one's snapshot point: its changelog must not also hold a tombstone for it, whatever a
 * record writes to it after the snapshot visited it (the tombstones are decided at the end
 * of the table's visit, steps later).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage } from "../../storage/memory.ts";
import type { IncrementalKeyedState, KeyedStateSnapshot } from "../../state/backend.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { finishSnapshot } from "./heap_steps.ts";
import { TombstoneScan } from "../../state/heap_snapshot_tombstones.ts";

const ALL = { start: 0, end: 127 };
const backend = (storage: MemoryStorage) => new HeapKeyedStateBackend({ maxParallelism: 128, range: ALL, incremental: true, storage, uid: "count", subtaskIndex: 0, jobId: "j" });

// One unit a step: records race every entry of the visit.
const finish = (snap: KeyedStateSnapshot, between: () => void) => finishSnapshot(snap, between, 1);

test("a key deleted and written again before a changelog's snapshot point, then written after its visit, is restored with its value at that point", async () => {
  const storage = new MemoryStorage();
  const b = backend(storage);
  const v = b.valueState<number>("v");
  for (let k = 0; k < 50; k++) {
    b.setCurrentKey(k);
    v.update(k);
  }
  await finish(b.snapshot(1), () => {});
  // Key 0: deleted and written again since checkpoint 1: in the table's deleted keys and live.
  b.setCurrentKey(0);
  v.clear();
  v.update(100);
  for (let k = 1; k < 50; k++) {
    b.setCurrentKey(k);
    v.update(k + 1);
  }
  // After every one-entry step a record writes key 0 (visited by then or not: saved if not).
  const h = await finish(b.snapshot(2), () => {
    b.setCurrentKey(0);
    v.update((v.value() ?? 0) + 1);
  });
  const r = backend(storage);
  await r.restore([h]);
  r.setCurrentKey(0);
  assert.equal(r.valueState<number>("v").value(), 100);
  for (let k = 1; k < 50; k++) {
    r.setCurrentKey(k);
    assert.equal(r.valueState<number>("v").value(), k + 1, `key ${k}`);
  }
});

test("a changelog after a mass delete sorts and writes its tombstones a step's budget at a time, and a restore has every key deleted", async () => {
  const storage = new MemoryStorage();
  const b = backend(storage);
  const v = b.valueState<number>("v");
  for (let k = 0; k < 2000; k++) {
    b.setCurrentKey(k);
    v.update(k);
  }
  await finish(b.snapshot(1), () => {});
  for (let k = 0; k < 2000; k++) {
    b.setCurrentKey(k);
    v.clear();
  }
  const snap = b.snapshot(2);
  let steps = 0;
  for (;;) {
    steps++;
    let done = snap.step(10);
    if (done instanceof Promise) done = await done;
    if (done) break;
  }
  const h = snap.result() as IncrementalKeyedState;
  snap.release();
  // Sorting the deleted keys and writing them into the changelog take 200 steps of 10 each.
  assert.ok(steps >= 2 * (2000 / 10), `2000 tombstones in ${steps} steps of 10`);
  const r = backend(storage);
  await r.restore([h]);
  for (let k = 0; k < 2000; k += 7) {
    r.setCurrentKey(k);
    assert.equal(r.valueState<number>("v").value(), undefined, `key ${k}`);
  }
});

test("a key group's tombstones take expired keys in the hundreds of thousands (appended without a spread, which overflows the stack)", () => {
  const scan = new TombstoneScan(new Set([0]), (k) => k, 1);
  assert.ok(scan.step(10, undefined) >= 0, "one key scanned in full");
  const expired = Array.from({ length: 1_000_000 }, (_, i) => i + 1);
  const groups = scan.groups(new Map([[0, expired]]));
  assert.equal(groups.length, 1);
  assert.equal(groups[0][1].length, 1_000_001);
  assert.equal(groups[0][1][1_000_000], 1_000_000);
});
