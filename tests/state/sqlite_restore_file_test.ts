import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { canonicalRecords } from "../../state/sqlite_restore_file.ts";
import { KvRecords, varintLength } from "../../state/sqlite_records.ts";
import { keyBytes } from "../../state/sqlite_keys.ts";
import { decode, encode } from "../../codec/cbor.ts";
import { compareBytes } from "../../state/sqlite_canonical.ts";
import type { KeyedTableSnapshot } from "../../state/keyed_state.ts";
import { keyGroupOf } from "../../state/key_group.ts";
import { readOperatorSnapshot } from "../../checkpoint/operator_snapshot_read.ts";
import { encodedSource } from "../../state/encoded_tables.ts";

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

  /** Tables over 8 key groups: `sorted` puts each group's keys in byte order, as a sqlite savepoint does. */
  function tablesOf(keys: unknown[], sorted: boolean): Record<string, KeyedTableSnapshot> {
    const value = new Map<number, [unknown, unknown][]>();
    const ttl = new Map<number, [unknown, unknown][]>();
    keys.forEach((k, i) => {
      const g = keyGroupOf(k, 8);
      if (!value.has(g)) value.set(g, []);
      value.get(g)!.push([k, i % 3 === 0 ? { n: i, s: `v${i}` } : i % 3 === 1 ? i * 1.25 : `é${i}`]);
      if (i % 5 === 0) {
        if (!ttl.has(g)) ttl.set(g, []);
        ttl.get(g)!.push([k, [1000 + i, i]]);
      }
    });
    const order = (m: Map<number, [unknown, unknown][]>) => [...m].map(([g, e]) => [g, sorted ? e.sort((a, b) => compareBytes(keyBytes(a[0]), keyBytes(b[0]))) : e] as [number, [unknown, unknown][]]);
    return { v: { kind: "value", groups: order(value) }, t: { kind: "value", ttl: true, groups: order(ttl) } };
  }

  function backend8(): SqliteKeyedStateBackend {
    return new SqliteKeyedStateBackend({ maxParallelism: 8, range: { start: 0, end: 7 }, incremental: false, uid: "t", subtaskIndex: 0, jobId: "t" }, { driver: sqliteDriver });
  }

  function rows(b: SqliteKeyedStateBackend): string {
    return JSON.stringify(b.store.db.prepare("SELECT kg, s, k, ok, v FROM kv ORDER BY kg, s, k").all().map((r) => [r.kg, r.s, [...(r.k as Uint8Array)], r.ok === null ? null : [...(r.ok as Uint8Array)], [...(r.v as Uint8Array)]]));
  }

  for (const [name, keys, sorted] of [
    ["ASCII keys in byte order (a sqlite savepoint's)", Array.from({ length: 3000 }, (_, i) => `key-${i}`), true],
    ["ASCII keys in insertion order (a heap savepoint's)", Array.from({ length: 3000 }, (_, i) => `key-${i}`), false],
    ["string keys, some not ASCII, in byte order", Array.from({ length: 600 }, (_, i) => (i % 7 === 0 ? `ü${i}` : i % 11 === 0 ? `\u{10000}${i}` : `k${i}`)), true],
    ["keys of every kind", Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? `k${i}` : i % 3 === 1 ? i : { id: i })), false],
  ] as [string, unknown[], boolean][]) {
    test(`a restore from a state file's bytes, key groups left encoded, writes the rows decoded tables give: ${name}`, () => {
      const bytes = encode({ keyed: tablesOf(keys, sorted) });
      const decoded = backend8();
      decoded.restore([{ format: "canonical", tables: tablesOf(keys, sorted) }]);
      const lazyTables = readOperatorSnapshot(bytes, "a test state file").keyed!;
      const lazy = backend8();
      lazy.restore([{ format: "canonical", tables: lazyTables }]);
      assert.equal(integrity(lazy), "ok");
      assert.equal(rows(lazy), rows(decoded));
      if (sorted && keys.every((k) => typeof k === "string" && [...k].every((c) => c.charCodeAt(0) < 0x80))) {
        assert.ok(encodedSource(lazyTables.v) !== undefined, "the value table's groups were copied as bytes, never decoded");
      }
      const state = lazy.valueState<unknown>("v");
      keys.forEach((k, i) => {
        if (i % 37 !== 0) return;
        lazy.setCurrentKey(k);
        assert.deepEqual(state.value(), i % 3 === 0 ? { n: i, s: `v${i}` } : i % 3 === 1 ? i * 1.25 : `é${i}`, `key ${String(k)}`);
      });
      decoded.dispose();
      lazy.dispose();
    });
  }

  test("a restore from a state file's bytes with a key held twice in an encoded group falls back to rows and keeps the last value", () => {
    const table: KeyedTableSnapshot = { kind: "value", groups: [[keyGroupOf("a", 8), [["a", 1], ["a", 2]]]] };
    const b = backend8();
    b.restore([{ format: "canonical", tables: readOperatorSnapshot(encode({ keyed: { v: table } }), "twice").keyed! }]);
    b.setCurrentKey("a");
    assert.equal(b.valueState<number>("v").value(), 2);
    b.dispose();
  });

  test("a restore from a state file whose encoded keys are odd agrees with decode(): a byte-string key, a key of bad UTF-8", () => {
    for (const change of ["bytes", "utf8"]) {
      const bytes = encode({ keyed: { v: { kind: "value", groups: [[keyGroupOf("abc", 8), [["abc", 1]]]] } } });
      const at = bytes.indexOf(0x63, bytes.length - 8);
      assert.ok(at > 0 && bytes[at + 1] === 0x61);
      // The key's head, a text string of 3 (0x63), becomes a byte string of 3; or its first byte an invalid UTF-8 byte.
      if (change === "bytes") bytes[at] = 0x43;
      else bytes[at + 1] = 0xff;
      const outcome = (tables: () => Record<string, KeyedTableSnapshot>) => {
        const b = backend8();
        try {
          b.restore([{ format: "canonical", tables: tables() }]);
          assert.equal(integrity(b), "ok");
          return rows(b);
        } catch (e) {
          assert.equal((e as Error).name, "WeirError");
          return `WeirError ${(e as { code?: string }).code}`;
        } finally {
          b.dispose();
        }
      };
      assert.equal(outcome(() => readOperatorSnapshot(bytes, "odd key").keyed!), outcome(() => (decode(bytes) as { keyed: Record<string, KeyedTableSnapshot> }).keyed), change);
    }
  });
});
