import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { canonicalRecords } from "../../state/sqlite_restore_file.ts";
import { KvRecords, varintLength } from "../../state/sqlite_records.ts";
import { keyBytes } from "../../state/sqlite_keys.ts";
import { encode } from "../../codec/cbor.ts";
import { compareBytes } from "../../state/sqlite_canonical.ts";
import type { KeyedTableSnapshot } from "../../state/keyed_state.ts";

/** One key group (0) holds every key. */
function backend(): SqliteKeyedStateBackend {
  return new SqliteKeyedStateBackend({ maxParallelism: 1, range: { start: 0, end: 0 }, incremental: false, uid: "t", subtaskIndex: 0, jobId: "t" }, { driver: sqliteDriver });
}

function integrity(b: SqliteKeyedStateBackend): string {
  return b.store.db.prepare("PRAGMA integrity_check").all().map((r) => String(Object.values(r)[0])).join("; ");
}

/** The keys of the kv rows of key group `kg` in the file's order. */
function fileKeys(b: SqliteKeyedStateBackend, kg: number): Uint8Array[] {
  return b.store.db.prepare("SELECT k FROM kv WHERE kg = ? ORDER BY kg, s, k").all(kg).map((r) => new Uint8Array(r.k as Uint8Array));
}

describe(`sqlite_restore_file (${sqliteDriver.name})`, () => {
  test("KvRecords keeps each record behind its size as a varint: a page's cells are one run of bytes", () => {
    const r = new KvRecords({ records: 1, bytes: 16 });
    r.add(3, 0, Uint8Array.of(0x73, 0x61), null, Uint8Array.of(1, 7));
    r.add(3, 0, Uint8Array.of(0x73, 0x62), null, new Uint8Array(300).fill(9));
    assert.equal(r.addAscii(3, 0, "sc", 5), r.add(3, 0, keyBytes("sc"), null, encode(5)));
    assert.deepEqual(r.bytes.subarray(r.start(2), r.end(2)), r.bytes.subarray(r.start(3), r.end(3)));
    assert.equal(r.count, 4);
    for (let i = 0; i < r.count; i++) {
      const size = r.size(i);
      assert.equal(r.end(i) - r.start(i), varintLength(size) + size, `cell ${i}`);
      assert.equal(r.start(i), i === 0 ? 0 : r.end(i - 1));
      // The cell begins with the record's size: one byte below 128, two from 128 on.
      const head = r.bytes[r.start(i)];
      assert.equal(size < 128 ? head : ((head & 0x7f) << 7) | r.bytes[r.start(i) + 1], size);
    }
    assert.ok(r.size(1) > 300, "a record with a two-byte size varint");
  });

  test("KvRecords.addAscii() adds nothing for a key that is not ASCII, and truncate() drops records", () => {
    const r = new KvRecords();
    r.addAscii(1, 0, "a", 1);
    const end = r.end(0);
    assert.equal(r.addAscii(1, 0, "bé", 2), -2);
    assert.equal(r.addAscii(1, 0, "b", { x: 1 }), -1);
    assert.equal(r.count, 1);
    r.addAscii(1, 0, "c", 3);
    assert.equal(r.start(1), end);
    r.truncate(1);
    assert.equal(r.count, 1);
    r.addAscii(1, 0, "d", 4);
    assert.equal(r.start(1), end);
    assert.throws(() => r.truncate(3), { name: "WeirError", code: "invariant_broken" });
  });

  test("canonicalRecords() puts string keys in byte order when one of them is not ASCII (UTF-16 order differs)", () => {
    // "\uffff" sorts before "\u{10000}" as UTF-16 (0xFFFF > 0xD800 is false the other way round)
    // but after it as UTF-8 bytes (EF BF BF < F0 90 80 80): such a group must be sorted by bytes.
    const keys = ["m", "a", "\u{10000}", "z", "\uffff", "é", "b"];
    const table: KeyedTableSnapshot = { kind: "value", groups: [[0, keys.map((k, i) => [k, i] as [unknown, unknown])]] };
    const r = canonicalRecords([{ name: "n", table, sid: 0 }], { start: 0, end: 0 }, 1000);
    assert.ok(r !== undefined);
    assert.equal(r.count, keys.length);
    const b = backend();
    b.restore([{ format: "canonical", tables: { n: table } }]);
    assert.equal(integrity(b), "ok");
    const expected = keys.map((k) => keyBytes(k)).sort(compareBytes);
    assert.deepEqual(fileKeys(b, 0), expected);
    const state = b.valueState<number>("n");
    keys.forEach((k, i) => {
      b.setCurrentKey(k);
      assert.equal(state.value(), i, `key ${JSON.stringify(k)}`);
    });
    b.dispose();
  });

  test("a restore of ASCII string keys with values of every kind, unsorted, gives back each value", () => {
    const values: unknown[] = [1, -7, 2.5, "x", "é", true, null, { a: [1, 2] }, 2 ** 40, new Uint8Array([1, 2])];
    const entries: [unknown, unknown][] = [];
    for (let i = 0; i < 400; i++) entries.push([`k${(i * 37) % 400}`, values[i % values.length]]);
    const table: KeyedTableSnapshot = { kind: "value", groups: [[0, entries]] };
    const b = backend();
    b.restore([{ format: "canonical", tables: { n: table } }]);
    assert.equal(integrity(b), "ok");
    const keys = fileKeys(b, 0);
    assert.equal(keys.length, 400);
    for (let i = 1; i < keys.length; i++) assert.ok(compareBytes(keys[i - 1], keys[i]) < 0);
    const state = b.valueState<unknown>("n");
    for (const [k, v] of entries) {
      b.setCurrentKey(k);
      assert.deepEqual(state.value(), v, `key ${String(k)}`);
    }
    b.dispose();
  });

  test("canonicalRecords() refuses a key group that holds a key twice, sorted or not", () => {
    for (const entries of [[["a", 1], ["a", 2]], [["b", 1], ["a", 1], ["b", 2]]] as [unknown, unknown][][]) {
      const table: KeyedTableSnapshot = { kind: "value", groups: [[1, entries]] };
      assert.equal(canonicalRecords([{ name: "n", table, sid: 0 }], { start: 0, end: 7 }, 1000), undefined);
    }
  });
});
