import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DirtyCapture } from "../../state/sqlite_capture.ts";
import { CacheEntry } from "../../state/sqlite_cache_entry.ts";
import { stateCodec } from "../../state/sqlite_forms.ts";
import type { StateCodec } from "../../state/sqlite_forms.ts";
import { FORMAT_VERSION, decode } from "../../codec/cbor.ts";
import { PendingWrites } from "../../state/sqlite_pending_writes.ts";
import { WriteBatch } from "../../state/sqlite_write_batch.ts";
import { RowBytes } from "../../state/sqlite_row_bytes.ts";
import { WeirError } from "../../errors.ts";

const plain: StateCodec = { toStored: (v) => v, fromStored: (v) => v };
// State 1 is a map state: its in-memory Map is stored as the list of its entries.
const codecs = new Map<number, StateCodec>([[0, plain], [1, stateCodec("m", "map", false)]]);

/** A capture of `entries`, taken as the cache takes them at a snapshot point. */
function captureOf(entries: CacheEntry[]): DirtyCapture {
  const c = new DirtyCapture(codecs);
  for (const e of entries) c.take(e);
  return c;
}

function entry(key: string, mem: unknown, sid = 0): CacheEntry {
  const e = new CacheEntry(sid, key, 7, undefined, mem, 0);
  e.dirty = true;
  return e;
}

/** The value captured at `i` as the snapshot writes it: decoded bytes, the stored form, or "tombstone". */
function valueAt(c: DirtyCapture, i: number): unknown {
  const { bytes, stored } = c.value(i);
  if (bytes !== undefined) return decode(bytes);
  return stored === undefined ? "tombstone" : stored;
}

describe("DirtyCapture", () => {
  test("an object value changed in place after preserve() keeps its value of the snapshot point", () => {
    const list = entry("l", [1, 2]);
    const map = entry("m", new Map([["a", ["a", 1]]]), 1);
    const c = captureOf([list, map]);
    assert.equal(list.capture, c);
    assert.equal(map.captureAt, 1);
    // What the store does before handing a value out: preserve, then the reader changes it.
    list.capture?.preserve(list);
    map.capture?.preserve(map);
    assert.equal(list.capture, undefined, "preserve() unties the key");
    (list.mem as number[]).push(3);
    (map.mem as Map<string, unknown>).set("b", ["b", 2]);
    (map.mem as Map<string, unknown>).delete("a");
    assert.ok(c.value(0).bytes !== undefined, "an object is encoded at preserve()");
    assert.deepEqual(valueAt(c, 0), [1, 2]);
    assert.deepEqual(valueAt(c, 1), [["a", 1]]);
    c.release();
  });

  test("a value not used again is kept by reference and read at value(i) in its stored form", () => {
    const map = entry("m", new Map([["a", ["a", 1]]]), 1);
    const c = captureOf([map]);
    const v = c.value(0);
    assert.equal(v.bytes, undefined, "nothing was encoded early");
    assert.deepEqual(v.stored, [["a", 1]]);
    assert.equal(v.entry, map);
    assert.equal(map.capture, undefined, "value(i) unties the key");
    c.release();
  });

  test("a primitive replaced after the capture keeps the old value", () => {
    const n = entry("n", 41);
    const s = entry("s", "before");
    const c = captureOf([n, s]);
    // The store preserves before it replaces a value.
    n.capture?.preserve(n);
    n.mem = 42;
    s.capture?.preserve(s);
    s.mem = "after";
    assert.equal(c.value(0).bytes, undefined, "a primitive is not encoded early");
    assert.equal(valueAt(c, 0), 41);
    assert.equal(valueAt(c, 1), "before");
    c.release();
  });

  test("a deleted key (undefined) reads back as a tombstone, also after preserve()", () => {
    const gone = entry("gone", undefined);
    const later = entry("later", undefined);
    const c = captureOf([gone, later]);
    later.capture?.preserve(later);
    later.mem = [1]; // set again after the snapshot point
    for (const i of [0, 1]) {
      const v = c.value(i);
      assert.equal(v.bytes, undefined);
      assert.equal(v.stored, undefined);
    }
    c.release();
  });

  test("a value that cannot be encoded does not throw at preserve() but at value(i), with value_not_persistable", () => {
    const bad = entry("bad", { f: () => 1 });
    const good = entry("good", [1]);
    const c = captureOf([bad, good]);
    assert.doesNotThrow(() => bad.capture?.preserve(bad));
    good.capture?.preserve(good);
    assert.throws(() => c.value(0), (e: unknown) => e instanceof WeirError && e.code === "value_not_persistable");
    assert.deepEqual(valueAt(c, 1), [1], "the other keys are unaffected");
    c.release();
  });

  test("a bare function, kept by reference like a primitive, fails as the snapshot encodes it, with value_not_persistable", () => {
    const fn = entry("fn", () => 1);
    const c = captureOf([fn]);
    assert.doesNotThrow(() => fn.capture?.preserve(fn));
    const { bytes, stored } = c.value(0);
    assert.equal(bytes, undefined);
    assert.equal(typeof stored, "function");
    // What the snapshot does with a stored form (sqlite_native.ts #writeCaptured).
    assert.throws(() => new RowBytes().value(stored), (e: unknown) => e instanceof WeirError && e.code === "value_not_persistable");
    c.release();
  });

  test("release() unties every key still tied to the capture, and no other capture's", () => {
    const a = entry("a", [1]);
    const b = entry("b", [2]);
    const c = captureOf([a, b]);
    const other = captureOf([entry("x", 1)]);
    // b is captured again by a later capture (which the cache preserves for the earlier one first).
    b.capture?.preserve(b);
    const later = captureOf([b]);
    c.release();
    assert.equal(a.capture, undefined);
    assert.equal(b.capture, later, "a key tied to a later capture stays tied to it");
    assert.deepEqual(valueAt(later, 0), [2]);
    assert.equal(other.size, 1);
    other.release();
    later.release();
  });

  test("letGoBefore() unpins the keys read so far, each once: a key let go of cannot be read again, and release() unpins only the rest", () => {
    const keys = ["a", "b", "c", "d"].map((k, i) => entry(k, i));
    const c = captureOf(keys);
    assert.deepEqual(keys.map((e) => e.pins), [1, 1, 1, 1]);
    assert.equal(valueAt(c, 0), 0);
    assert.equal(valueAt(c, 1), 1);
    c.letGoBefore(2);
    assert.deepEqual(keys.map((e) => e.pins), [0, 0, 1, 1]);
    assert.throws(() => c.value(1), (e) => e instanceof WeirError && e.code === "invariant_broken");
    c.letGoBefore(1);
    c.letGoBefore(2);
    assert.deepEqual(keys.map((e) => e.pins), [0, 0, 1, 1], "a second call lets go of nothing again");
    assert.equal(valueAt(c, 2), 2);
    c.release();
    assert.deepEqual(keys.map((e) => e.pins), [0, 0, 0, 0]);
    assert.ok(keys.every((e) => e.capture === undefined));
  });

  test("without a sink, letGoBefore() lets go of a list of written-back keys once every key of it was read, and those keys cannot be read again", () => {
    /** A committed list of written-back keys whose values are the bytes 10 + i. */
    const written = (names: string[]) => {
      const batch = new WriteBatch(1);
      names.forEach((_n, i) => batch.put(0, 0, Uint8Array.of(i), null, Uint8Array.of(FORMAT_VERSION, 10 + i)));
      const writes = new PendingWrites();
      writes.add(names.map((n) => new CacheEntry(0, n, 0, undefined, undefined, 0)), batch.bytes());
      return writes;
    };
    const first = written(["p0", "p1"]);
    const second = written(["q0"]);
    const live = entry("k", 5);
    const c = new DirtyCapture(codecs);
    c.takePending(first, 2);
    c.takePending(second, 1);
    c.take(live);
    c.beginPass([], 0, 0, -1);
    // Committed by the writer while the capture holds them.
    first.drop();
    second.drop();
    assert.ok(!first.reusable && !second.reusable, "held by the capture");
    assert.deepEqual([0, 1, 2, 3].map((i) => valueAt(c, i)), [10, 11, 10, 5]);
    c.letGoBefore(1);
    assert.equal(first.reusable, false, "p1 is still to be read");
    c.letGoBefore(2);
    assert.ok(first.reusable && !second.reusable);
    assert.throws(() => c.value(1), (e) => e instanceof WeirError && e.code === "invariant_broken");
    assert.equal(valueAt(c, 2), 10, "the next list is read from its own start");
    c.letGoBefore(4);
    assert.ok(second.reusable);
    assert.equal(live.pins, 0);
    c.release();
    assert.equal(live.pins, 0, "release() unpins nothing twice");
  });
});
