/** HeapSnapshot: entries encoded as they are collected (encodeAsCollected), with writes racing the snapshot. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { WeirError } from "../../errors.ts";
import type { KeyedStateSnapshot } from "../../state/backend.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { encodedEntries } from "./heap_steps.ts";

/** Two keyed tables (value, map) over 300 keys. */
function filled(): HeapKeyedStateBackend {
  const b = new HeapKeyedStateBackend({ maxParallelism: 16, range: { start: 0, end: 15 } });
  const count = b.valueState<{ n: number }>("count");
  const seen = b.mapState<string, number>("seen");
  for (let k = 0; k < 300; k++) {
    b.setCurrentKey(`k${k}`);
    count.update({ n: k });
    seen.put("a", k);
  }
  return b;
}

/** Steps with a small budget; between steps, updates in place, deletes and new keys. */
function race(b: HeapKeyedStateBackend, snap: KeyedStateSnapshot): void {
  const count = b.valueState<{ n: number }>("count");
  const seen = b.mapState<string, number>("seen");
  let k = 0;
  while (!snap.step(7)) {
    for (const key of [`k${k}`, `k${299 - k}`]) {
      b.setCurrentKey(key);
      const v = count.value();
      if (v) v.n = -1; // in place: the snapshot must keep the old object's content
      seen.put("a", -1);
    }
    b.setCurrentKey(`k${(k * 7) % 300}`);
    count.clear();
    b.setCurrentKey(`new${k}`);
    count.update({ n: -2 });
    k++;
  }
}


describe("HeapSnapshot.encodeAsCollected", () => {
  test("encodes the state at the snapshot point, whatever writes race the steps, as the collected tables hold it", () => {
    const encoding = filled();
    const snap = encoding.snapshot(1);
    assert.equal(snap.encodeAsCollected?.("the state of operator \"t\""), true);
    race(encoding, snap);
    const encoded = snap.encodedTables!()!;
    snap.release();

    const collecting = filled();
    const plain = collecting.snapshot(1);
    race(collecting, plain);
    assert.equal(plain.encodedTables?.(), undefined, "not asked: the tables are collected as values");
    const result = plain.result();
    plain.release();
    assert.equal(result.format, "canonical");
    if (result.format !== "canonical") return;

    for (const name of ["count", "seen"]) {
      assert.equal(encoded[name].kind, result.tables[name].kind);
      const pairs: [unknown, unknown][] = result.tables[name].groups.flatMap((g) => g[1]);
      const expected = new Map<unknown, unknown>(pairs);
      assert.deepEqual(encodedEntries(encoded[name]), expected, name);
      assert.equal(expected.size, 300);
    }
    const count = encodedEntries(encoded.count);
    for (let k = 0; k < 300; k++) assert.deepEqual(count.get(`k${k}`), { n: k });
  });

  test("is refused once a step ran: the snapshot collects tables then", () => {
    const b = filled();
    const snap = b.snapshot(1);
    snap.step(1);
    assert.equal(snap.encodeAsCollected?.("x"), false);
    while (!snap.step(100));
    assert.equal(snap.encodedTables?.(), undefined);
    assert.equal(snap.result().format, "canonical");
    snap.release();
  });

  test("a value that cannot be kept, handed over by a write, fails the snapshot's next step naming the state, not the write", () => {
    const b = new HeapKeyedStateBackend({ maxParallelism: 4, range: { start: 0, end: 3 }, uid: "op" });
    const s = b.valueState<unknown>("bad");
    b.setCurrentKey("k");
    s.update({ f: () => 1 });
    const snap = b.snapshot(1);
    assert.equal(snap.encodeAsCollected?.("the state of operator \"op\""), true);
    s.update(2);
    assert.equal(s.value(), 2);
    assert.throws(() => snap.step(100), (e: unknown) => e instanceof WeirError && e.code === "value_not_persistable" && /"bad"/.test(e.message) && /"op"/.test(e.message));
    snap.release();
  });
});
