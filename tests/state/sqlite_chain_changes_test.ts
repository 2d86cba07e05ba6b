import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { WeirError } from "../../errors.ts";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { ChainChanges, type SortedChanges } from "../../state/sqlite_chain_changes.ts";
import { CHANGE_KEY_OFFSET } from "../../state/sqlite_key_sort.ts";
import { ChangelogWriter } from "../../state/sqlite_changelog.ts";
import { SimPrng } from "../../sim/prng.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-chain-changes-"));
let files = 0;

/** A record to write: a put of `v` (a number, as one byte) or a tombstone (`v` undefined). */
type Rec = [kg: number, s: number, k: number[], v?: number];

/** A changelog file's bytes holding `records` in order. */
function logOf(records: Rec[]): { bytes: Uint8Array; what: string } {
  const path = join(directory, `${++files}.log`);
  const w = new ChangelogWriter(sqliteDriver, path);
  for (const [kg, s, k, v] of records) {
    if (v === undefined) w.remove(kg, s, Uint8Array.from(k));
    else w.put(kg, s, Uint8Array.from(k), v % 2 === 0 ? null : Uint8Array.of(0xaa, v & 0xff), Uint8Array.of(v & 0xff, v >> 8));
  }
  w.finish();
  const bytes = sqliteDriver.readFile(path);
  sqliteDriver.removeFiles(path);
  return { bytes, what: path };
}

/** The sorted changes as [kg, s, key bytes, value (undefined: tombstone)], in their order. */
function listOf(c: SortedChanges): Rec[] {
  const out: Rec[] = [];
  const view = new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength);
  for (let j = 0; j < c.count; j++) {
    const at = c.at[j];
    const k = [...c.bytes.subarray(at + CHANGE_KEY_OFFSET, at + CHANGE_KEY_OFFSET + c.keyLength[j])];
    let v: number | undefined;
    if (c.bytes[at] === 1) {
      const okAt = at + CHANGE_KEY_OFFSET + c.keyLength[j];
      const ok = view.getUint32(okAt, true);
      const vAt = okAt + 4 + (ok === 0xffffffff ? 0 : ok);
      v = c.bytes[vAt + 4] | (c.bytes[vAt + 5] << 8);
    }
    out.push([c.keyGroup[j], c.stateId[j], k, v]);
  }
  return out;
}

/** The same rows in SQLite's own primary-key order (BLOB keys: memcmp, then length). */
function sqliteOrder(rows: Rec[]): Rec[] {
  const db = sqliteDriver.open(":memory:");
  db.exec("CREATE TABLE kv (kg INTEGER NOT NULL, s INTEGER NOT NULL, k BLOB NOT NULL, v INTEGER, PRIMARY KEY (kg, s, k)) WITHOUT ROWID");
  const insert = db.prepare("INSERT INTO kv VALUES (?, ?, ?, ?)");
  for (const [kg, s, k, v] of rows) insert.run(kg, s, Uint8Array.from(k), v ?? null);
  const out = db.prepare("SELECT kg, s, k, v FROM kv ORDER BY kg, s, k").all().map((r): Rec => [r.kg as number, r.s as number, [...(r.k as Uint8Array)], (r.v as number | null) ?? undefined]);
  db.close();
  return out;
}

describe("ChainChanges", () => {
  test("lastInKeyOrder() keeps the last record of a key across files: a later tombstone deletes, a later put revives", () => {
    const c = new ChainChanges({ start: 0, end: 7 }, new Map([[0, 0]]));
    c.add(logOf([[1, 0, [5], 1], [1, 0, [6], 2], [1, 0, [7], 3]]));
    c.add(logOf([[1, 0, [5]], [1, 0, [6]], [1, 0, [6], 4]]));
    c.add(logOf([[1, 0, [5], 5], [1, 0, [7]]]));
    assert.deepEqual(listOf(c.lastInKeyOrder()), [[1, 0, [5], 5], [1, 0, [6], 4], [1, 0, [7], undefined]]);
  });

  test("lastInKeyOrder() drops records of key groups outside the range and of unknown states, and maps state ids", () => {
    const c = new ChainChanges({ start: 2, end: 3 }, new Map([[7, 0], [3, 1]]));
    c.add(logOf([[1, 7, [1], 1], [2, 7, [1], 2], [3, 3, [1], 3], [4, 3, [1], 4], [2, 9, [1], 5], [3, 7, [2], 6]]));
    assert.deepEqual(listOf(c.lastInKeyOrder()), [[2, 0, [1], 2], [3, 0, [2], 6], [3, 1, [1], 3]]);
  });

  test("lastInKeyOrder() orders keys as SQLite orders BLOBs: byte by byte, a prefix first, bytes above 0x7f after", () => {
    const c = new ChainChanges({ start: 0, end: 3 }, new Map([[0, 0], [1, 1]]));
    const keys = [[], [0], [0, 0], [1], [0xff], [0x80, 1], [0x7f, 0xff, 0xff], [1, 0], [1, 0, 0]];
    const recs: Rec[] = keys.map((k, i) => [i % 2, 0, k, i]);
    c.add(logOf(recs.slice().reverse()));
    assert.deepEqual(listOf(c.lastInKeyOrder()), sqliteOrder(recs));
  });

  test("lastInKeyOrder() orders a group of keys that tie on the four bytes after their shared prefix as SQLite does: zero bytes against a key's end, longer keys, bytes above 0x7f", () => {
    const c = new ChainChanges({ start: 0, end: 3 }, new Map([[0, 0]]));
    // One group of over 24 keys sharing [0x73, 0x6b]: sorted by the next four bytes, then the ties.
    const tails = [[], [0], [0, 0], [0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [1], [1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 2], [0xff, 0xff, 0xff, 0xff], [0xff, 0xff, 0xff, 0xff, 0], [0x80], [0x80, 0, 0, 1, 9, 9], [0x80, 0, 0, 1, 9], [0x7f, 0xff], [2, 2, 2, 2, 2, 2, 2], [2, 2, 2, 2, 2, 2], [2, 2, 2, 2, 1], [2, 2, 2, 2, 3], [2, 2, 2, 1], [2, 2, 2, 3], [3, 0, 0, 0, 0, 0, 0], [3, 0, 0], [3], [4, 5, 6, 7, 8]];
    const recs: Rec[] = tails.map((t, i) => [1, 0, [0x73, 0x6b, ...t], i]);
    // Each key twice, the later record last: in reverse, then again in order.
    c.add(logOf(recs.slice().reverse().map(([kg, s, k]): Rec => [kg, s, k, 999])));
    c.add(logOf(recs));
    assert.deepEqual(listOf(c.lastInKeyOrder()), sqliteOrder(recs));
  });

  for (const [name, range, sids, hinted] of [
    ["a few states", { start: 0, end: 15 }, [0, 1, 2], false],
    ["a few states, the files' size told up front", { start: 0, end: 15 }, [0, 1, 2], true],
    // More (key group, state) pairs than records: the groups are numbered from the pairs present.
    ["state ids far apart over many key groups", { start: 0, end: 32767 }, [0, 5000, 70000], false],
  ] as const) {
    test(`lastInKeyOrder() sorts and dedupes random keys across files as SQLite does (${name})`, () => {
      const prng = new SimPrng(4242);
      const logs: ReturnType<typeof logOf>[] = [];
      const latest = new Map<string, Rec>();
      for (let f = 0; f < 5; f++) {
        const recs: Rec[] = [];
        for (let i = 0; i < 3000; i++) {
          // Long shared prefixes and short keys both, so that every depth of the radix sort and its insertion sort run.
          const len = prng.range(0, 12);
          const k = Array.from({ length: len }, (_, x) => (x < 4 && prng.chance(0.8) ? 0x73 : prng.range(0, 3) * 0x7f));
          const kg = range.end === 15 ? prng.range(0, 3) : prng.range(0, 40) * 800;
          const s = prng.pick(sids);
          const rec: Rec = [kg, s, k, prng.chance(0.2) ? undefined : f * 10000 + i];
          recs.push(rec);
          latest.set(`${kg}/${s}/${k.join(",")}`, rec);
        }
        logs.push(logOf(recs));
      }
      const c = new ChainChanges(range, new Map(sids.map((s) => [s, s])), hinted ? logs.reduce((n, l) => n + l.bytes.length, 0) : 0);
      for (const log of logs) c.add(log);
      const got = listOf(c.lastInKeyOrder());
      assert.equal(got.length, latest.size);
      assert.deepEqual(got, sqliteOrder([...latest.values()]));
    });
  }

  test("the changes are taken once: their arrays become the result's", () => {
    const c = new ChainChanges({ start: 0, end: 7 }, new Map([[0, 0]]));
    c.add(logOf([[1, 0, [5], 1]]));
    c.lastInKeyOrder();
    assert.throws(() => c.lastInKeyOrder(), /already taken/);
    assert.throws(() => c.add(logOf([[1, 0, [6], 1]])), /already taken/);
  });

  test("add() refuses a damaged file with checkpoint_corrupt", () => {
    const c = new ChainChanges({ start: 0, end: 7 }, new Map([[0, 0]]));
    const { bytes } = logOf([[1, 0, [5], 1]]);
    assert.throws(() => c.add({ bytes: bytes.subarray(0, bytes.length - 1), what: "cut.log" }), (e: unknown) => e instanceof WeirError && e.code === "checkpoint_corrupt" && /cut\.log/.test(e.message));
  });
});
