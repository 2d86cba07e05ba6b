/**
 * The heap table's restore path (state/heap_table.ts): restored entries take slots at once
 * and go into the key index a key group at a time, on the first lookup of that group.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { WeirError } from "../../errors.ts";
import { StateTable } from "../../state/heap_table.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { keyGroupOf } from "../../state/key_group.ts";
import type { KeyedTableSnapshot } from "../../state/keyed_state.ts";

const MAX = 8;

/** A table holding keys 0..n-1 (value k * 10), restored in bulk under their key groups. */
function restored(n: number): StateTable {
  const t = new StateTable("n", { current: 1, collecting: 0 }, () => {}, (v) => structuredClone(v), (k) => keyGroupOf(k, MAX));
  for (let g = 0; g < MAX; g++) {
    const from = t.slotCount;
    for (let k = 0; k < n; k++) {
      if (keyGroupOf(k, MAX) !== g) continue;
      t.keys.push(k);
      t.values.push(k * 10);
    }
    t.loaded(g, from);
  }
  return t;
}

describe("StateTable restore", () => {
  test("loaded() entries answer get/has/set/delete before their keys are indexed; a key group is indexed on its first lookup", () => {
    const t = restored(100);
    assert.equal(t.size, 100);
    assert.equal(t.pending, 100);
    assert.equal(t.get(7), 70);
    const inGroup = Array.from({ length: 100 }, (_, k) => k).filter((k) => keyGroupOf(k, MAX) === keyGroupOf(7, MAX)).length;
    assert.equal(t.pending, 100 - inGroup);
    assert.equal(t.size, 100);
    assert.equal(t.has(8), true);
    assert.equal(t.has(1000), false);
    t.set(9, 1);
    assert.equal(t.get(9), 1);
    assert.equal(t.delete(10), true);
    assert.equal(t.has(10), false);
    assert.equal(t.size, 99);
    // A new key whose group is pending: the group goes in first, so the key is not added twice.
    t.set(11, 2);
    t.set(100, 3);
    assert.equal(t.size, 100);
    t.indexAll();
    assert.equal(t.pending, 0);
    assert.equal(t.size, 100);
    for (let k = 0; k < 100; k++) if (k !== 10) assert.equal(t.get(k), k === 9 ? 1 : k === 11 ? 2 : k * 10);
    assert.equal(t.get(100), 3);
  });

  test("slotFor() of a pending key finds its slot; without a groupOf, a miss indexes every group", () => {
    const t = restored(50);
    const s = t.slotFor(3);
    assert.equal(t.values[s], 30);
    const u = new StateTable("u", { current: 1, collecting: 0 }, () => {}, (v) => v);
    const from = u.slotCount;
    u.keys.push("a", "b");
    u.values.push(1, 2);
    u.loaded(0, from);
    assert.equal(u.get("zzz"), undefined);
    assert.equal(u.pending, 0);
    assert.equal(u.get("b"), 2);
  });

  test("a key restored twice is refused (checkpoint_corrupt) on the first lookup of its key group", () => {
    const b = new HeapKeyedStateBackend({ maxParallelism: MAX, range: { start: 0, end: MAX - 1 } });
    const g = keyGroupOf("k", MAX);
    const tables: Record<string, KeyedTableSnapshot> = { n: { kind: "value", groups: [[g, [["k", 1], ["k", 2]]]] } };
    b.restore([{ format: "canonical", tables }]);
    b.setCurrentKey("k");
    assert.throws(() => b.valueState<number>("n").value(), (e) => e instanceof WeirError && e.code === "checkpoint_corrupt" && /"n"/.test(e.message) && /twice/.test(e.message));
  });

  test("a snapshot of a restored backend nobody touched holds every entry, object keys in their original form", () => {
    const b = new HeapKeyedStateBackend({ maxParallelism: MAX, range: { start: 0, end: MAX - 1 } });
    for (const k of [1, "é", { id: 2 }, [3, "x"]]) {
      b.setCurrentKey(k);
      b.valueState<unknown>("v").update({ k });
    }
    const snap = b.snapshot(1);
    snap.step(Infinity);
    const first = snap.result();
    snap.release();
    const r = new HeapKeyedStateBackend({ maxParallelism: MAX, range: { start: 0, end: MAX - 1 } });
    r.restore([first]);
    const again = r.snapshot(2);
    again.step(Infinity);
    assert.deepEqual(again.result(), first);
    again.release();
    r.setCurrentKey({ id: 2 });
    assert.deepEqual(r.valueState("v").value(), { k: { id: 2 } });
  });
});
